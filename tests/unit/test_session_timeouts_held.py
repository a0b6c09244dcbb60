"""Deadlines while the server waits on the client, and for tasks/result (sans-IO session, fake clock).

A server request to the client (elicitation/create, sampling/createMessage, roots/list) may wait on a human;
meanwhile client requests time out only at ``request_timeout_max``, and get a fresh ``request_timeout``
once it is answered, cancelled by the server, or too old to count. tasks/result waits for its task to end,
so it gets ``request_timeout_max`` from the start.
"""

from __future__ import annotations

import json
from typing import Any

from lilith.core.gate import Gate, ToolCallPolicy
from lilith.core.session import Limits, Session
from lilith.policy.loader import parse_policy
from tests.unit.fakes import FakeResolver, MemoryAudit, MemoryLog

POLICY = """
version: 1
static_rules:
  echo: ALLOW
  work: ALLOW
"""
TIMEOUT, LONGEST = 5.0, 12.0
START = 100.0


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now


def _line(message: Any) -> bytes:
    return json.dumps(message).encode()


def _session(clock: Clock | None, capabilities: dict[str, Any] | None = None) -> Session:
    """An initialized session whose client declared ``capabilities`` (all three by default)."""
    policy = parse_policy(POLICY, "test.yaml")
    gate = Gate([ToolCallPolicy(lambda: policy, FakeResolver())])
    limits = Limits(request_timeout=TIMEOUT, request_timeout_max=LONGEST, startup_timeout=2.0)
    session = Session(gate, MemoryAudit(), MemoryLog(), limits, clock=clock)
    declared = {"elicitation": {}, "sampling": {}, "roots": {}} if capabilities is None else capabilities
    init = {"protocolVersion": "2025-11-25", "capabilities": declared, "clientInfo": {"name": "c"}}
    session.from_client(_line({"jsonrpc": "2.0", "id": "init", "method": "initialize", "params": init}))
    session.from_server(_line({"jsonrpc": "2.0", "id": "init", "result": {"protocolVersion": "2025-11-25"}}))
    return session


def _call(session: Session, request_id: Any, name: str = "work", token: Any = None) -> None:
    params: dict[str, Any] = {"name": name, "arguments": {}}
    if token is not None:
        params["_meta"] = {"progressToken": token}
    effects = session.from_client(_line({"jsonrpc": "2.0", "id": request_id, "method": "tools/call", "params": params}))
    assert effects.to_server, "the call was not forwarded"


def _ask(session: Session, request_id: str, method: str = "elicitation/create") -> list[bytes]:
    """The server asks the client something; returns what reached the client."""
    return session.from_server(_line({"jsonrpc": "2.0", "id": request_id, "method": method, "params": {}})).to_client


def _reply(session: Session, request_id: str) -> list[bytes]:
    """The client answers the server's request; returns what reached the server."""
    answer = {"jsonrpc": "2.0", "id": request_id, "result": {"action": "accept", "content": {"name": "Ada"}}}
    return session.from_client(_line(answer)).to_server


def _timed_out(session: Session) -> list[Any]:
    """Ids of the client requests ``expire`` answered with Lilith's timeout error now."""
    answers = [json.loads(line) for line in session.expire().effects.to_client]
    assert all(answer["error"]["code"] == -32001 for answer in answers)
    return [answer["id"] for answer in answers]


def test_an_unanswered_elicitation_holds_the_call_until_the_hard_maximum() -> None:
    clock = Clock()
    session = _session(clock)
    _call(session, 1)
    clock.now = START + 1
    assert _ask(session, "s1")
    assert session.next_deadline() == START + LONGEST  # not START + TIMEOUT
    clock.now = START + TIMEOUT + 3  # the human is still typing
    assert _timed_out(session) == []
    clock.now = START + LONGEST
    assert _timed_out(session) == [1]  # never past the maximum


def test_the_answer_gives_every_pending_request_a_fresh_timeout_from_then() -> None:
    clock = Clock()
    session = _session(clock)
    _call(session, 1)
    _call(session, 2)
    _ask(session, "s1")
    clock.now = START + 4
    _call(session, 3)  # sent during the hold: held too
    clock.now = START + 6
    assert _timed_out(session) == []
    assert _reply(session, "s1")  # the answer reaches the server
    assert session.next_deadline() == START + 6 + TIMEOUT  # the same fresh timeout for all three
    clock.now = START + 6 + TIMEOUT - 0.1
    assert _timed_out(session) == []
    clock.now = START + 6 + TIMEOUT
    assert sorted(_timed_out(session)) == [1, 2, 3]


def test_a_fresh_timeout_never_goes_past_a_requests_maximum() -> None:
    clock = Clock()
    session = _session(clock)
    _call(session, 1)
    _ask(session, "s1")
    clock.now = START + 10
    _reply(session, "s1")
    assert session.next_deadline() == START + LONGEST  # 10 + 5 = 15 is past 100 + 12
    clock.now = START + LONGEST
    assert _timed_out(session) == [1]


