"""``static_rules``: tool name or glob -> ALLOW | DENY. Unlisted is denied; DENY beats ALLOW.

Names are compared code point for code point: no case folding and no Unicode normalisation, so a
homoglyph or a case variant never matches a rule it does not spell. Globs are the same dialect as
everywhere else in a policy (``lilith.policy.names``: ``* ? [..]`` and ``\\`` escapes), compiled on first
use so that loading a policy does not load RE2. Two defences against look-alike names on top:

* an ALLOW glob's wildcards stand only for the MCP tool-name characters (``NameMatcher.matches_for_allow``),
  so ``read_*`` never allows ``read_file\\u200b``: only an exact rule spelling such a name allows it;
* a name that only a glob allows is denied (rule ``static_rules.confusable``) when it is a look-alike of a
  name that a DENY rule, or another restricting section, names (``lilith.policy.lookalikes``): under
  ``"*": ALLOW``, ``DELETE_FILE`` does not slip past ``delete_file: DENY``.
"""

from __future__ import annotations

from collections.abc import Iterable

from lilith.policy.decision import Decision
from lilith.policy.lookalikes import LookalikeGuard, Protected
from lilith.policy.names import NameMatcher, is_spec_tool_name

ALLOW = "ALLOW"
DENY = "DENY"
CONFUSABLE_RULE = "static_rules.confusable"
_CACHE_LIMIT = 4096
_CACHE_NAME_MAX = 256  # longer names (no spec name is over 128) are decided afresh: the memo would keep them


class StaticRules:
    __slots__ = ("_lookalikes", "_memo", "exact", "globs")

    def __init__(
        self,
        exact: dict[str, str],
        globs: tuple[tuple[NameMatcher, str], ...],
        lookalikes: LookalikeGuard | None = None,
    ) -> None:
        self.exact = exact
        self.globs = globs
        self._lookalikes = lookalikes
        # Decisions are pure functions of the name, so they are memoised (bounded in entries and in each
        # name's length: names come from peers); a name's skeleton is computed once while it stays in the memo.
        self._memo: dict[str, Decision] = {}

    @classmethod
    def compile(cls, rules: dict[str, str], protected: Iterable[Protected] = ()) -> StaticRules:
        """``rules`` maps names already validated with ``lilith.policy.names.parse_name`` to verdicts;
        ``protected`` are the names other restricting sections name, which look-alikes must not escape."""
        exact: dict[str, str] = {}
        globs: list[tuple[NameMatcher, str]] = []
        for pattern, verdict in rules.items():
            matcher = NameMatcher(pattern)
            if matcher.is_glob:
                globs.append((matcher, verdict))
            else:
                exact[pattern] = verdict
        denied = [Protected(pattern, "denied by static_rules") for pattern, verdict in rules.items() if verdict == DENY]
        guard = LookalikeGuard([*denied, *protected])
        return cls(exact, tuple(globs), guard if guard else None)

    def decide(self, tool: str) -> Decision:
        decision = self._memo.get(tool)
        if decision is None:
            decision = self._decide(tool)
            if len(self._memo) < _CACHE_LIMIT and len(tool) <= _CACHE_NAME_MAX:
                self._memo[tool] = decision
        return decision

    def _decide(self, tool: str) -> Decision:
        verdict = self.exact.get(tool)
        if verdict == DENY:
            return Decision(False, f"static_rules.{tool}", f"tool '{tool}' is denied by policy")
        allowed_by = tool if verdict == ALLOW else None
        for matcher, glob_verdict in self.globs:
            if glob_verdict == DENY:
                if matcher.matches(tool):
                    reason = f"tool '{tool}' is denied by pattern '{matcher.text}'"
                    return Decision(False, f"static_rules.{matcher.text}", reason)
            elif allowed_by is None and matcher.matches_for_allow(tool):
                allowed_by = matcher.text
        if allowed_by is None:
            return Decision(False, "default-deny", f"tool '{tool}' is not allowed by any rule{self._hint(tool)}")
        if verdict != ALLOW and self._lookalikes is not None:  # an exact ALLOW of this spelling is not second-guessed
            imitated = self._lookalikes.imitated(tool)
            if imitated is not None:
                return Decision(False, CONFUSABLE_RULE, f"tool '{tool}' {imitated}")
        return Decision(True, f"static_rules.{allowed_by}", "allowed by policy")

    def _hint(self, tool: str) -> str:
        """Why an ALLOW glob that matches the name as written did not allow it, for the operator reading the log."""
        if is_spec_tool_name(tool) or not any(v == ALLOW and m.matches(tool) for m, v in self.globs):
            return ""
        return " (ALLOW globs cover only names of ASCII letters, digits, '_', '-' and '.', up to 128; an exact rule can allow it)"
