"""The interceptor chain and policy reloads: one policy per request, effects committed only when forwarded."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

from lilith.core.gate import Gate, RateLimit, ToolCallPolicy, build_gate
from lilith.core.interceptor import PolicySnapshot
from lilith.core.message import Kind, Message, id_key
from lilith.core.taint_tracking import TaintTracking
from lilith.policy.decision import Decision
from lilith.policy.loader import Policy, parse_policy
from tests.unit.fakes import FakeResolver


def _policy(text: str) -> Policy:
    return parse_policy("version: 1\n" + text, "p.yaml")


def _message(method: str, params: dict[str, Any], number: int = 1) -> Message:
    body = {"jsonrpc": "2.0", "id": number, "method": method, "params": params}
    return Message(Kind.REQUEST, body, method, id_key(number))


def _call(tool: str, number: int = 1, **arguments: Any) -> Message:
    return _message("tools/call", {"name": tool, "arguments": arguments}, number)


class Live:
    """A stand-in for the policy holder: ``current`` is what a reload swaps."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self.reads = 0

    def __call__(self) -> Policy:
        self.reads += 1
        return self.policy


TAINTS_X = _policy("static_rules:\n  read: ALLOW\ntaint_rules:\n  - tool: read\n    action: ADD_TAINT\n    tag: X\n")
TAINTS_Y = _policy("static_rules:\n  read: ALLOW\ntaint_rules:\n  - tool: read\n    action: ADD_TAINT\n    tag: Y\n")


def _taints(gate: Gate) -> frozenset[str]:
    tracker = next(i for i in gate._interceptors if isinstance(i, TaintTracking))
    return tracker.taints


def test_a_reload_between_check_and_forwarding_does_not_change_the_calls_effects() -> None:
    live = Live(TAINTS_X)
    gate = build_gate(live, FakeResolver(), lambda: 0.0)
    message = _call("read")
    decision = gate.check(message)
    assert decision is not None and decision.allowed
    live.policy = TAINTS_Y  # the reload lands after the check, before the audit record and forwarding
    gate.forwarded(message)
    assert _taints(gate) == {"X"}
    # The next call is checked, and changes the session, under the new policy.
    second = _call("read", 2)
    gate.check(second)
    gate.forwarded(second)
    assert _taints(gate) == {"X", "Y"}


def test_a_call_that_is_not_forwarded_changes_nothing() -> None:
    gate = build_gate(Live(TAINTS_X), FakeResolver(), lambda: 0.0)
    gate.check(_call("read"))  # allowed, but (say) its audit record failed: never forwarded
    other = _call("other", 2)
    gate.check(other)
    gate.forwarded(other)  # a different message: the plan of the first one must not be applied
    assert _taints(gate) == frozenset()


class SwapAfterFirstRead(Live):
    def __init__(self, first: Policy, then: Policy) -> None:
        super().__init__(first)
        self.then = then

    def __call__(self) -> Policy:
        policy = super().__call__()
        self.policy = self.then
        return policy


def test_every_interceptor_of_one_check_sees_the_same_policy() -> None:
    allowed = _policy("static_rules:\n  send: ALLOW\n")
    blocked = _policy("static_rules:\n  send: ALLOW\ntaint_rules:\n  - tool: send\n    action: BLOCK\n")
    live = SwapAfterFirstRead(allowed, blocked)
    decision = build_gate(live, FakeResolver(), lambda: 0.0).check(_call("send"))
    assert decision is not None and decision.allowed
    # Without the snapshot, the tool policy and the taint rules would read different policies.
    live = SwapAfterFirstRead(allowed, blocked)
    unpinned = Gate([ToolCallPolicy(live, FakeResolver()), TaintTracking(live)])
    mixed = unpinned.check(_call("send"))
    assert mixed is not None and not mixed.allowed


def test_snapshot_reads_live_policy_outside_a_check() -> None:
    live = Live(TAINTS_X)
    snapshot = PolicySnapshot(live)
    assert snapshot() is TAINTS_X
    snapshot.pin()
    live.policy = TAINTS_Y
    assert snapshot() is TAINTS_X
    snapshot.release()
    assert snapshot() is TAINTS_Y


RESOURCE_TAINTS = _policy(
    """
static_rules:
  send: ALLOW
resource_rules:
  - uri_pattern: "file:///srv/customers/secret*"
    action: BLOCK
  - uri_pattern: "file:///srv/customers/*"
    action: ALLOW
    taints_to_add: [ACCESS_PRIVATE, PII]
  - uri_pattern: "*"
    action: ALLOW
taint_rules:
  - tool: send
    action: CHECK_TAINT
    forbidden_tags: [PII]
"""
)


