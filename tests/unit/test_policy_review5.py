"""Review 5 of the policy, the pure parts: when a removal commits (interleaved answers, reused ids, tasks),
sections under two spellings, slashless URLs under "**", and taint rules that can never fire."""

from __future__ import annotations

from typing import Any

import pytest

from lilith.core.gate import Gate, build_gate
from lilith.core.message import Kind, Message, id_key
from lilith.core.taint_tracking import TaintTracking, succeeded
from lilith.errors import PolicyError
from lilith.policy.loader import Policy, parse_policy
from tests.unit.fakes import FakeResolver

CLEARING = parse_policy(
    "version: 1\nstatic_rules: {read: ALLOW, clear: ALLOW, mail: ALLOW}\ntaint_rules:\n"
    "  - {tool: read, action: ADD_TAINT, tag: SECRET}\n"
    "  - {tool: clear, action: REMOVE_TAINT, tag: SECRET}\n"
    "  - {tool: mail, action: CHECK_TAINT, forbidden_tags: [SECRET]}\n",
    "p.yaml",
)
OK: dict[str, Any] = {"content": []}


def _call(tool: str, request_id: Any) -> Message:
    body = {"jsonrpc": "2.0", "id": request_id, "method": "tools/call", "params": {"name": tool, "arguments": {}}}
    return Message(Kind.REQUEST, body, "tools/call", id_key(request_id))


class Session:
    """Just enough of a session: check and forward a call, then answer it (the record/commit path)."""

    def __init__(self, policy: Policy = CLEARING) -> None:
        self.gate: Gate = build_gate(lambda: policy, FakeResolver(), lambda: 0.0)

    def send(self, tool: str, request_id: Any) -> bool:
        message = _call(tool, request_id)
        decision = self.gate.check(message)
        if decision is not None and not decision.allowed:
            return False
        self.gate.forwarded(message)
        return True

    def answer(self, tool: str, request_id: Any, **body: Any) -> None:
        changed = self.gate.answered(tool, {"jsonrpc": "2.0", "id": request_id, **(body or {"result": OK})})
        if changed is not None:
            self.gate.commit_taints(changed[1])

    @property
    def taints(self) -> frozenset[str]:
        before_after = self.gate.taints(_call("none", "probe"))
        assert before_after is not None
        return before_after[0]


def test_a_removal_waits_for_a_successful_answer_of_its_own_request() -> None:
    session = Session()
    assert session.send("read", 1)
    session.answer("read", 1)
    assert session.send("clear", 2)
    assert session.taints == {"SECRET"}  # forwarded, not answered
    session.answer("read", 3)  # an answer to another id changes nothing
    assert session.taints == {"SECRET"}
    session.answer("clear", 2)
    assert session.taints == frozenset()
    assert session.send("mail", 4)


@pytest.mark.parametrize(
    "body",
    [
        {"error": {"code": -32602, "message": "bad"}},
        {"result": {"content": [], "isError": True}},
        {"result": {"content": [], "isError": "true"}},  # anything but false is not a success
        {"result": {"task": {"taskId": "t1", "status": "working"}}},  # outcome not known yet
        {"result": {"resultType": "task", "taskId": "t1"}},
        {"result": "not an object"},
    ],
)
def test_an_answer_that_is_not_a_success_removes_nothing(body: dict[str, Any]) -> None:
    assert not succeeded(body)
    session = Session()
    session.send("read", 1)
    session.send("clear", 2)
    session.answer("clear", 2, **body)
    assert session.taints == {"SECRET"}
    session.answer("clear", 2)  # a second answer to the same id is no success of anything
    assert session.taints == {"SECRET"}
    assert not session.send("mail", 3)


def test_a_removal_takes_back_only_what_was_there_when_its_call_went_out() -> None:
    session = Session()
    session.send("read", 1)
    session.send("clear", 2)
    session.send("read", 3)  # added again while the clear runs
    session.answer("clear", 2)
    assert session.taints == {"SECRET"}
    session.send("clear", 4)
    session.answer("clear", 4)
    assert session.taints == frozenset()


