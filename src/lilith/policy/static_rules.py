"""``static_rules``: tool name or glob -> ALLOW | DENY. Unlisted is denied; DENY beats ALLOW.

Names are compared code point for code point: no case folding and no Unicode normalisation, so a
homoglyph or a case variant never matches a rule it does not spell, and so stays denied. Globs are the
same dialect as everywhere else in a policy (``lilith.policy.names``: ``* ? [..]`` and ``\\`` escapes),
compiled on first use so that loading a policy does not load RE2.
"""

from __future__ import annotations

from lilith.policy.decision import Decision
from lilith.policy.names import NameMatcher

ALLOW = "ALLOW"
DENY = "DENY"
_CACHE_LIMIT = 4096


class StaticRules:
    __slots__ = ("_memo", "exact", "globs")

    def __init__(self, exact: dict[str, str], globs: tuple[tuple[NameMatcher, str], ...]) -> None:
        self.exact = exact
        self.globs = globs
        # Decisions are pure functions of the name, so they are memoised (bounded: names come from peers).
        self._memo: dict[str, Decision] = {}

    @classmethod
    def compile(cls, rules: dict[str, str]) -> StaticRules:
        """``rules`` maps names already validated with ``lilith.policy.names.parse_name`` to verdicts."""
        exact: dict[str, str] = {}
        globs: list[tuple[NameMatcher, str]] = []
        for pattern, verdict in rules.items():
            matcher = NameMatcher(pattern)
            if matcher.is_glob:
                globs.append((matcher, verdict))
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
        for matcher, glob_verdict in self.globs:
            if not matcher.matches(tool):
                continue
            if glob_verdict == DENY:
                return Decision(
                    False, f"static_rules.{matcher.text}", f"tool '{tool}' is denied by pattern '{matcher.text}'"
                )
            if allowed_by is None:
                allowed_by = matcher.text
        if allowed_by is not None:
            return Decision(True, f"static_rules.{allowed_by}", "allowed by policy")
        return Decision(False, "default-deny", f"tool '{tool}' is not allowed by any rule")
