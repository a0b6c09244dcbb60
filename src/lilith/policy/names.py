"""Names in rules (tools, prompts, URIs): an exact string, or a glob when it has glob characters.

One matcher for every section (static_rules, rate_limits, taint_rules, tool_classes, resource and prompt
rules), so ``"git_*"`` means the same everywhere, with one validation and a ``file:line:col`` error.

A glob is validated when the policy loads but compiled (with RE2, linear time) on its first use: loading
RE2 costs a few milliseconds, and Lilith starts the server as soon as the policy is known to be valid, so
that cost overlaps the server's own start-up instead of delaying it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lilith.policy.globs import is_glob, is_scalar_text, translate_glob
from lilith.policy.yaml_source import Path, YamlDocument

if TYPE_CHECKING:
    from lilith.policy.patterns import Glob


class NameMatcher:
    """``text`` as written; ``is_glob`` tells whether it is compared as a glob or for equality."""

    __slots__ = ("_glob", "is_glob", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self.is_glob = is_glob(text)
        self._glob: Glob | None = None

    def matches(self, name: str) -> bool:
        if not self.is_glob:
            return name == self.text
        glob = self._glob
        if glob is None:
            from lilith.policy.patterns import compile_glob

            glob = self._glob = compile_glob(self.text)
        return glob.match(name)

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