def test_a_reused_id_voids_the_removal_an_earlier_request_of_that_id_waited_for() -> None:
    session = Session()
    session.send("read", 1)
    session.send("clear", 2)  # never answered (cancelled, timed out): its id may come back later
    session.send("read", 2)
    session.answer("read", 2)
    assert session.taints == {"SECRET"}


def test_pending_removals_are_bounded_oldest_first() -> None:
    session = Session()
    session.send("read", "r")
    limit = TaintTracking.MAX_PENDING_REMOVALS
    for number in range(limit + 1):
        session.send("clear", number)
    session.answer("clear", 0)  # dropped: the oldest
    assert session.taints == {"SECRET"}
    session.answer("clear", limit)
    assert session.taints == frozenset()


def test_the_decision_record_shows_only_what_forwarding_adds() -> None:
    session = Session()
    session.send("read", 1)
    message = _call("clear", 2)
    session.gate.check(message)
    assert session.gate.taints(message) == (frozenset({"SECRET"}), frozenset({"SECRET"}))


# --- sections under two spellings ----------------------------------------------------------------

PAIRS = [
    ("static_rules: {a: ALLOW}", "staticRules: {b: ALLOW}"),
    ("argument_rules: []", "argumentRules: []"),
    ("rate_limits: []", "rateLimits: []"),
    ("rate_limit: {max_calls_per_minute: 3}", "rateLimit: {maxCallsPerSession: 3}"),
    ("tool_classes: {a: [X]}", "toolClasses: {b: [X]}"),
    ("taint_rules: []", "taintRules: []"),
    ("protect_lethal_trifecta: false", "protectLethalTrifecta: false"),
    ("resource_rules: []", "resourceRules: []"),
    ("prompt_rules: []", "promptRules: []"),
    ("on_deny: error", "onDeny: tool_result"),
    ("pin_mode: audit", "pinMode: enforce"),
    ("replay_window_secs: 1", "replayWindowSecs: 2"),
    ("schema_version: 1", "schemaVersion: 1"),
]


@pytest.mark.parametrize(("first", "second"), PAIRS + [(b, a) for a, b in PAIRS], ids=lambda text: text.split(":")[0])
def test_a_section_under_both_spellings_is_refused(first: str, second: str) -> None:
    with pytest.raises(PolicyError) as caught:
        parse_policy(f"version: 1\n{first}\n{second}\n", "p.yaml")
    assert str(caught.value).startswith("p.yaml:3:1: ")
    assert "under its other spelling" in str(caught.value)


def test_rate_limits_and_the_session_wide_rate_limit_are_two_sections_and_combine() -> None:
    policy = parse_policy(
        "version: 1\nrate_limits:\n  - {tool: '*', max_calls: 5, per_seconds: 1}\nrateLimit: {maxCallsPerSession: 9}\n",
        "p.yaml",
    )
    assert len(policy.rate_limits) == 2


# --- URLs without slashes under "**" -------------------------------------------------------------

STAR_STAR = parse_policy(
    "version: 1\nstatic_rules: {t: ALLOW}\nargument_rules:\n"
    "  - {tool: t, arg: '**', url_host_not_in: [evil.example]}\n",
    "p.yaml",
)


@pytest.mark.parametrize(
    "text",
    [
        "http:evil.example/x",
        "https:evil.example",
        "HtTpS:evil.example",
        "ws:evil.example",
        "wss:evil.example",
        "ftp:evil.example",
        "file:evil.example",
        "\x00\x1f http:evil.example",
        "h\tt\nt\rp:evil.example",
        "http:" + "\t" * 100 + "evil.example",
    ],
)
def test_special_scheme_strings_are_urls(text: str) -> None:
    decision = STAR_STAR.decide_tool_call("t", {"a": [text]}, FakeResolver())
    assert not decision.allowed
    assert decision.rule == "argument_rules[0]"


