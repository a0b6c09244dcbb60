"""Request timeouts that respect humans and tasks, through a real Lilith in front of
``tests/servers/waiting_server.py``.

While the server waits for the client's answer to its own request (an elicitation waits on a human), the
client's requests do not time out, except at ``--request-timeout-max``; once the server's request is answered
or given up, they get a fresh ``--request-timeout``. ``tasks/result`` waits for its task to end, up to
``--request-timeout-max``.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.audit_records import schema_problems
from tests.integration.harness import ROOT, Proxy, lilith_run, recorded

WAITING_SERVER = [sys.executable, str(ROOT / "tests" / "servers" / "waiting_server.py")]
POLICY = """
version: 1
static_rules:
  ask: ALLOW
  wait: ALLOW
  long_job: ALLOW
"""
REQUEST_TIMEOUT = -32001
RELATED_TASK = "io.modelcontextprotocol/related-task"


class Run:
    def __init__(self, proxy: Proxy, record: Path, audit: Path) -> None:
        self.proxy, self.record, self.audit = proxy, record, audit
        self.seen: list[Any] = []  # everything the client got, in order
        self.unread: list[Any] = []  # ... of which no test step has taken these yet

    def received(self) -> list[dict[str, Any]]:
        """What the server received."""
        return [m for m in recorded(self.record) if isinstance(m, dict)]

    def cancelled_upstream(self) -> list[Any]:
        return [m["params"]["requestId"] for m in self.received() if m.get("method") == "notifications/cancelled"]

    def timeouts(self) -> list[dict[str, Any]]:
        records = [json.loads(line) for line in self.audit.read_bytes().splitlines()]
        return [r for r in records if r["event"] == "request_timeout"]

    def next_message(self, predicate: Callable[[Any], bool], timeout: float = 10.0) -> Any:
        """The first message for the client, not yet taken, that matches (read, or set aside earlier)."""
        for message in self.unread:
            if predicate(message):
                self.unread.remove(message)
                return message
        deadline = time.monotonic() + timeout
        while True:
            message = self.proxy.recv(max(0.0, deadline - time.monotonic()))
            self.seen.append(message)
            if predicate(message):
                return message
            self.unread.append(message)

    def answer_to(self, request_id: Any, timeout: float = 10.0) -> Any:
        return self.next_message(lambda m: m.get("id") == request_id and "method" not in m, timeout)

    def server_asks(self, method: str = "elicitation/create") -> Any:
        return self.next_message(lambda m: m.get("method") == method and "id" in m)

    def reply(self, request: Any, result: dict[str, Any]) -> None:
        self.proxy.send({"jsonrpc": "2.0", "id": request["id"], "result": result})


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Callable[..., Run]]:
    runs: list[Run] = []

    def start(*options: str) -> Run:
        n = len(runs)
        policy, record, audit = tmp_path / f"p{n}.yaml", tmp_path / f"r{n}.jsonl", tmp_path / f"a{n}.jsonl"
        policy.write_text(POLICY)
        args = lilith_run(
            "--policy",
            str(policy),
            "--audit-log",
            str(audit),
            *options,
            server=[*WAITING_SERVER, "--record", str(record)],
        )
        run = Run(Proxy(args, tmp_path), record, audit)
        runs.append(run)
        run.proxy.initialize()
        return run

    yield start
    for run in runs:
        run.proxy.kill()
    problems = [p for run in runs for p in schema_problems(run.audit)]
    assert not problems, problems


ACCEPTED = {"action": "accept", "content": {"name": "Ada"}}


def test_a_human_answering_slowly_times_out_nothing(start: Callable[..., Run]) -> None:
    run = start("--request-timeout", "1", "--request-timeout-max", "20")
    proxy = run.proxy
    asking = proxy.request("tools/call", {"name": "ask", "arguments": {}})
    other = proxy.request("tools/call", {"name": "wait", "arguments": {"ms": 2000}})  # pending meanwhile too
    question = run.server_asks()
    time.sleep(2.5)  # the human reads and types, well past --request-timeout
    run.reply(question, ACCEPTED)
    reply = run.answer_to(asking)
    assert json.loads(reply["result"]["content"][0]["text"]) == ACCEPTED
    assert run.answer_to(other)["result"]["content"][0]["text"] == "waited 2000 ms"
    # The server got the human's answer and was never told to stop; nothing timed out.
    answers = [m for m in run.received() if m.get("id") == question["id"] and "method" not in m]
    assert [m["result"] for m in answers] == [ACCEPTED]
    assert run.cancelled_upstream() == []
    assert proxy.close() == 0
    assert run.timeouts() == []


def test_once_answered_the_call_gets_a_fresh_timeout(start: Callable[..., Run]) -> None:
    run = start("--request-timeout", "1", "--request-timeout-max", "20")
    proxy = run.proxy
    # sampling this time; the server never answers the call after the client's answer
    asking = proxy.request(
        "tools/call", {"name": "ask", "arguments": {"method": "sampling/createMessage", "after_answer_ms": None}}
    )
    question = run.server_asks("sampling/createMessage")
    time.sleep(1.5)
    run.reply(question, {"role": "assistant", "content": {"type": "text", "text": "hello"}, "model": "m"})
    answered = time.monotonic()
    reply = run.answer_to(asking)
    waited = time.monotonic() - answered
    assert reply["error"]["code"] == REQUEST_TIMEOUT
    assert 0.85 <= waited < 1.8, waited  # a fresh --request-timeout from the client's answer
    assert any(m.get("id") == question["id"] and "result" in m for m in run.received())
    assert asking in _eventually(run.cancelled_upstream)
    proxy.close()
    [record] = run.timeouts()
    assert (record["tool"], record["request_id"]) == ("ask", asking)
    assert 2.3 <= record["after_seconds"] < 3.5


def test_the_maximum_still_ends_a_call_while_the_human_types(start: Callable[..., Run]) -> None:
    run = start("--request-timeout", "0.5", "--request-timeout-max", "1.5")
    proxy = run.proxy
    began = time.monotonic()
    asking = proxy.request("tools/call", {"name": "ask", "arguments": {}})
    question = run.server_asks()
    reply = run.answer_to(asking)  # the human has not answered
    waited = time.monotonic() - began
    assert reply["error"]["code"] == REQUEST_TIMEOUT
    assert 1.4 <= waited < 2.5, waited
    assert asking in _eventually(run.cancelled_upstream)
    # The human's late answer still reaches the server, which asked for it.
    run.reply(question, ACCEPTED)
    assert _eventually(lambda: [m for m in run.received() if m.get("id") == question["id"]])
    proxy.close()


def test_a_server_that_gives_up_its_question_releases_the_call(start: Callable[..., Run]) -> None:
    run = start("--request-timeout", "1", "--request-timeout-max", "20")
    proxy = run.proxy
    asking = proxy.request(
        "tools/call", {"name": "ask", "arguments": {"after_answer_ms": None, "cancel_after_ms": 1500}}
    )
    question = run.server_asks()
    run.next_message(lambda m: m.get("method") == "notifications/cancelled")  # the client is told
    gave_up = time.monotonic()
    reply = run.answer_to(asking)
    assert reply["error"]["code"] == REQUEST_TIMEOUT
    assert 0.85 <= time.monotonic() - gave_up < 1.8
    # A late answer to the withdrawn question is not passed on: the server no longer waits for it.
    run.reply(question, ACCEPTED)
    time.sleep(0.3)
    assert not [m for m in run.received() if m.get("id") == question["id"]]
    proxy.close()
    assert "client_response_unknown_id" in proxy.stderr()


def _create_task(run: Run, arguments: dict[str, Any], token: str | None = None) -> str:
    params: dict[str, Any] = {"name": "long_job", "arguments": arguments, "task": {"ttl": 60000}}
    if token is not None:
        params["_meta"] = {"progressToken": token}
    created = run.answer_to(run.proxy.request("tools/call", params))
    return str(created["result"]["task"]["taskId"])


def test_tasks_result_waits_for_a_long_task(start: Callable[..., Run]) -> None:
    run = start("--request-timeout", "1", "--request-timeout-max", "20")
    proxy = run.proxy
    task_id = _create_task(run, {"ms": 2500})
    began = time.monotonic()
    waiting = proxy.request("tasks/result", {"taskId": task_id})
    polled = run.answer_to(proxy.request("tasks/get", {"taskId": task_id}))
    assert polled["result"]["status"] == "working"
    reply = run.answer_to(waiting)
    assert 2.3 <= time.monotonic() - began < 4.0
    assert reply["result"]["content"][0]["text"] == "job done"
    assert reply["result"]["_meta"][RELATED_TASK] == {"taskId": task_id}
    assert run.cancelled_upstream() == []
    assert proxy.close() == 0
    assert run.timeouts() == []


def test_tasks_result_is_cut_at_the_maximum(start: Callable[..., Run]) -> None:
    run = start("--request-timeout", "0.5", "--request-timeout-max", "1.5")
    proxy = run.proxy
    task_id = _create_task(run, {"ms": 5000}, token="job-1")
    began = time.monotonic()
    waiting = proxy.request("tasks/result", {"taskId": task_id})
    reply = run.answer_to(waiting)
    waited = time.monotonic() - began
    assert reply["error"]["code"] == REQUEST_TIMEOUT
    assert 1.4 <= waited < 2.5, waited
    # The task's progress reached the client all along; the server was told to stop waiting, not to
    # stop the task (that would be tasks/cancel).
    progress = [m for m in run.seen if m.get("method") == "notifications/progress"]
    assert progress
    assert {m["params"]["progressToken"] for m in progress} == {"job-1"}
    assert _eventually(run.cancelled_upstream) == [waiting]
    assert not [m for m in run.received() if m.get("method") == "tasks/cancel"]
    proxy.close()
    [record] = run.timeouts()
    assert record["method"] == "tasks/result"


def test_a_task_that_needs_a_human_waits_for_the_answer(start: Callable[..., Run]) -> None:
    run = start("--request-timeout", "1", "--request-timeout-max", "20")
    proxy = run.proxy
    task_id = _create_task(run, {"ms": 500, "ask_at_ms": 100})
    waiting = proxy.request("tasks/result", {"taskId": task_id})
    question = run.server_asks()
    assert question["params"]["_meta"][RELATED_TASK] == {"taskId": task_id}
    time.sleep(2.0)  # past --request-timeout
    run.reply(question, ACCEPTED)
    reply = run.answer_to(waiting)
    assert reply["result"]["content"][0]["text"] == f"job done with {json.dumps(ACCEPTED, sort_keys=True)}"
    assert any(m.get("id") == question["id"] and m.get("result") == ACCEPTED for m in run.received())
    assert run.cancelled_upstream() == []
    assert proxy.close() == 0
    assert run.timeouts() == []


def _eventually(read: Callable[[], list[Any]], timeout: float = 5.0) -> list[Any]:
    """What ``read`` returns once it is not empty (or empty after ``timeout``)."""
    deadline = time.monotonic() + timeout
    while not (found := read()) and time.monotonic() < deadline:
        time.sleep(0.02)
    return found