def test_reading_a_tainting_resource_taints_the_session_once_forwarded() -> None:
    gate = build_gate(lambda: RESOURCE_TAINTS, FakeResolver(), lambda: 0.0)
    for number, uri in enumerate(["file:///srv/other", "file:///srv/customers/secret.txt"], start=1):
        read = _message("resources/read", {"uri": uri}, number)
        decision = gate.check(read)
        if decision is None or decision.allowed:
            gate.forwarded(read)
    assert _taints(gate) == frozenset()
    send = _call("send", 3)
    assert gate.check(send) is not None
    read = _message("resources/read", {"uri": "file:///srv/x/../customers/a.csv"}, 4)
    decision = gate.check(read)
    assert decision is not None and decision.allowed
    assert _taints(gate) == frozenset()  # not yet: only once forwarded
    gate.forwarded(read)
    assert _taints(gate) == {"ACCESS_PRIVATE", "PII"}
    denied = gate.check(_call("send", 5))
    assert denied is not None and not denied.allowed and denied.rule == "taint_rules[0]"


class FlippingLink(FakeResolver):
    """/srv/link points at the customers' directory on the first resolution and elsewhere afterwards: a
    symlink swapped between two looks."""

    def __init__(self) -> None:
        self.resolutions = 0

    def realpath(self, path: str) -> str:
        if not path.startswith("/srv/link/"):
            return path
        self.resolutions += 1
        target = "/srv/customers/" if self.resolutions == 1 else "/srv/public/"
        return target + path.removeprefix("/srv/link/")


def test_a_read_is_resolved_once_so_its_access_decision_and_taints_describe_the_same_file() -> None:
    resolver = FlippingLink()
    gate = build_gate(lambda: RESOURCE_TAINTS, resolver, lambda: 0.0)
    read = _message("resources/read", {"uri": "file:///srv/link/a.csv"})
    decision = gate.check(read)
    assert decision is not None and decision.allowed and decision.rule == "resource_rules[1]"
    gate.forwarded(read)
    assert resolver.resolutions == 1
    assert _taints(gate) == {"ACCESS_PRIVATE", "PII"}  # the file the decision allowed is the one that taints


class Opinion(ToolCallPolicy):
    def __init__(self, decision: Decision) -> None:
        self._decision = decision

    def check_request(self, message: Message) -> Decision | None:
        return self._decision


def test_a_would_be_denial_is_not_hidden_by_a_later_allow() -> None:
    would = Decision(True, "first", "would deny", would_deny=True)
    allow = Decision(True, "later", "fine")
    assert Gate([Opinion(would), Opinion(allow)]).check(_call("x")) == would
    assert Gate([Opinion(allow), Opinion(would)]).check(_call("x")) == would
    deny = Decision(False, "last", "no")
    assert Gate([Opinion(would), Opinion(deny)]).check(_call("x")) == deny


def test_rate_limit_windows_are_made_only_when_a_policy_has_rate_limits() -> None:
    live = Live(_policy("static_rules:\n  a: ALLOW\n"))
    limiter = RateLimit(live, lambda: 0.0)
    assert limiter.check_request(_call("a")) is None
    assert limiter._windows is None
    live.policy = _policy("rate_limits:\n  - tool: a\n    max_calls: 1\n    per_seconds: 5\n")
    first = _call("a")
    assert limiter.check_request(first) is None
    assert limiter._windows is not None
    assert limiter.check_request(_call("a", 2)) is None  # the first was checked but never forwarded
    assert limiter.check_request(first) is None
    limiter.on_forwarded(first)  # counted now
    refused = limiter.check_request(_call("a", 3))
    assert refused is not None and not refused.allowed


def test_loading_a_policy_with_globs_does_not_load_re2() -> None:
    script = """
import sys
from lilith.policy.loader import parse_policy
from lilith.core.gate import build_gate
policy = parse_policy('''
version: 1
static_rules: {"git_*": ALLOW, "git_[p]ush": DENY, 'a\\\\*b': ALLOW}
tool_classes: {"http_*": [EXFILTRATION]}
taint_rules: [{tool: "read_*", action: ADD_TAINT, tag: X, when: {arg: p, op: glob, value: "/srv/*"}}]
rate_limits: [{tool: "*", max_calls: 5, per_seconds: 1}]
resource_rules: [{uri_pattern: "file:///srv/*", action: ALLOW}]
''', "p.yaml")
assert "re2" not in sys.modules, "RE2 loaded while loading the policy"
gate = build_gate(lambda: policy, None, lambda: 0.0)
assert "re2" not in sys.modules, "RE2 loaded while building the chain"
print(policy.static_rules.decide("git_log").allowed, policy.static_rules.decide("git_push").allowed)
print(policy.static_rules.decide("a*b").allowed, policy.static_rules.decide("axb").allowed)
assert "re2" in sys.modules
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", "False", "True", "False"]
