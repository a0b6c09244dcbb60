"""Names in rules (tools, prompts, URIs): an exact string, or a glob when it has glob characters.

One matcher for every section (static_rules, rate_limits, taint_rules, tool_classes, resource and prompt
rules), so ``"git_*"`` means the same everywhere, with one validation and a ``file:line:col`` error.

Two ways to match, because a rule that *allows* must fail closed the other way from one that *restricts*:

* ``matches``: code point for code point, wildcards standing for anything. Rules that restrict or deny
  (DENY, BLOCK, argument rules, rate limits, taint rules, tool classes) and URIs use it, so a deny glob
  ``git_*`` still covers ``git_push`` followed by a zero-width space.
* ``matches_for_allow``: for rules that allow a tool or prompt name (static ALLOW, prompt ALLOW). A glob's
  wildcards then stand only for the characters the MCP specification (2025-11-25, "Tool names") allows in
  tool names, ASCII letters, digits, ``_``, ``-`` and ``.``, and the name may be at most 128 code points. So
  ``read_*`` does not allow ``read_file\u200b`` or ``rеad_file`` (Cyrillic ``е``); only an exact rule
  spelling that very name (or a glob writing those characters out) can allow it.

A glob is validated when the policy loads but compiled (with RE2, linear time) on its first use: loading
RE2 costs a few milliseconds, and Lilith starts the server as soon as the policy is known to be valid, so
that cost overlaps the server's own start-up instead of delaying it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lilith.policy.globs import is_glob, is_scalar_text, translate_glob
from lilith.policy.yaml_source import Path, YamlDocument

if TYPE_CHECKING:
    from lilith.policy.patterns import Glob, Regex

# MCP 2025-11-25 and 2026-07-28, server/tools "Tool names": the characters and the length a name SHOULD have.
TOOL_NAME_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-.")
MAX_TOOL_NAME_LENGTH = 128


def is_spec_tool_name(name: str) -> bool:
    """True when ``name`` keeps to the MCP tool-name guidance (1-128 of ``A-Za-z0-9_-.``)."""
    return 0 < len(name) <= MAX_TOOL_NAME_LENGTH and TOOL_NAME_CHARS.issuperset(name)


class NameMatcher:
    """``text`` as written; ``is_glob`` tells whether it is compared as a glob or for equality."""

    __slots__ = ("_allow_regex", "_glob", "is_glob", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self.is_glob = is_glob(text)
        self._glob: Glob | None = None
        self._allow_regex: Regex | None = None

    def matches(self, name: str) -> bool:
        if not self.is_glob:
            return name == self.text
        glob = self._glob
        if glob is None:
            from lilith.policy.patterns import compile_glob

            glob = self._glob = compile_glob(self.text)
        return glob.match(name)

    def matches_for_allow(self, name: str) -> bool:
        """Does this pattern, in a rule that allows, cover ``name``? Equality for an exact name; for a glob,
        wildcards match only ``TOOL_NAME_CHARS``, and an empty name or one longer than ``MAX_TOOL_NAME_LENGTH``
        never matches."""
        if not self.is_glob:
            return name == self.text
        if not 0 < len(name) <= MAX_TOOL_NAME_LENGTH:
            return False
        regex = self._allow_regex
        if regex is None:
            from lilith.policy.patterns import compile_regex

            regex = self._allow_regex = compile_regex(translate_glob(self.text, wildcards=TOOL_NAME_CHARS))
        return regex.fullmatch(name)

    def __repr__(self) -> str:
        return f"NameMatcher({self.text!r})"


def parse_name(text: str) -> NameMatcher:
    """A matcher for ``text``; ``ValueError`` when it is not a valid name or glob."""
    if not text or not is_scalar_text(text) or "\x00" in text:
        raise ValueError("must be a non-empty name or glob without NUL")
    matcher = NameMatcher(text)
    if matcher.is_glob:
        translate_glob(text)  # validates the syntax; compiling waits for the first match
    return matcher


def compile_name(doc: YamlDocument, path: Path, value: Any, what: str) -> NameMatcher:
    """Validate ``value`` (at ``path``) as a name or glob; ``what`` names it in the error."""
    if not isinstance(value, str) or not value or not is_scalar_text(value) or "\x00" in value:
        raise doc.error(path, f"{what} must be a non-empty name or glob")
    try:
        return parse_name(value)
    except ValueError as exc:
        raise doc.error(path, str(exc)) from None
