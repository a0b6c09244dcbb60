"""Custom redaction patterns from configuration, compiled once, safely.

These patterns are not ours, so they must not be able to backtrack catastrophically: they are compiled with
RE2 (``google-re2``, linear time by construction) when it is importable; without RE2 they are compiled with
``re`` only if they have no quantified group that itself contains a quantifier or an alternation (the shape
behind catastrophic backtracking), and refused otherwise.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from typing import Any, Protocol

from lilith.errors import ConfigError

_KIND_RE = re.compile(r"[a-z][a-z0-9_]{0,31}", re.ASCII)  # a kind must fit in a tag (``TAG_RE``)


class CompiledPattern(Protocol):
    """What we use of a compiled pattern; both ``re.Pattern[str]`` and RE2's ``_Regexp`` provide it."""

    def sub(self, repl: Callable[[Any], str], string: str) -> str: ...


def has_nested_quantifier(pattern: str) -> bool:
    """True if a group that repeats (``*``, ``+``, ``{n,}``, ``{n,m}`` with m > 1) contains a quantifier or ``|``.

    Conservative and purely lexical: escapes and character classes are skipped, ``(?`` group prefixes are not
    quantifiers. Used only when RE2 is unavailable.
    """
    stack: list[bool] = []  # per open group: does it contain a quantifier or an alternation?
    i, n = 0, len(pattern)
    last_group_risky = False  # the atom just closed was a risky group
    while i < n:
        c = pattern[i]
        if c == "\\":
            i += 2
            last_group_risky = False
            continue
        if c == "[":
            i += 1
            if i < n and pattern[i] == "^":
                i += 1
            if i < n and pattern[i] == "]":
                i += 1
            while i < n and pattern[i] != "]":
                i += 2 if pattern[i] == "\\" else 1
            i += 1
            last_group_risky = False
            continue
        if c == "(":
            stack.append(False)
            i += 1
            if i < n and pattern[i] == "?":  # (?:, (?P<name>, (?=, (?i) ... : not a quantifier
                i += 1
            last_group_risky = False
            continue
        if c == ")":
            inner = stack.pop() if stack else False
            if stack and inner:
                stack[-1] = True
            last_group_risky = inner
            i += 1
            continue
        if c in "*+?{":
            repeats = c in "*+"
            if c == "{":
                m = re.match(r"\{(\d*)(,?)(\d*)\}", pattern[i:])
                if m is None:  # a literal brace
                    i += 1
                    last_group_risky = False
                    continue
                repeats = (bool(m.group(2)) and (not m.group(3) or int(m.group(3)) > 1)) or int(m.group(1) or 0) > 1
                i += len(m.group(0))
            else:
                i += 1
            if repeats and last_group_risky:
                return True
            if stack:
                stack[-1] = True
            if i < n and pattern[i] in "?+":  # lazy / possessive modifier
                i += 1
            last_group_risky = False
            continue
        if c == "|" and stack:
            stack[-1] = True
        last_group_risky = False
        i += 1
    return False


def compile_custom(kind: str, pattern: str) -> CompiledPattern:
    if not isinstance(kind, str) or _KIND_RE.fullmatch(kind) is None:
        raise ConfigError(f"redaction pattern kind {kind!r}: use lower-case letters, digits and _ (at most 32)")
    if not pattern:
        raise ConfigError(f"redaction pattern {kind!r} is empty")
    try:
        re2: Any = importlib.import_module("re2")
    except ImportError:
        re2 = None
    if re2 is not None:
        options = re2.Options()
        options.log_errors = False
        try:
            compiled: CompiledPattern = re2.compile(pattern, options)
        except Exception as exc:  # re2 raises its own error type
            raise ConfigError(f"redaction pattern {kind!r} is not valid RE2 syntax: {exc}") from None
        return compiled
    if has_nested_quantifier(pattern):
        raise ConfigError(
            f"redaction pattern {kind!r} repeats a group that itself repeats or alternates; "
            "this can backtrack catastrophically (install google-re2 to use it)"
        )
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise ConfigError(f"redaction pattern {kind!r} is not a valid regular expression: {exc}") from None
