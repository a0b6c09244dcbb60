from __future__ import annotations

import pytest

from lilith.errors import PolicyError
from lilith.policy.loader import parse_policy
from lilith.policy.taint import TaintPolicy

TRIFECTA = """
version: 1
tool_classes:
  send_email: [EXFILTRATION]
  "http_*": [EXFILTRATION]
taint_rules:
  - tool: read_file
    action: ADD_TAINT
    tag: ACCESS_PRIVATE
  - tool: fetch_url
    action: ADD_TAINT
    tag: UNTRUSTED_SOURCE
protect_lethal_trifecta: true
"""


def _taint(text: str) -> TaintPolicy:
    taint = parse_policy(text, "p.yaml").taint
    assert taint is not None
    return taint


def _run(taint: TaintPolicy, calls: list[str]) -> list[str]:
    """Call each tool in turn, applying effects of allowed calls; return the rule ids that denied (or 'ok')."""
    held: frozenset[str] = frozenset()
    outcomes = []
    for tool in calls:
        result = taint.evaluate(tool, held)
        if result.denial is None:
            held = (held - result.remove) | result.add
            outcomes.append("ok")
        else:
            outcomes.append(result.denial.rule)
    return outcomes


def test_lethal_trifecta_blocks_exfiltration_only_once_both_taints_are_held() -> None:
    taint = _taint(TRIFECTA)
    assert _run(taint, ["read_file", "send_email", "http_post"]) == ["ok", "ok", "ok"]
    assert _run(taint, ["fetch_url", "send_email"]) == ["ok", "ok"]
    assert _run(taint, ["read_file", "fetch_url", "send_email", "http_post", "read_file"]) == [
        "ok",
        "ok",
        "protect_lethal_trifecta",
        "protect_lethal_trifecta",
        "ok",
    ]


def test_forbidden_tags_means_any_and_required_taints_means_all() -> None:
    taint = _taint(
        """
version: 1
taint_rules:
  - tool: a
    action: ADD_TAINT
    tag: has-dash
  - tool: b
    action: ADD_TAINT
    tag: OTHER
  - tool: out
    action: CHECK_TAINT
    forbidden_tags: [has-dash, NEVER]
  - tool: need
    action: CHECK_TAINT
    required_taints: [has-dash, OTHER]
"""
    )
    assert _run(taint, ["out", "a", "out"]) == ["ok", "ok", "taint_rules[2]"]
    assert _run(taint, ["need", "a", "need", "b", "need"]) == [
        "taint_rules[3]",
        "ok",
        "taint_rules[3]",
        "ok",
        "ok",
    ]


def test_remove_taint_allow_short_circuit_and_block() -> None:
    taint = _taint(
        """
version: 1
tool_classes:
  scrub: [CLEANER]
taint_rules:
  - tool: read
    action: ADD_TAINT
    tag: SECRET
  - tool_class: CLEANER
    action: REMOVE_TAINT
    tag: SECRET
  - id: reviewed-send
    tool: send_reviewed
    action: ALLOW
  - tool: "send*"
    action: CHECK_TAINT
    forbidden_tags: [SECRET]
    error: no sending while secrets are in context
  - tool: rm
    action: BLOCK
"""
    )
    assert _run(taint, ["read", "send", "send_reviewed", "scrub", "send", "rm"]) == [
        "ok",
        "taint_rules[3]",
        "ok",
        "ok",
        "ok",
        "taint_rules[4]",
    ]
    denial = taint.evaluate("send", frozenset({"SECRET"})).denial
    assert denial is not None
    assert denial.reason == "no sending while secrets are in context"


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("taint_rules:\n  - tool: x\n    action: ADD_TAINT\n", "p.yaml:3:5"),
        ("taint_rules:\n  - tool: x\n    action: TAINT\n", "p.yaml:4:5"),
        ("taint_rules:\n  - tool: x\n    action: CHECK_TAINT\n", "p.yaml:3:5"),
        ("taint_rules:\n  - tool: x\n    action: BLOCK\n    exceptions: []\n", "p.yaml:5:5"),
        ("taint_rules:\n  - tool: x\n    tool_class: Y\n    action: BLOCK\n", "p.yaml:3:5"),
        ("protect_lethal_trifecta: yes please\n", "p.yaml:2:1"),
        ("tool_classes:\n  send: EXFIL\n  other: [1]\n", "p.yaml:4:11"),
    ],
)
def test_bad_taint_sections_name_their_place(text: str, where: str) -> None:
    with pytest.raises(PolicyError) as caught:
        parse_policy("version: 1\n" + text, "p.yaml")
    assert str(caught.value).startswith(where)


LILITH_ZERO_SHAPED = """
id: "compat-check"
customerId: "someone"
name: "A policy written for the original lilith-zero"
version: 1
staticRules:
  load_customers: "ALLOW"
  upload_report: "ALLOW"
  browse: "ALLOW"
  health: "ALLOW"
toolClasses:
  upload_report: [EXFILTRATION]
  health: []
taintRules:
  - tool: "load_customers"
    action: "ADD_TAINT"
    tag: "PII-data"
  - tool: "browse"
    action: "ADD_TAINT"
    tag: "UNTRUSTED_SOURCE"
  - tool: "upload_report"
    action: "CHECK_TAINT"
    forbiddenTags: ["PII-data", "SOMETHING_ELSE"]
    error: "BLOCKED: personal data may not leave"
protectLethalTrifecta: true
resource_rules:
  - uri_pattern: "file:///srv/reports/*"
    action: ALLOW
  - uri_pattern: "*"
    action: BLOCK
"""


def test_a_lilith_zero_shaped_policy_loads_and_fixes_its_bugs() -> None:
    from tests.unit.fakes import FakeResolver

    policy = parse_policy(LILITH_ZERO_SHAPED, "compat.yaml")
    taint = policy.taint
    assert taint is not None
    # forbiddenTags means ANY (the original required ALL), and a tag with '-' is checked.
    assert _run(taint, ["load_customers", "upload_report"]) == ["ok", "taint_rules[2]"]
    denial = taint.evaluate("upload_report", frozenset({"PII-data"})).denial
    assert denial is not None
    assert denial.reason == "BLOCKED: personal data may not leave"
    assert _run(taint, ["browse", "upload_report", "health"]) == ["ok", "ok", "ok"]
    # A '*' BLOCK resource rule only governs resources, not every tool call with arguments.
    decision = policy.decide_tool_call("browse", {"url": "https://example.com"}, FakeResolver())
    assert decision.allowed
    resources = policy.resource_rules
    assert resources is not None
    assert resources.decide_uri("file:///srv/reports/q3.pdf", FakeResolver()).allowed
    assert not resources.decide_uri("file:///srv/reports/../secrets", FakeResolver()).allowed
