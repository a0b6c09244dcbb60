"""The parts ``Session`` coordinates, each on its own: in-flight tables and retired ids, deadlines and the
hold, tasks, what a restart restores, batches, server requests. (The session's own tests drive them
together through messages; these pin each part's contract.)"""

from __future__ import annotations

from typing import Any

import pytest

from lilith.core.batches import Batch, batch_refusal, deliver
from lilith.core.deadlines import Deadlines
from lilith.core.effects import Effects
from lilith.core.gate import Gate
from lilith.core.limits import Limits
from lilith.core.message import classify, id_key
from lilith.core.pending import MAX_RETIRED_IDS, ClientRequests, Pending, RetiredIds, cancelled_key
from lilith.core.restore import MAX_SUBSCRIPTIONS, ServerSetup, unmetered
from lilith.core.server_requests import MAX_SERVER_REQUESTS, ServerRequests
from lilith.core.session_records import SessionRecords
from lilith.core.tasks import MAX_TASKS, TaskTools
from tests.unit.fakes import MemoryAudit, MemoryLog

LIMITS = Limits(request_timeout=10, request_timeout_max=100, startup_timeout=3)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _message(method: str, request_id: Any = 1, **params: Any) -> Any:
    return classify({"jsonrpc": "2.0", "id": request_id, "method": method, "params": params})


# ------------------------------------------------------------------------------------------ ids in flight
def test_retired_ids_expire_in_the_order_they_were_retired_and_the_oldest_go_first() -> None:
    clock = Clock()
    retired = RetiredIds(clock, 60)
    retired.retire(id_key(1))
    clock.now += 30
    retired.retire(id_key(2))
    retired.retire(id_key(1))  # retired again: it now ends last
    clock.now += 40
    retired.purge(clock.now)
    assert list(retired) == [id_key(2), id_key(1)]
    clock.now += 30
    retired.purge(clock.now)
    assert list(retired) == []
    for n in range(MAX_RETIRED_IDS + 1):
        retired.retire(id_key(n))
    assert len(retired) == MAX_RETIRED_IDS and id_key(0) not in retired


def test_taking_a_request_forgets_its_progress_token_and_internal_ids_avoid_ids_in_flight() -> None:
    requests = ClientRequests()
    pending = requests[id_key("lilith-internal-1")] = Pending("tools/call", "lilith-internal-1")
    pending.progress = id_key("tok")
    requests.by_progress[id_key("tok")] = id_key("lilith-internal-1")
    assert requests.internal_id() == "lilith-internal-2"
    assert requests.take(id_key("lilith-internal-1")) is pending
    assert requests.by_progress == {} and requests.take(id_key("lilith-internal-1")) is None


