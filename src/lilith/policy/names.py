"""Names in rules (tools, prompts, URIs): an exact string, or a glob when it has glob characters.

One matcher for every section, so ``tool: "git_*"`` means the same in rate_limits, taint_rules,
tool_classes and resource/prompt rules, and one validation with a ``file:line:col`` error.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from lilith.policy.patterns import Glob, compile_glob, is_glob, is_scalar_text
from lilith.policy.yaml_source import Path, YamlDocument


class NameMatcher(NamedTuple):
    text: str
    glob: Glob | None

    def matches(self, name: str) -> bool:
        return self.glob.match(name) if self.glob is not None else name == self.text


def compile_name(doc: YamlDocument, path: Path, value: Any, what: str) -> NameMatcher:
    """Validate ``value`` (at ``path``) as a name or glob; ``what`` names it in the error."""
    if not isinstance(value, str) or not value or not is_scalar_text(value) or "\x00" in value:
        raise doc.error(path, f"{what} must be a non-empty name or glob")
    if not is_glob(value):
        return NameMatcher(value, None)
    try:
        return NameMatcher(value, compile_glob(value))
    except ValueError as exc:
        raise doc.error(path, str(exc)) from None
