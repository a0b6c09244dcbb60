"""``static_rules``: tool name or glob -> ALLOW | DENY. Unlisted is denied; DENY beats ALLOW.

Names are compared code point for code point: no case folding and no Unicode normalisation, so a
homoglyph or a case variant never matches a rule it does not spell, and so stays denied.
"""

from __future__ import annotations

import fnmatch
import re
from typing import NamedTuple

from lilith.policy.decision import Decision

ALLOW = "ALLOW"
DENY = "DENY"
_GLOB_CHARS = frozenset("*?[")


def is_glob(pattern: str) -> bool:
    return not _GLOB_CHARS.isdisjoint(pattern)


class GlobRule(NamedTuple):
    pattern: str
    verdict: str
    regex: re.Pattern[str]


_CACHE_LIMIT = 4096


class StaticRules:
    __slots__ = ("_memo", "exact", "globs")

    def __init__(self, exact: dict[str, str], globs: tuple[GlobRule, ...]) -> None:
        self.exact = exact
        self.globs = globs
        # Decisions are pure functions of the name, so they are memoised (bounded: names come from peers).
        self._memo: dict[str, Decision] = {}

    @classmethod
    def compile(cls, rules: dict[str, str]) -> StaticRules:
        exact: dict[str, str] = {}
        globs: list[GlobRule] = []
        for pattern, verdict in rules.items():
            if is_glob(pattern):
                globs.append(GlobRule(pattern, verdict, re.compile(fnmatch.translate(pattern), re.DOTALL)))
            else:
                exact[pattern] = verdict
        return cls(exact, tuple(globs))

    def decide(self, tool: str) -> Decision:
        decision = self._memo.get(tool)
        if decision is None:
            decision = self._decide(tool)
            if len(self._memo) < _CACHE_LIMIT:
                self._memo[tool] = decision
        return decision

    def _decide(self, tool: str) -> Decision:
        allowed_by: str | None = None
        verdict = self.exact.get(tool)
        if verdict == DENY:
            return Decision(False, f"static_rules.{tool}", f"tool '{tool}' is denied by policy")
        if verdict == ALLOW:
            allowed_by = tool
        for glob in self.globs:
            if glob.regex.fullmatch(tool) is None:
                continue
            if glob.verdict == DENY:
                return Decision(
                    False, f"static_rules.{glob.pattern}", f"tool '{tool}' is denied by pattern '{glob.pattern}'"
                )
            if allowed_by is None:
                allowed_by = glob.pattern
        if allowed_by is not None:
            return Decision(True, f"static_rules.{allowed_by}", "allowed by policy")
        return Decision(False, "default-deny", f"tool '{tool}' is not allowed by any rule")
