"""Request deadlines in the sans-IO session, driven by a fake monotonic clock."""

from __future__ import annotations

import json
from typing import Any

from lilith.core.gate import Gate, ToolCallPolicy
from lilith.core.session import Limits, Session
from lilith.policy.loader import parse_policy
from tests.unit.fakes import POLICY, FakeResolver, MemoryAudit, MemoryLog


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _session(clock: Clock | None, audit: MemoryAudit | None = None, **limits: Any) -> Session:
    policy = parse_policy(POLICY, "test.yaml")
    gate = Gate([ToolCallPolicy(lambda: policy, FakeResolver())])
    defaults: dict[str, Any] = {"request_timeout": 5.0, "request_timeout_max": 12.0, "startup_timeout": 2.0}
    return Session(gate, audit or MemoryAudit(), MemoryLog(), Limits(**{**defaults, **limits}), clock=clock)


def _line(message: Any) -> bytes:
    return json.dumps(message).encode()


def _call(request_id: Any, name: str = "echo", token: Any = None) -> bytes:
    params: dict[str, Any] = {"name": name, "arguments": {}}
    if token is not None:
        params["_meta"] = {"progressToken": token}
    return _line({"jsonrpc": "2.0", "id": request_id, "method": "tools/call", "params": params})


def _spoken(session: Session) -> None:
    """The server has said something, so later requests get the ordinary timeout."""
    session.from_server(_line({"jsonrpc": "2.0", "method": "notifications/message", "params": {"data": "hi"}}))


def _progress(token: Any) -> bytes:
    return _line({"jsonrpc": "2.0", "method": "notifications/progress", "params": {"progressToken": token}})


def _decoded(lines: list[bytes]) -> list[Any]:
    return [json.loads(line) for line in lines]


def test_without_a_clock_nothing_ever_expires() -> None:
    session = _session(None)
    session.from_client(_call(1))
    assert session.next_deadline() is None
    assert session.expire().effects.to_client == []


def test_a_request_expires_at_its_deadline_and_is_cancelled_upstream() -> None:
    clock, audit = Clock(), MemoryAudit()
    session = _session(clock, audit)
    _spoken(session)
    session.from_client(_call(7))
    assert session.next_deadline() == 105.0
    clock.now = 104.9
    assert session.expire().effects.to_client == []
    clock.now = 105.0
    expired = session.expire()
    assert not expired.startup_failed
    [answer] = _decoded(expired.effects.to_client)
    assert answer["id"] == 7
    assert answer["error"]["code"] == -32001
    assert answer["error"]["data"] == {"timeout_seconds": 5.0}
    [cancel] = _decoded(expired.effects.to_server)
    assert cancel["method"] == "notifications/cancelled"
    assert cancel["params"]["requestId"] == 7
    assert session.in_flight == 0
    assert session.next_deadline() is None
    # The server's late answer is dropped: the client already has one.
    late = session.from_server(_line({"jsonrpc": "2.0", "id": 7, "result": {}}))
    assert late.to_client == []
    assert [r["event"] for r in audit.records if r["event"] == "request_timeout"] == ["request_timeout"]


