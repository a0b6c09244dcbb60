"""``rate_limits``: at most ``max_calls`` tool calls per ``per_seconds``, per session.

.. code-block:: yaml

    rate_limits:
      - tool: "*"            # exact name or glob
        max_calls: 20
        per_seconds: 10
      - tool: send_email
        max_calls: 3
        per_seconds: 60
        per_tool: false      # true: count each matching tool separately (default: the rule's calls together)

Sliding windows over a monotonic clock that the caller passes in (no clock in here). Only calls that
every rule allows are counted, so a call refused by one rule does not use up another rule's budget, and
a call the policy denied never reaches this check at all. State is per session (a stdio session is the
connection) and survives a policy reload for rules whose id stays the same.
"""

from __future__ import annotations

from collections import deque
from typing import Any, NamedTuple

from lilith.policy.decision import Decision
from lilith.policy.names import NameMatcher, compile_name
from lilith.policy.yaml_source import Path, YamlDocument

_KEYS = frozenset({"tool", "max_calls", "per_seconds", "per_tool", "id", "description"})
MAX_WINDOWS = 4096  # distinct (rule, tool) windows per session; beyond this, calls are refused


class RateRule(NamedTuple):
    rule_id: str
    tool: str
    max_calls: int
    per_seconds: float
    per_tool: bool
    matcher: NameMatcher

    def applies_to(self, tool: str) -> bool:
        return self.matcher.matches(tool)


def compile_rate_limits(doc: YamlDocument, path: Path, value: Any) -> tuple[RateRule, ...]:
    if not isinstance(value, list):
        raise doc.error(path, "rate_limits must be a list of rules")
    rules: list[RateRule] = []
    for index, item in enumerate(value):
        where = (*path, index)
        if not isinstance(item, dict):
            raise doc.error(where, "a rate limit must be a mapping with tool, max_calls and per_seconds")
        for key in item:
            if key not in _KEYS:
                raise doc.error((*where, str(key)), f"unknown key '{key}' in a rate limit ({', '.join(sorted(_KEYS))})")
        matcher = compile_name(doc, (*where, "tool") if "tool" in item else where, item.get("tool"), "tool")
        max_calls = item.get("max_calls")
        if not isinstance(max_calls, int) or isinstance(max_calls, bool) or max_calls < 1:
            raise doc.error(
                (*where, "max_calls") if "max_calls" in item else where, "max_calls must be a whole number ≥ 1"
            )
        per_seconds = item.get("per_seconds")
        if not isinstance(per_seconds, int | float) or isinstance(per_seconds, bool) or not 0 < per_seconds <= 86_400:
            raise doc.error(
                (*where, "per_seconds") if "per_seconds" in item else where,
                "per_seconds must be a number in (0, 86400]",
            )
        per_tool = item.get("per_tool", False)
        if not isinstance(per_tool, bool):
            raise doc.error((*where, "per_tool"), "per_tool must be true or false")
        rule_id = item.get("id", f"rate_limits[{index}]")
        if not isinstance(rule_id, str) or not rule_id:
            raise doc.error((*where, "id"), "id must be a non-empty string")
        if any(rule.rule_id == rule_id for rule in rules):
            raise doc.error((*where, "id"), f"duplicate rule id {rule_id!r}")
        rules.append(RateRule(rule_id, matcher.text, max_calls, float(per_seconds), per_tool, matcher))
    return tuple(rules)


_LEGACY_KEYS = {
    "max_calls_per_minute": "max_calls_per_minute",
    "maxCallsPerMinute": "max_calls_per_minute",
    "max_calls_per_session": "max_calls_per_session",
    "maxCallsPerSession": "max_calls_per_session",
}


def compile_session_rate_limit(doc: YamlDocument, path: Path, value: Any) -> tuple[RateRule, ...]:
    """lilith-zero's ``rate_limit: {max_calls_per_minute, max_calls_per_session}`` (all tool calls of the
    session together), as rules of ``rate_limits``: a 60-second window and a window as long as the session."""
    if not isinstance(value, dict) or not value:
        raise doc.error(path, "rate_limit must be a mapping with max_calls_per_minute and/or max_calls_per_session")
    rules: list[RateRule] = []
    for key, limit in value.items():
        name = _LEGACY_KEYS.get(key)
        if name is None:
            raise doc.error((*path, str(key)), f"unknown key '{key}' in rate_limit ({', '.join(sorted(_LEGACY_KEYS))})")
        if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
            raise doc.error((*path, key), f"{key} must be a whole number ≥ 1")
        if any(rule.rule_id == f"rate_limit.{name}" for rule in rules):
            raise doc.error((*path, key), f"{name} is given twice")
        matcher = compile_name(doc, (*path, key), "*", "tool")
        window = 60.0 if name == "max_calls_per_minute" else float("inf")
        rules.append(RateRule(f"rate_limit.{name}", "*", limit, window, False, matcher))
    return tuple(rules)


class RateWindows:
    """One session's sliding windows."""

    def __init__(self) -> None:
        self._windows: dict[tuple[str, str | None], deque[float]] = {}

    def admit(self, rules: tuple[RateRule, ...], tool: str, now: float) -> Decision | None:
        """None if the call is within every matching limit (and it is then counted); else the denial."""
        decision, windows = self.check(rules, tool, now)
        if decision is None:
            count(windows, now)
        return decision

    def check(self, rules: tuple[RateRule, ...], tool: str, now: float) -> tuple[Decision | None, list[deque[float]]]:
        """The denial, if a limit is reached; else None and the windows to count the call in once it is
        really forwarded (``count``): a call something later refuses must not use up the budget."""
        matching = [rule for rule in rules if rule.applies_to(tool)]
        if not matching:
            return None, []
        windows: list[deque[float]] = []
        for rule in matching:
            key = (rule.rule_id, tool if rule.per_tool else None)
            window = self._windows.get(key)
            if window is None:
                if len(self._windows) >= MAX_WINDOWS:
                    return Decision(False, rule.rule_id, "too many distinct rate-limit windows in this session"), []
                window = self._windows[key] = deque()
            horizon = now - rule.per_seconds
            while window and window[0] <= horizon:
                window.popleft()
            if len(window) >= rule.max_calls:
                scope = f"'{tool}'" if rule.per_tool else f"'{rule.tool}'"
                if rule.per_seconds == float("inf"):
                    return Decision(
                        False, rule.rule_id, f"session limit of {rule.max_calls} calls for {scope} reached"
                    ), []
                retry = max(0.0, window[0] + rule.per_seconds - now)
                reason = f"rate limit of {rule.max_calls} calls per {rule.per_seconds:g} s for {scope} reached; "
                return Decision(False, rule.rule_id, reason + f"retry in {retry:.1f} s"), []
            windows.append(window)
        return None, windows


def count(windows: list[deque[float]], now: float) -> None:
    """Count a forwarded call in the windows ``RateWindows.check`` returned for it."""
    for window in windows:
        window.append(now)
