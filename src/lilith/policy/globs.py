"""Glob syntax without a regex engine: validation and translation to RE2 source, in plain Python.

Kept apart from ``patterns`` (which imports RE2) so that a policy can be validated, and the server
started, before RE2 is loaded: names in rules are checked here at load time and compiled on first use.

Globs: ``*`` any run (including ``/``), ``?`` one code point, ``[abc]``, ``[a-z]``, ``[!x]`` (``]`` first
in a class is literal), ``\\`` escapes the next character. Whole-string, case-sensitive, no normalisation.

A glob may also be translated with its wildcards confined to a set of characters (``wildcards=``): then
``*``, ``?`` and every bracket expression stand only for characters of that set, while characters written
literally still match themselves. Rules that *allow* tool and prompt names use this with the MCP tool-name
characters (``lilith.policy.names``), so ``read_*`` cannot match ``read_file`` followed by a zero-width space.
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


_NOTHING = "[^\\x{0}-\\x{10FFFF}]"  # an RE2 class no code point belongs to


def _ranges(chars: frozenset[str]) -> str:
    """An RE2 class body for exactly ``chars``, consecutive code points written as ranges."""
    codes = sorted(map(ord, chars))
    parts: list[str] = []
    i = 0
    while i < len(codes):
        j = i
        while j + 1 < len(codes) and codes[j + 1] == codes[j] + 1:
            j += 1
        low, high = chr(codes[i]), chr(codes[j])
        parts.append(_lit(low) if low == high else f"{_lit(low)}-{_lit(high)}")
        i = j + 1
    return "".join(parts)


def _confined(chars: frozenset[str]) -> str:
    return f"[{_ranges(chars)}]" if chars else _NOTHING


def _translate_class(pattern: str, start: int, wildcards: frozenset[str] | None = None) -> tuple[str, int]:
    """Translate the bracket expression whose ``[`` is at ``start``; return (RE2 class, index after ``]``).

    With ``wildcards``, the class is narrowed to the members of that set."""
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
    if wildcards is not None:
        members = frozenset(ch for ch in wildcards if any(lo <= ch <= hi for lo, hi in items) != negate)
        return _confined(members), i
    body = "".join(_lit(lo) if lo == hi else f"{_lit(lo)}-{_lit(hi)}" for lo, hi in items)
    return ("[^" if negate else "[") + body + "]", i


def translate_glob(pattern: str, *, wildcards: frozenset[str] | None = None) -> str:
    """The RE2 source (for a full match) of ``pattern``; ``ValueError`` on an unclosed ``[``, a dangling
    ``\\``, an empty range such as ``[z-a]`` or a lone surrogate. With ``wildcards``, ``*``, ``?`` and
    bracket expressions match only characters of that set (literal characters still match themselves)."""
    if not is_scalar_text(pattern):
        raise ValueError(f"glob {pattern!r} contains a lone surrogate and is not valid Unicode text")
    any_char = "." if wildcards is None else _confined(wildcards)
    out: list[str] = []
    i = 0
    n = len(pattern)
    while i < n:
        ch = pattern[i]
        if ch == "*":
            while i < n and pattern[i] == "*":  # '**' means the same as '*'; keep the regex small
                i += 1
            out.append(any_char + "*")
            continue
        if ch == "?":
            out.append(any_char)
        elif ch == "[":
            cls, i = _translate_class(pattern, i, wildcards)
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
