"""Glob syntax without a regex engine: validation and translation to RE2 source, in plain Python.

Kept apart from ``patterns`` (which imports RE2) so that a policy can be validated, and the server
started, before RE2 is loaded: names in rules are checked here at load time and compiled on first use.

Globs: ``*`` any run (including ``/``), ``?`` one code point, ``[abc]``, ``[a-z]``, ``[!x]`` (``]`` first
in a class is literal), ``\\`` escapes the next character. Whole-string, case-sensitive, no normalisation.
"""

from __future__ import annotations

_GLOB_SPECIAL = frozenset("*?[\\")


def encode_text(text: str) -> bytes | None:
    """UTF-8 bytes for RE2, or None when the text holds lone surrogates (not Unicode text)."""
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        return None


def is_scalar_text(text: str) -> bool:
    """True when ``text`` is a sequence of Unicode scalar values (no lone surrogates), i.e. matchable."""
    return encode_text(text) is not None


def is_glob(text: str) -> bool:
    """True when ``text`` as a glob means something other than "equals ``text``".

    That is: ``text`` contains ``*``, ``?``, ``[`` or a ``\\`` escape. A policy value for which this
    is false can be compared with plain string equality.
    """
    return any(ch in _GLOB_SPECIAL for ch in text)


def _lit(ch: str) -> str:
    """One code point as an RE2 atom that means exactly that code point, inside or outside a class."""
    if ch.isascii() and ch.isalnum():
        return ch
    return f"\\x{{{ord(ch):X}}}"


def _escaped(pattern: str, i: int) -> str:
    if i + 1 >= len(pattern):
        raise ValueError(f"glob {pattern!r}: dangling '\\' at end of pattern")
    return pattern[i + 1]


def _translate_class(pattern: str, start: int) -> tuple[str, int]:
    """Translate the bracket expression whose ``[`` is at ``start``; return (RE2 class, index after ``]``)."""
    i = start + 1
    n = len(pattern)
    negate = i < n and pattern[i] == "!"
    if negate:
        i += 1
    items: list[tuple[str, str]] = []  # (low, high) code point ranges
    first = True
    while True:
        if i >= n:
            raise ValueError(f"glob {pattern!r}: unclosed '[' at position {start}")
        ch = pattern[i]
        if ch == "]" and not first:
            i += 1
            break
        first = False
        if ch == "\\":
            ch = _escaped(pattern, i)
            i += 2
        else:
            i += 1
        low = ch
        if i + 1 < n and pattern[i] == "-" and pattern[i + 1] != "]":
            high = pattern[i + 1]
            if high == "\\":
                high = _escaped(pattern, i + 1)
                i += 3
            else:
                i += 2
            if ord(high) < ord(low):
                raise ValueError(f"glob {pattern!r}: empty character range {low!r}-{high!r}")
            items.append((low, high))
        else:
            items.append((low, low))
    body = "".join(_lit(lo) if lo == hi else f"{_lit(lo)}-{_lit(hi)}" for lo, hi in items)
    return ("[^" if negate else "[") + body + "]", i


def translate_glob(pattern: str) -> str:
    """The RE2 source (for a full match) of ``pattern``; ``ValueError`` on an unclosed ``[``, a dangling
    ``\\``, an empty range such as ``[z-a]`` or a lone surrogate."""
    if not is_scalar_text(pattern):
        raise ValueError(f"glob {pattern!r} contains a lone surrogate and is not valid Unicode text")
    out: list[str] = []
    i = 0
    n = len(pattern)
    while i < n:
        ch = pattern[i]
        if ch == "*":
            while i < n and pattern[i] == "*":  # '**' means the same as '*'; keep the regex small
                i += 1
            out.append(".*")
            continue
        if ch == "?":
            out.append(".")
        elif ch == "[":
            cls, i = _translate_class(pattern, i)
            out.append(cls)
            continue
        elif ch == "\\":
            out.append(_lit(_escaped(pattern, i)))
            i += 1
        else:
            out.append(_lit(ch))
        i += 1
    return "".join(out)


def literal_glob(text: str) -> str:
    """A glob that matches exactly ``text`` (every special character escaped)."""
    return "".join(f"\\{ch}" if ch in _GLOB_SPECIAL else ch for ch in text)
