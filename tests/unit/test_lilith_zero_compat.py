"""Keys of lilith-zero policy files that this build now enforces: rateLimit, replayWindowSecs, metadata."""

from __future__ import annotations

import json
from typing import Any

import pytest

from lilith.core.gate import build_gate
from lilith.core.session import Session
from lilith.errors import PolicyError
from lilith.policy.loader import parse_policy
from tests.unit.fakes import FakeResolver, MemoryAudit, MemoryLog

ZERO_POLICY = """
id: p-1
customerId: acme
name: lilith-zero style
schemaVersion: 1
createdAt: "2026-01-01T00:00:00Z"
version: 1
staticRules:
  echo: "ALLOW"
rateLimit:
  maxCallsPerSession: 3
  maxCallsPerMinute: 2
replayWindowSecs: 30
"""


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _session(text: str, clock: Clock) -> Session:
    policy = parse_policy(text, "zero.yaml")
    return Session(build_gate(lambda: policy, FakeResolver(), clock), MemoryAudit(), MemoryLog())


def _call(session: Session, request_id: Any) -> dict[str, Any] | None:
    body = {"jsonrpc": "2.0", "id": request_id, "method": "tools/call", "params": {"name": "echo", "arguments": {}}}
    effects = session.from_client(json.dumps(body).encode())
    if effects.to_server:
        session.from_server(json.dumps({"jsonrpc": "2.0", "id": request_id, "result": {}}).encode())
        return None
    reply: dict[str, Any] = json.loads(effects.to_client[0])
    return reply


def test_per_minute_and_per_session_limits() -> None:
    clock = Clock()
    session = _session(ZERO_POLICY, clock)
    assert _call(session, 1) is None
    assert _call(session, 2) is None
    third = _call(session, 3)
    assert third is not None
    assert third["error"]["data"]["rule"] == "rate_limit.max_calls_per_minute"
    clock.now += 61
    assert _call(session, 4) is None  # the minute has passed: 3 calls so far
    clock.now += 61
    over = _call(session, 5)
    assert over is not None
    assert over["error"]["data"]["rule"] == "rate_limit.max_calls_per_session"
    assert "session limit of 3 calls" in over["error"]["data"]["reason"]


def test_a_finished_request_id_may_not_come_back_within_the_replay_window() -> None:
    clock = Clock()
    session = _session(ZERO_POLICY.replace("maxCallsPerMinute: 2", "maxCallsPerMinute: 100"), clock)
    assert _call(session, "a") is None
    clock.now += 10
    replayed = _call(session, "a")
    assert replayed is not None
    assert replayed["error"]["data"]["rule"] == "replay_window_secs"
    clock.now += 21
    assert _call(session, "a") is None  # 31 s later: allowed again


def test_in_audit_mode_a_replayed_id_is_forwarded_and_recorded_as_would_deny() -> None:
    clock = Clock()
    policy = parse_policy(ZERO_POLICY.replace("maxCallsPerMinute: 2", "maxCallsPerMinute: 100") + "mode: audit\n", "z")
    audit = MemoryAudit()
    session = Session(build_gate(lambda: policy, FakeResolver(), clock), audit, MemoryLog())
    assert _call(session, "a") is None
    clock.now += 10
    assert _call(session, "a") is None  # forwarded: audit mode only records what enforcing would deny
    decisions = [r for r in audit.records if r.get("event") == "decision"]
    assert (decisions[-1]["decision"], decisions[-1]["rule"]) == ("would-deny", "replay_window_secs")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("version: 1\nrateLimit: {maxCallsPerHour: 3}\n", "unknown key 'maxCallsPerHour'"),
        ("version: 1\nrate_limit: {max_calls_per_session: 0}\n", "whole number ≥ 1"),
        ("version: 1\nrate_limit: 5\n", "rate_limit must be a mapping"),
        ("version: 1\nreplayWindowSecs: -1\n", "replayWindowSecs must be"),
        ("version: 1\nschemaVersion: 2\n", "unsupported schemaVersion"),
    ],
)
def test_bad_values_name_their_place(text: str, message: str) -> None:
    with pytest.raises(PolicyError) as caught:
        parse_policy(text, "zero.yaml")
    assert message in str(caught.value)
    assert "zero.yaml:2:" in str(caught.value)


def test_only_forwarded_calls_use_up_a_limit() -> None:
    policy = parse_policy(
        "version: 1\nstatic_rules:\n  echo: ALLOW\nrate_limit:\n  max_calls_per_session: 2\n", "p.yaml"
    )
    audit = MemoryAudit()
    session = Session(build_gate(lambda: policy, FakeResolver(), Clock()), audit, MemoryLog())
    note = {"jsonrpc": "2.0", "method": "tools/call", "params": {"name": "echo", "arguments": {}}}
    assert session.from_client(json.dumps(note).encode()).to_server == []  # dropped: not counted
    assert _call(session, 1) is None
    audit.fail = True
    refused = _call(session, 2)  # denied because its record could not be written: not counted either
    assert refused is not None
    assert refused["error"]["data"]["rule"] == "audit-failure"
    audit.fail = False
    assert _call(session, 3) is None
    over = _call(session, 4)
    assert over is not None
    assert over["error"]["data"]["rule"] == "rate_limit.max_calls_per_session"