@pytest.mark.parametrize("text", ["mailto:me@evil.example", "http is fine", "see: http:", "httpx:evil", "ｈttp:e"])
def test_other_strings_are_not_urls(text: str) -> None:
    assert STAR_STAR.decide_tool_call("t", {"a": text}, FakeResolver()).allowed


# --- taint rules that can never fire ---------------------------------------------------------------

BASE = "version: 1\n"


@pytest.mark.parametrize(
    ("text", "where", "says"),
    [
        ("taint_rules:\n  - {tool_class: MAIL, action: BLOCK}\n", "3:6", "no tool has the class 'MAIL'"),
        (
            "tool_classes: {send: [Mail]}\ntaint_rules:\n  - {toolClass: MAIL, action: BLOCK}\n",
            "4:6",
            "did you mean 'Mail'?",
        ),
        ("tool_classes: {a: [Net], b: [NET]}\n", "2:30", "class 'NET' differs from 'Net' only by case"),
        ("tool_classes: {a: exfiltration}\n", "2:16", "differs from 'EXFILTRATION'"),
        ("tool_classes: {a: [X]}\nprotect_lethal_trifecta: true\n", "3:1", "no tool has it"),
        (
            "taint_rules:\n  - {tool: r, action: ADD_TAINT, tag: SECRET}\n"
            "  - {tool: m, action: CHECK_TAINT, forbidden_tags: [X, secret]}\n",
            "4:56",
            "no rule adds the tag 'secret' (did you mean 'SECRET'?",
        ),
        (
            "tool_classes: {m: [EXFILTRATION]}\ntaint_rules:\n  - {tool: r, action: ADD_TAINT, tag: access_private}\n"
            "  - {tool: f, action: ADD_TAINT, tag: UNTRUSTED_SOURCE}\nprotect_lethal_trifecta: true\n",
            "6:1",
            "looks for the tag 'ACCESS_PRIVATE' (did you mean 'access_private'?",
        ),
    ],
)
def test_taint_rules_that_could_never_fire_are_refused(text: str, where: str, says: str) -> None:
    with pytest.raises(PolicyError) as caught:
        parse_policy(BASE + text, "p.yaml")
    assert str(caught.value).startswith(f"p.yaml:{where}: ")
    assert says in str(caught.value)


def test_checks_nothing_can_set_off_load_with_warnings() -> None:
    policy = parse_policy(
        BASE + "tool_classes: {m: [EXFILTRATION]}\ntaint_rules:\n"
        "  - {tool: m, action: CHECK_TAINT, forbidden_tags: [NEVER_ADDED], required_taints: [ALSO_NEVER]}\n"
        "protect_lethal_trifecta: true\n",
        "p.yaml",
    )
    assert policy.warnings == (
        "p.yaml:4:53: warning: no rule adds the forbidden tag 'NEVER_ADDED' (an ADD_TAINT taint rule or a resource "
        "rule's taints_to_add): this check cannot fire on it",
        "p.yaml:5:1: warning: protect_lethal_trifecta cannot fire: no rule adds ACCESS_PRIVATE (an ADD_TAINT taint "
        "rule or a resource rule's taints_to_add)",
        "p.yaml:5:1: warning: protect_lethal_trifecta cannot fire: no rule adds UNTRUSTED_SOURCE (an ADD_TAINT taint "
        "rule or a resource rule's taints_to_add)",
    )


def test_resource_taints_and_answer_rules_count_as_sources() -> None:
    policy = parse_policy(
        BASE + "tool_classes: {m: [EXFILTRATION]}\n"
        "resource_rules:\n  - {uri_pattern: 'file:///srv/*', action: ALLOW, taints_to_add: ACCESS_PRIVATE}\n"
        "taint_rules:\n  - {tool: f, action: ADD_TAINT, tag: UNTRUSTED_SOURCE, result_matches: 'ignore'}\n"
        "protect_lethal_trifecta: true\n",
        "p.yaml",
    )
    assert policy.warnings == ()
