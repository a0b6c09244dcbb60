"""Linear-time pattern matching for policy authors: RE2 regexes and shell-style globs.

Why RE2 and not ``re``: policy patterns run against attacker-controlled tool arguments. A
backtracking engine lets a pattern like ``(a+)+$`` take exponential time on a crafted input, which
turns a security proxy into a denial-of-service lever. RE2 matches in time linear in the input by
construction and simply refuses the features that need backtracking (backreferences, lookaround),
so a policy that loads is a policy that cannot hang. Those refusals surface as ``ValueError`` so the
loader can point at the offending line of ``policy.yaml``.

Semantics chosen for security rather than familiarity:

* ``Regex.fullmatch`` is the default way a rule uses a regex: a pattern describes the *whole* value,
  so an allow pattern ``[a-z]+`` cannot be satisfied by ``"ok; rm -rf /"`` through a partial match.
  ``Regex.search`` is there for rules that explicitly ask for "contains".
* ``.`` matches newline (RE2's ``dot_nl``). Otherwise a deny pattern ``.*rm -rf.*`` is bypassed by
  putting a newline in front of the payload. Authors who really want the old meaning write ``(?-s)``.
  RE2's ``$`` only matches at the very end of the text (never before a final newline).
* Matching is code point for code point on the exact string: no case folding, no Unicode
  normalisation. A Cyrillic ``а`` is not a Latin ``a`` and ``"secret\\x00.txt"`` is not
  ``"secret"``; a pattern author who wants case-insensitivity writes ``(?i)`` explicitly.
* Text containing lone surrogates (``"\\ud800"``) is not Unicode text and cannot be handed to RE2,
  which works on UTF-8. Such text *never matches* any pattern: ``fullmatch``/``search``/``match``
  return ``False`` instead of crashing. That is the safe answer for allow rules; for deny rules it
  would fail open, so the decision layer must reject arguments for which ``is_scalar_text`` is false
  before evaluating rules (orjson already refuses lone surrogates when parsing JSON off the wire, so
  in practice they only appear through programmatic callers).

Globs are translated to RE2 rather than matched with ``fnmatch`` so they inherit the same linear-time
guarantee and the same exact, case-sensitive comparison on every platform (``fnmatch.fnmatch``
folds case on Windows). ``*`` deliberately crosses ``/``: a glob is a pattern over strings, not a
path walker; containment of paths is the job of ``lilith.policy.paths``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import re2  # type: ignore[import-untyped]

from lilith.policy.globs import encode_text as _encode
from lilith.policy.globs import is_glob, is_scalar_text, translate_glob

__all__ = ["Glob", "Regex", "compile_glob", "compile_regex", "is_glob", "is_scalar_text"]


def _options() -> Any:
    options = re2.Options()
    options.dot_nl = True  # '.' matches '\n' so deny patterns cannot be dodged with a newline
    options.never_capture = True  # we only answer yes/no; skips submatch bookkeeping
    options.log_errors = False  # RE2 would otherwise write parse errors to stderr itself
    options.case_sensitive = True
    return options


def _compile(source: str, what: str, shown: str) -> Any:
    if _encode(source) is None:
        raise ValueError(f"{what} {shown!r} contains a lone surrogate and is not valid Unicode text")
    try:
        return re2.compile(source, _options())
    except re2.error as exc:
        detail = exc.args[0] if exc.args else exc
        if isinstance(detail, bytes):
            detail = detail.decode("utf-8", "replace")
        raise ValueError(f"{what} {shown!r} is not a valid RE2 pattern: {detail}") from None


@dataclass(frozen=True, slots=True, eq=False)
class Regex:
    """A compiled RE2 pattern. ``pattern`` is what the policy author wrote."""

    pattern: str
    _compiled: Any

    def fullmatch(self, text: str) -> bool:
        """True when the whole of ``text`` matches. Text with lone surrogates never matches."""
        data = _encode(text)
        return data is not None and self._compiled.fullmatch(data) is not None

    def search(self, text: str) -> bool:
        """True when some substring of ``text`` matches. Text with lone surrogates never matches."""
        data = _encode(text)
        return data is not None and self._compiled.search(data) is not None

    def __repr__(self) -> str:
        return f"Regex({self.pattern!r})"


def compile_regex(pattern: str) -> Regex:
    """Compile an RE2 pattern; ``ValueError`` if RE2 rejects it (backreferences, lookaround, ...)."""
    return Regex(pattern, _compile(pattern, "regex", pattern))


@dataclass(frozen=True, slots=True, eq=False)
class Glob:
    """A compiled glob. ``pattern`` is the glob as written, ``regex`` its RE2 translation."""

    pattern: str
    regex: str
    _compiled: Any

    def match(self, text: str) -> bool:
        """True when the whole of ``text`` matches the glob. Text with lone surrogates never matches."""
        data = _encode(text)
        return data is not None and self._compiled.fullmatch(data) is not None

    def __repr__(self) -> str:
        return f"Glob({self.pattern!r})"


def compile_glob(pattern: str) -> Glob:
    """Compile a glob: ``*`` any run (including ``/``), ``?`` one code point, ``[abc]``, ``[a-z]``,
    ``[!x]`` (``]`` first in a class is literal), ``\\`` escapes the next character. Whole-string,
    case-sensitive, no normalisation. ``ValueError`` on an unclosed ``[``, dangling ``\\`` or an
    empty range such as ``[z-a]``.
    """
    source = translate_glob(pattern)
    return Glob(pattern, source, _compile(source, "glob", pattern))
