from __future__ import annotations

from collections.abc import Mapping

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
        ("taint_rules:\n  - tool: x\n    action: BLOCK\n    exceptions: [true]\n", "p.yaml:5:18"),
        ("taint_rules:\n  - tool: x\n    action: BLOCK\n    exceptions: {when: true}\n", "p.yaml:5:5"),
        (
            "taint_rules:\n  - tool: x\n    action: BLOCK\n    exceptions:\n      - when: true\n        why: x\n",
            "p.yaml:7:9",
        ),
        ("taint_rules:\n  - tool: x\n    action: BLOCK\n    condition: true\n", "p.yaml:5:5"),
        ("taint_rules:\n  - tool: x\n    action: BLOCK\n    when: true\n    pattern: true\n", "p.yaml:6:5"),
        ("taint_rules:\n  - tool: x\n    action: BLOCK\n    when: {arg: a, op: gt, value: b}\n", "p.yaml:5:28"),
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


CONDITIONAL = """
version: 1
tool_classes:
  send_email: [EXFILTRATION]
taint_rules:
  - id: private-read
    tool: read_file
    action: ADD_TAINT
    tag: ACCESS_PRIVATE
    when: {arg: path, op: matches, value: '/home/.*'}
  - id: scrub
    tool: scrub
    action: REMOVE_TAINT
    tag: ACCESS_PRIVATE
    when: {arg: confirm, op: eq, value: true}
  - id: internal-mail
    tool: send_email
    action: ALLOW
    when: {arg: to, op: glob, value: '*@corp.example'}
  - id: no-leak
    tool_class: EXFILTRATION
    action: CHECK_TAINT
    forbidden_tags: [ACCESS_PRIVATE]
    exceptions:
      - when: {arg: dry_run, op: eq, value: true}
        reason: a dry run sends nothing
  - id: big-deletes
    tool: delete
    action: BLOCK
    conditions:
      - {arg: count, op: gt, value: 10}
      - {session: call_count, op: lt, value: 100}
"""


def _session(taint: TaintPolicy, calls: list[tuple[str, Mapping[str, object]]]) -> list[str]:
    """Like _run, with arguments and the call count a real session would pass."""
    held: frozenset[str] = frozenset()
    outcomes = []
    for number, (tool, arguments) in enumerate(calls):
        result = taint.evaluate(tool, held, arguments, number)
        if result.denial is None:
            held = (held - result.remove) | result.add
            outcomes.append("ok")
        else:
            outcomes.append(result.denial.rule)
    return outcomes


def test_conditions_decide_whether_a_rule_applies() -> None:
    taint = _taint(CONDITIONAL)
    send = ("send_email", {"to": "x@evil.example"})
    # Reading /tmp adds nothing; reading /home taints the session and outside mail is then refused.
    assert _session(taint, [("read_file", {"path": "/tmp/a"}), send]) == ["ok", "ok"]
    assert _session(taint, [("read_file", {"path": "/home/u/.ssh/id"}), send]) == ["ok", "no-leak"]
    # Internal mail is ALLOWed (the CHECK_TAINT after it is skipped); the exception excuses a dry run.
    internal = ("send_email", {"to": "boss@corp.example"})
    dry = ("send_email", {"to": "x@evil.example", "dry_run": True})
    assert _session(taint, [("read_file", {"path": "/home/u/a"}), internal, dry, send]) == ["ok", "ok", "ok", "no-leak"]
    # REMOVE_TAINT only when confirmed.
    scrub_no = ("scrub", {"confirm": "yes"})
    scrub_yes = ("scrub", {"confirm": True})
    assert _session(taint, [("read_file", {"path": "/home/a"}), scrub_no, send, scrub_yes, send]) == [
        "ok",
        "ok",
        "no-leak",
        "ok",
        "ok",
    ]
    # `conditions` is a list that must all hold, including on the session.
    assert _session(taint, [("delete", {"count": 11})]) == ["big-deletes"]
    assert _session(taint, [("delete", {"count": 3})]) == ["ok"]
    late = taint.evaluate("delete", frozenset(), {"count": 11}, call_count=100)
    assert late.denial is None


def test_unknown_outcomes_settle_in_the_direction_that_denies() -> None:
    taint = _taint(CONDITIONAL)
    # Missing or mistyped arguments: the restricting rules apply (taint added, block fires) ...
    assert taint.evaluate("read_file", frozenset(), {"path": 7}).add == frozenset({"ACCESS_PRIVATE"})
    assert taint.evaluate("read_file", frozenset(), {}).add == frozenset({"ACCESS_PRIVATE"})
    blocked = taint.evaluate("delete", frozenset(), {"count": "many"})
    assert blocked.denial is not None and blocked.denial.rule == "big-deletes"
    # ... and the relaxing ones do not (no ALLOW short-cut, no REMOVE_TAINT, no excusing exception).
    held = frozenset({"ACCESS_PRIVATE"})
    assert taint.evaluate("scrub", held, {}).remove == frozenset()
    no_to = taint.evaluate("send_email", held, {})
    assert no_to.denial is not None and no_to.denial.rule == "no-leak"
    odd_dry_run = taint.evaluate("send_email", held, {"to": "x@evil.example", "dry_run": "true"})
    assert odd_dry_run.denial is not None


def test_lilith_zero_pattern_and_exceptions_are_enforced() -> None:
    taint = _taint(
        """
taintRules:
  - tool: "run_sql"
    action: "BLOCK"
    pattern:
      and:
        - tool_args_match: {query: "*DROP*"}
        - {"!=": [{var: env}, "sandbox"]}
    error: "no DROP outside the sandbox"
  - tool: "web_search"
    action: "CHECK_TAINT"
    forbiddenTags: ["DATA_READ"]
    exceptions:
      - when: {"==": [{var: "engine"}, "internal"]}
        reason: "the internal engine keeps queries inside"
"""
    )
    drop = taint.evaluate("run_sql", frozenset(), {"query": "DROP TABLE x", "env": "prod"})
    assert drop.denial is not None and drop.denial.reason == "no DROP outside the sandbox"
    assert taint.evaluate("run_sql", frozenset(), {"query": "DROP TABLE x", "env": "sandbox"}).denial is None
    # lilith-zero answered `!=` with a missing `env` as true, and so did we; unknown settles to "applies".
    assert taint.evaluate("run_sql", frozenset(), {"query": "DROP TABLE x"}).denial is not None
    assert taint.evaluate("run_sql", frozenset(), {"query": "SELECT 1"}).denial is None
    held = frozenset({"DATA_READ"})
    assert taint.evaluate("web_search", held, {"engine": "internal"}).denial is None
    assert taint.evaluate("web_search", held, {"engine": "google"}).denial is not None
    assert taint.evaluate("web_search", held, {}).denial is not None
