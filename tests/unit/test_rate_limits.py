from __future__ import annotations

import pytest

from lilith.errors import PolicyError
from lilith.policy.loader import parse_policy
from lilith.policy.rate_limits import RateRule, RateWindows


def _rules(text: str) -> tuple[RateRule, ...]:
    return parse_policy("version: 1\n" + text, "p.yaml").rate_limits


def test_sliding_window_counts_only_admitted_calls() -> None:
    rules = _rules("rate_limits:\n  - tool: '*'\n    max_calls: 2\n    per_seconds: 10\n")
    windows = RateWindows()
    assert windows.admit(rules, "a", 0.0) is None
    assert windows.admit(rules, "b", 1.0) is None
    denied = windows.admit(rules, "a", 2.0)
    assert denied is not None
    assert denied.rule == "rate_limits[0]"
    assert "retry in 8.0 s" in denied.reason
    assert windows.admit(rules, "a", 9.9) is not None  # still inside the window; denials are not counted
    assert windows.admit(rules, "a", 10.0) is None  # the call at 0.0 has left the window
    assert windows.admit(rules, "a", 10.5) is not None


def test_per_tool_windows_are_separate() -> None:
    rules = _rules("rate_limits:\n  - tool: 'git_*'\n    max_calls: 1\n    per_seconds: 60\n    per_tool: true\n")
    windows = RateWindows()
    assert windows.admit(rules, "git_log", 0.0) is None
    assert windows.admit(rules, "git_diff", 0.0) is None
    assert windows.admit(rules, "git_log", 1.0) is not None
    assert windows.admit(rules, "other", 1.0) is None  # no rule applies


def test_a_call_refused_by_one_rule_does_not_spend_another_rules_budget() -> None:
    rules = _rules(
        "rate_limits:\n"
        "  - tool: '*'\n    max_calls: 3\n    per_seconds: 60\n"
        "  - id: mail\n    tool: send_email\n    max_calls: 1\n    per_seconds: 60\n"
    )
    windows = RateWindows()
    assert windows.admit(rules, "send_email", 0.0) is None
    refused = windows.admit(rules, "send_email", 1.0)
    assert refused is not None
    assert refused.rule == "mail"
    assert windows.admit(rules, "x", 2.0) is None
    assert windows.admit(rules, "y", 3.0) is None  # the refused mail did not use the '*' budget
    assert windows.admit(rules, "z", 4.0) is not None


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("rate_limits:\n  - tool: x\n    max_calls: 0\n    per_seconds: 1\n", "p.yaml:4:5"),
        ("rate_limits:\n  - tool: x\n    max_calls: 1\n    per_seconds: -1\n", "p.yaml:5:5"),
        ("rate_limits:\n  - tool: x\n    max_calls: 1\n    per_seconds: 1\n    burst: 3\n", "p.yaml:6:5"),
        ("rate_limits:\n  - max_calls: 1\n    per_seconds: 1\n", "p.yaml:3:5"),
        ("rate_limits:\n  - tool: '[x'\n    max_calls: 1\n    per_seconds: 1\n", "p.yaml:3:5"),
        ("rate_limits: 5\n", "p.yaml:2:1"),
    ],
)
def test_bad_rate_limits_name_their_place(text: str, where: str) -> None:
    with pytest.raises(PolicyError) as caught:
        parse_policy("version: 1\n" + text, "p.yaml")
    assert str(caught.value).startswith(where)