def test_the_first_request_to_a_silent_server_gets_the_startup_timeout_and_is_not_cancelled() -> None:
    clock = Clock()
    session = _session(clock)
    init = {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "c"}}
    session.from_client(_line({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": init}))
    assert session.next_deadline() == 102.0
    clock.now = 102.0
    expired = session.expire()
    assert expired.startup_failed
    assert expired.effects.to_server == []  # initialize must not be cancelled
    [answer] = _decoded(expired.effects.to_client)
    assert "did not start initialize" in answer["error"]["message"]


def test_progress_pushes_the_deadline_out_but_never_past_the_maximum() -> None:
    clock = Clock()
    session = _session(clock)
    _spoken(session)
    session.from_client(_call(1, token="tok"))
    clock.now = 104.0
    session.from_server(_progress("tok"))
    assert session.next_deadline() == 109.0
    clock.now = 108.0
    session.from_server(_progress("tok"))
    assert session.next_deadline() == 112.0  # 100 + request_timeout_max, not 113
    session.from_server(_progress("someone-else"))
    session.from_server(_progress(True))  # not a valid token type
    assert session.next_deadline() == 112.0
    clock.now = 112.0
    assert _decoded(session.expire().effects.to_client)[0]["error"]["code"] == -32001


def test_an_answered_request_forgets_its_progress_token() -> None:
    clock = Clock()
    session = _session(clock)
    _spoken(session)
    session.from_client(_call(1, token=5))
    session.from_server(_line({"jsonrpc": "2.0", "id": 1, "result": {}}))
    session.from_client(_call(2))
    session.from_server(_progress(5))  # the old token no longer extends anything
    assert session.next_deadline() == 105.0


def test_a_timed_out_request_inside_a_batch_completes_the_batch() -> None:
    clock = Clock()
    session = _session(clock)
    init = {"protocolVersion": "2025-03-26", "capabilities": {}, "clientInfo": {"name": "c"}}
    session.from_client(_line({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": init}))
    session.from_server(_line({"jsonrpc": "2.0", "id": 0, "result": {"protocolVersion": "2025-03-26"}}))
    batch = [json.loads(_call(1)), json.loads(_call(2))]
    session.from_client(json.dumps(batch).encode())
    answered = session.from_server(_line({"jsonrpc": "2.0", "id": 1, "result": {}}))
    assert answered.to_client == []  # the batch waits for id 2
    clock.now = 105.0
    [whole] = _decoded(session.expire().effects.to_client)
    assert sorted(item["id"] for item in whole) == [1, 2]


def test_a_replayed_handshake_that_times_out_fails_start_up_quietly() -> None:
    clock = Clock()
    session = _session(clock)
    init = {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "c"}}
    session.from_client(_line({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": init}))
    session.from_server(_line({"jsonrpc": "2.0", "id": 1, "result": {"protocolVersion": "2025-11-25"}}))
    session.server_lost("exited")
    session.handshake_replay()
    clock.now = 102.0
    expired = session.expire()
    assert expired.startup_failed
    assert expired.effects.to_client == []  # the client never sent this request


def test_decisions_carry_their_latency_and_the_handshake_is_recorded() -> None:
    clock, audit = Clock(), MemoryAudit()
    session = _session(clock, audit)
    init = {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "agent", "version": "2"}}
    session.from_client(_line({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": init}))
    result = {"protocolVersion": "2025-06-18", "serverInfo": {"name": "srv", "version": "9"}}
    session.from_server(_line({"jsonrpc": "2.0", "id": 1, "result": result}))
    session.from_client(_call(2))
    session.from_client(_call(3, name="rm_rf"))
    [hello] = [r for r in audit.records if r["event"] == "initialize"]
    assert hello["client_info"] == {"name": "agent", "version": "2"}
    assert hello["protocol_version"] == "2025-11-25"
    assert hello["server_info"] == {"name": "srv", "version": "9"}
    assert hello["negotiated_version"] == "2025-06-18"
    decisions = [r for r in audit.records if r["event"] == "decision"]
    assert [d["latency_us"] for d in decisions] == [0, 0]  # the fake clock stood still
    assert session.counts == {"decisions": 2, "denied": 1}


def _summary(body: dict[str, Any], size: int) -> dict[str, Any]:
    return {"size": size, "is_error": "error" in body, "preview": "p"}


def test_answers_to_decided_requests_are_recorded_before_the_client_sees_them() -> None:
    clock, audit = Clock(), MemoryAudit()
    policy = parse_policy(POLICY, "test.yaml")
    gate = Gate([ToolCallPolicy(lambda: policy, FakeResolver())])
    session = Session(gate, audit, MemoryLog(), Limits(), clock=clock, summarise=_summary)
    session.from_client(_call(1))
    session.from_client(_line({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}))
    clock.now += 0.25
    line = _line({"jsonrpc": "2.0", "id": 1, "result": {"content": []}})
    assert _decoded(session.from_server(line).to_client)[0]["result"] == {"content": []}
    session.from_server(_line({"jsonrpc": "2.0", "id": 2, "result": {"tools": []}}))
    [result] = [r for r in audit.records if r["event"] == "result"]  # tools/list has no decision, no record
    assert result == {
        "event": "result",
        "method": "tools/call",
        "tool": "echo",
        "request_id": 1,
        "size": len(line),
        "is_error": False,
        "preview": "p",
        "latency_ms": 250.0,
    }
    # If the record cannot be written, the answer is withheld.
    session.from_client(_call(3))
    audit.fail = True
    [withheld] = _decoded(session.from_server(_line({"jsonrpc": "2.0", "id": 3, "result": {}})).to_client)
    assert withheld["error"]["code"] == -32603
    assert "withheld" in withheld["error"]["message"]