@pytest.mark.parametrize(("request_id", "key"), [(7, id_key(7)), ("a", id_key("a")), (True, None), (None, None)])
def test_a_cancellation_names_a_request_only_by_a_valid_id(request_id: Any, key: Any) -> None:
    message = classify({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": request_id}})
    assert cancelled_key(message) == key


# ------------------------------------------------------------------------------------------------- deadlines
def _deadlines(clock: Clock) -> tuple[Deadlines, ClientRequests, dict[Any, Pending], MemoryAudit]:
    audit, log = MemoryAudit(), MemoryLog()
    requests, server_requests = ClientRequests(), ServerRequests(log)
    records = SessionRecords(Gate([]), audit, log, clock, None, timed=True)
    return Deadlines(LIMITS, clock, requests, server_requests, records, enabled=True), requests, server_requests, audit


def _forward(deadlines: Deadlines, requests: ClientRequests, request_id: Any, **params: Any) -> Pending:
    message = _message("tools/call", request_id, name="t", **params)
    pending = requests[id_key(request_id)] = Pending("tools/call", request_id)
    deadlines.start(pending, message)
    return pending


def test_a_request_waits_startup_timeout_until_the_server_speaks_then_request_timeout() -> None:
    clock = Clock()
    deadlines, requests, _, _ = _deadlines(clock)
    first = _forward(deadlines, requests, 1)
    assert (first.startup, first.deadline) == (True, 1003)
    deadlines.server_came_up()
    assert (first.startup, first.deadline) == (False, 1010)
    assert _forward(deadlines, requests, 2).deadline == 1010


def test_progress_extends_a_deadline_up_to_the_hard_maximum() -> None:
    clock = Clock()
    deadlines, requests, _, _ = _deadlines(clock)
    deadlines.server_came_up()
    pending = _forward(deadlines, requests, 1, _meta={"progressToken": "p"})
    progress = classify({"jsonrpc": "2.0", "method": "notifications/progress", "params": {"progressToken": "p"}})
    clock.now = 1095
    deadlines.progressed(progress)
    assert pending.deadline == 1100  # not 1105: never past request_timeout_max after it was sent


def test_while_the_server_waits_on_the_client_only_the_maximum_runs_and_a_fresh_timeout_follows() -> None:
    clock = Clock()
    deadlines, requests, server_requests, audit = _deadlines(clock)
    deadlines.server_came_up()
    _forward(deadlines, requests, 1)
    server_requests[id_key("s")] = elicitation = Pending("elicitation/create", "s")
    deadlines.hold(elicitation)
    assert deadlines.next_deadline() == 1100
    clock.now = 1050
    assert deadlines.expire().effects.to_client == []  # 40 s past its request_timeout, yet held
    del server_requests[id_key("s")]
    deadlines.server_request_ended()
    assert (deadlines.held, deadlines.next_deadline()) == (False, 1060)
    clock.now = 1060
    expired = deadlines.expire()
    assert [line.count(b"notifications/cancelled") for line in expired.effects.to_server] == [1]
    assert [line.count(b"-32001") for line in expired.effects.to_client] == [1]
    assert id_key(1) in deadlines.retired and not requests
    assert [(r["event"], r["after_seconds"]) for r in audit.records] == [("request_timeout", 60.0)]


# ----------------------------------------------------------------------------------------------------- tasks
def test_a_task_is_of_the_tool_that_created_it_unless_two_tools_claim_it() -> None:
    tasks = TaskTools()
    tasks.created("fetch", {"task": {"taskId": "T1"}})
    tasks.created("fetch", {"task": {"taskId": 5}})  # not a task id: ignored
    assert tasks.tool_of(_message("tasks/result", taskId="T1")) == "fetch"
    tasks.created("send", {"task": {"taskId": "T1"}})
    assert tasks.tool_of(_message("tasks/result", taskId="T1")) is None
    for n in range(MAX_TASKS + 1):
        tasks.created("fetch", {"task": {"taskId": f"t{n}"}})
    assert tasks.tool_of(_message("tasks/result", taskId="t0")) is None
    assert tasks.tool_of(_message("tasks/result", taskId=f"t{MAX_TASKS}")) == "fetch"


# --------------------------------------------------------------------------------------------------- restore
def _taken(setup: ServerSetup, method: str, **params: Any) -> None:
    pending = Pending(method, 1)
    pending.params = params
    setup.took(pending)


def test_a_restart_restores_the_last_level_and_the_subscriptions_still_held() -> None:
    setup = ServerSetup()
    _taken(setup, "logging/setLevel", level="info")
    _taken(setup, "logging/setLevel", level="debug")
    _taken(setup, "resources/subscribe", uri="a")
    _taken(setup, "resources/subscribe", uri="b")
    _taken(setup, "resources/unsubscribe", uri="a")
    assert setup.to_restore() == [("logging/setLevel", {"level": "debug"}), ("resources/subscribe", {"uri": "b"})]
    refused = Pending("resources/subscribe", "x")
    refused.params = {"uri": "b"}
    setup.refused(refused)
    assert setup.to_restore() == [("logging/setLevel", {"level": "debug"})]
    for n in range(MAX_SUBSCRIPTIONS + 1):
        _taken(setup, "resources/subscribe", uri=f"u{n}")
    assert len(setup.to_restore()) == 1 + MAX_SUBSCRIPTIONS


def test_a_replayed_request_drops_only_the_old_progress_token() -> None:
    params = {"uri": "a", "_meta": {"progressToken": 3, "other": 1}}
    assert unmetered(params) == {"uri": "a", "_meta": {"other": 1}}
    assert params["_meta"] == {"progressToken": 3, "other": 1}  # the remembered params stay as they were
    assert unmetered({"uri": "a"}) == {"uri": "a"}


# --------------------------------------------------------------------------------------------------- batches
def test_a_batch_needs_2025_03_26_and_a_size_within_the_limit() -> None:
    assert "2025-03-26" in (batch_refusal([{}], "2025-06-18", 4) or "")
    assert batch_refusal([], "2025-03-26", 4) == "Invalid Request: empty batch"
    assert "exceeds the limit of 4" in (batch_refusal([{}] * 5, "2025-03-26", 4) or "")
    assert batch_refusal([{}] * 4, "2025-03-26", 4) is None


def test_a_batch_reply_goes_out_once_every_request_in_it_was_answered() -> None:
    batch = Batch()
    batch.waiting |= {id_key(1), id_key(2)}
    effects = Effects()
    direct: list[dict[str, Any]] = []
    deliver(Pending("ping", 1, batch), {"id": 1}, effects, direct)
    assert effects.to_client == []
    deliver(Pending("ping", 2, batch), {"id": 2}, effects, direct)
    assert effects.to_client == [b'[{"id":1},{"id":2}]\n'] and direct == []


# ------------------------------------------------------------------------------------------- server requests
def test_server_requests_are_refused_for_an_undeclared_capability_a_duplicate_id_or_too_many() -> None:
    log = MemoryLog()
    waiting, setup = ServerRequests(log), ServerSetup()
    setup.handshake(_message("initialize", 0, capabilities={"elicitation": {}}).body)
    assert waiting.refusal(_message("sampling/createMessage", "s"), "2025-06-18", setup) is not None
    elicit = _message("elicitation/create", "s")
    assert waiting.refusal(elicit, "2025-06-18", setup) is None
    waiting.add(elicit)
    assert (waiting.refusal(elicit, "2025-06-18", setup) or {})["error"]["code"] == -32600
    for n in range(MAX_SERVER_REQUESTS - 1):
        waiting.add(_message("ping", n))
    assert (waiting.refusal(_message("ping", "one more"), "2025-06-18", setup) or {})["error"]["code"] == -32603
    assert log.names() == ["server_request_refused", "server_duplicate_request_id", "server_requests_over_limit"]