def test_a_later_deadline_than_the_fresh_timeout_is_kept() -> None:
    clock = Clock()
    session = _session(clock)
    _ask(session, "s1")
    clock.now = START + 1
    _reply(session, "s1")
    _call(session, 1)  # sent after the hold ended: its own timeout from when it was sent
    assert session.next_deadline() == START + 1 + TIMEOUT


def test_the_hold_lasts_while_any_server_request_waits() -> None:
    clock = Clock()
    session = _session(clock)
    _call(session, 1)
    _ask(session, "s1", "sampling/createMessage")
    _ask(session, "s2", "roots/list")
    clock.now = START + 6
    _reply(session, "s1")
    clock.now = START + 11.5  # past 6 + 5: s2 still waits, so the call is still held
    assert _timed_out(session) == []
    clock.now = START + LONGEST
    assert _timed_out(session) == [1]


def test_a_server_that_cancels_its_request_releases_the_hold() -> None:
    clock = Clock()
    session = _session(clock)
    _call(session, 1)
    _ask(session, "s1")
    clock.now = START + 3
    cancel = {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": "s1"}}
    assert session.from_server(_line(cancel)).to_client  # the client is told too
    assert session.next_deadline() == START + 3 + TIMEOUT
    clock.now = START + 3 + TIMEOUT
    assert _timed_out(session) == [1]


def test_a_server_request_holds_for_at_most_the_maximum_then_a_fresh_timeout_runs() -> None:
    clock = Clock()
    session = _session(clock)
    _ask(session, "s1")  # never answered, never cancelled
    clock.now = START + 8
    _call(session, 1)  # its maximum is 120; the hold ends at 112
    assert session.next_deadline() == START + LONGEST
    clock.now = START + LONGEST
    assert _timed_out(session) == []
    assert session.next_deadline() == START + LONGEST + TIMEOUT  # fresh from when the hold ended
    clock.now = START + LONGEST + TIMEOUT
    assert _timed_out(session) == [1]
    # The stale request still reaches the server if the client answers it late, and no longer holds anything.
    assert _reply(session, "s1")
    _call(session, 2)
    assert session.next_deadline() == clock.now + TIMEOUT


def test_a_refused_server_request_holds_nothing() -> None:
    clock = Clock()
    session = _session(clock, capabilities={})  # the client declared neither elicitation nor sampling
    _call(session, 1)
    assert _ask(session, "s1") == []  # refused: never reaches the client
    assert session.next_deadline() == START + TIMEOUT


def test_a_lost_server_ends_the_hold() -> None:
    clock = Clock()
    session = _session(clock)
    _ask(session, "s1")
    session.server_lost("exited")
    session.handshake_replay()
    session.from_server(_line({"jsonrpc": "2.0", "method": "notifications/message", "params": {}}))  # it is back
    _call(session, 1)
    assert session.next_deadline() == START + TIMEOUT


def test_without_a_clock_server_requests_hold_nothing() -> None:
    session = _session(None)
    _call(session, 1)
    _ask(session, "s1")
    assert session.next_deadline() is None
    assert _reply(session, "s1")


def _create_task(session: Session, request_id: Any, task_id: str, token: Any = None) -> None:
    _call(session, request_id, token=token)
    created = {"task": {"taskId": task_id, "status": "working"}}
    assert session.from_server(_line({"jsonrpc": "2.0", "id": request_id, "result": created})).to_client


def test_tasks_result_waits_up_to_the_maximum_and_tasks_get_does_not() -> None:
    clock = Clock()
    session = _session(clock)
    _create_task(session, 1, "T1", token="p1")
    clock.now = START + 1
    session.from_client(_line({"jsonrpc": "2.0", "id": 2, "method": "tasks/result", "params": {"taskId": "T1"}}))
    session.from_client(_line({"jsonrpc": "2.0", "id": 3, "method": "tasks/get", "params": {"taskId": "T1"}}))
    clock.now = START + 1 + TIMEOUT
    assert _timed_out(session) == [3]  # an ordinary request
    progress = {"jsonrpc": "2.0", "method": "notifications/progress", "params": {"progressToken": "p1"}}
    assert session.from_server(_line(progress)).to_client  # the task's progress still reaches the client
    assert session.next_deadline() == START + 1 + LONGEST
    clock.now = START + 1 + LONGEST
    assert _timed_out(session) == [2]


def test_tasks_result_is_answered_when_the_task_ends() -> None:
    clock = Clock()
    session = _session(clock)
    _create_task(session, 1, "T1")
    session.from_client(_line({"jsonrpc": "2.0", "id": 2, "method": "tasks/result", "params": {"taskId": "T1"}}))
    clock.now = START + LONGEST - 1
    assert _timed_out(session) == []
    result = {"content": [{"type": "text", "text": "done"}], "isError": False}
    [answer] = session.from_server(_line({"jsonrpc": "2.0", "id": 2, "result": result})).to_client
    assert json.loads(answer)["result"] == result
    assert session.next_deadline() is None
