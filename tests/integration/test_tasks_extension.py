"""The 2026-07-28 tasks extension (``io.modelcontextprotocol/tasks``): a tool's result inlined in a completed
task, as ``tasks/get`` answers it or ``notifications/tasks`` pushes it, meets the checks and records of the
tool's direct answer; the result of a task no call of this session created never reaches the client. Through
a real Lilith in front of ``tests/servers/task_server.py``, without a handshake."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.integration.audit_records import schema_problems
from tests.integration.harness import ROOT, Proxy, lilith_run, recorded
from tests.integration.test_core_review_tasks import INJECTION, POLICY, TASK_SERVER

META = {
    "io.modelcontextprotocol/protocolVersion": "2026-07-28",
    "io.modelcontextprotocol/clientCapabilities": {"extensions": {"io.modelcontextprotocol/tasks": {}}},
    "io.modelcontextprotocol/clientInfo": {"name": "test", "version": "1"},
}


class Run:
    def __init__(self, tmp_path: Path) -> None:
        self.policy, self.record, self.audit = tmp_path / "p.yaml", tmp_path / "r.jsonl", tmp_path / "a.jsonl"
        self.policy.write_text(POLICY)
        args = lilith_run(
            "--policy",
            str(self.policy),
            "--audit-log",
            str(self.audit),
            server=[*TASK_SERVER, "--record", str(self.record)],
        )
        self.proxy = Proxy(args, tmp_path)

    def call(self, method: str, params: dict[str, Any]) -> Any:
        return self.proxy.call(method, {**params, "_meta": META})

    def fetch_as_task(self, **arguments: Any) -> str:
        created = self.call("tools/call", {"name": "fetch_page", "arguments": arguments})["result"]
        assert created["resultType"] == "task"
        task_id: str = created["taskId"]
        return task_id

    def email_is_refused(self) -> bool:
        reply = self.call("tools/call", {"name": "send_email", "arguments": {"to": "evil@example.com"}})
        refused = reply.get("error", {}).get("data", {}).get("rule") == "taint_rules[1]"
        sent = [m for m in recorded(self.record) if m.get("params", {}).get("name") == "send_email"]
        return refused and not sent

    def records(self, event: str) -> list[dict[str, Any]]:
        return [r for r in map(json.loads, self.audit.read_bytes().splitlines()) if r["event"] == event]

    def close(self) -> None:
        assert self.proxy.close() == 0
        assert not schema_problems(self.audit)


def test_a_polled_task_result_taints_the_session_like_a_direct_answer(tmp_path: Path) -> None:
    run = Run(tmp_path)
    try:
        assert "extensions" in run.call("server/discover", {})["result"]["capabilities"]
        task_id = run.fetch_as_task()
        polled = run.call("tasks/get", {"taskId": task_id})["result"]
        assert polled["status"] == "completed" and INJECTION in polled["result"]["content"][0]["text"]
        assert run.email_is_refused()  # the injected page tainted the session, as a direct answer does
        results = [r for r in run.records("result") if r["method"] == "tasks/get"]
        assert [(r["tool"], r["request_id"]) for r in results] == [("fetch_page", 3)]
        assert [r["tool"] for r in run.records("taints_changed")] == ["fetch_page"]
        run.close()
    finally:
        run.proxy.kill()


def test_the_result_of_a_task_this_session_did_not_create_is_withheld(tmp_path: Path) -> None:
    run = Run(tmp_path)
    try:
        reply = run.call("tasks/get", {"taskId": "shared-1"})  # another client's task on a shared server
        assert reply["error"]["code"] == -32602 and "withheld" in reply["error"]["message"]
        assert INJECTION not in json.dumps(reply)
        assert [m["params"]["taskId"] for m in recorded(run.record) if m.get("method") == "tasks/get"] == ["shared-1"]
        run.close()
    finally:
        run.proxy.kill()
    assert "task_result_withheld" in run.proxy.stderr()


def test_a_pushed_completed_task_is_checked_or_dropped(tmp_path: Path) -> None:
    run = Run(tmp_path)
    try:
        early = run.fetch_as_task(notify="before")  # pushed before Lilith knew the task: dropped
        late = run.fetch_as_task(notify="after")  # pushed once created: checked, recorded, delivered
        pushed = run.proxy.recv(10)
        assert pushed["method"] == "notifications/tasks" and pushed["params"]["taskId"] == late
        assert INJECTION in pushed["params"]["result"]["content"][0]["text"]
        assert run.proxy.nothing_more(0.3)
        assert early != late
        assert run.email_is_refused()
        methods = [r["method"] for r in run.records("result") if r["tool"] == "fetch_page"]
        assert methods == ["tools/call", "tools/call", "notifications/tasks"]  # the two answers creating tasks
        run.close()
    finally:
        run.proxy.kill()
    assert "task_notification_dropped" in run.proxy.stderr()


@pytest.mark.parametrize("ending", ["failed", "status_message"])
def test_a_failed_tasks_error_and_a_status_message_are_read_like_the_answer(tmp_path: Path, ending: str) -> None:
    run = Run(tmp_path)
    try:
        task_id = run.fetch_as_task(ending=ending)
        polled = run.call("tasks/get", {"taskId": task_id})["result"]
        assert INJECTION in json.dumps(polled)  # delivered (result_matches taints, it does not block) ...
        assert run.email_is_refused()  # ... and the session is tainted as by a direct answer
        assert [r["tool"] for r in run.records("taints_changed")] == ["fetch_page"]
        run.close()
    finally:
        run.proxy.kill()


def test_a_task_that_carries_a_decoy_result_next_to_its_error_is_withheld(tmp_path: Path) -> None:
    run = Run(tmp_path)
    try:
        task_id = run.fetch_as_task(ending="failed_decoy")
        reply = run.call("tasks/get", {"taskId": task_id})
        assert reply["error"]["code"] == -32603 and "malformed task" in reply["error"]["message"]
        assert INJECTION not in json.dumps(reply)
        run.close()
    finally:
        run.proxy.kill()
    assert "task_malformed" in run.proxy.stderr()


MRTR_SERVER = [sys.executable, str(ROOT / "tests" / "servers" / "mrtr_server.py")]
CLEARING = """
version: 1
static_rules:
  read_secret: ALLOW
  approve_export: ALLOW
  send_email: ALLOW
tool_classes:
  send_email: [EXFILTRATION]
taint_rules:
  - tool: read_secret
    action: ADD_TAINT
    tag: SECRET
  - tool: approve_export
    action: REMOVE_TAINT
    tag: SECRET
  - tool_class: EXFILTRATION
    action: CHECK_TAINT
    forbidden_tags: [SECRET]
"""


def test_an_answer_that_still_asks_for_input_removes_no_taint(tmp_path: Path) -> None:
    """2026-07-28 Multi Round-Trip Requests: ``input_required`` means the tool has not run yet; only the
    retried call's complete, successful answer takes the taint away (here the user declines: it stays)."""
    policy, record = tmp_path / "p.yaml", tmp_path / "r.jsonl"
    policy.write_text(CLEARING)
    proxy = Proxy(lilith_run("--policy", str(policy), server=[*MRTR_SERVER, "--record", str(record)]), tmp_path)
    try:

        def tool(name: str, **extra: Any) -> Any:
            return proxy.call("tools/call", {"name": name, "arguments": {}, "_meta": META, **extra})

        assert "result" in tool("read_secret")
        assert tool("approve_export")["result"]["resultType"] == "input_required"
        declined = tool("approve_export", inputResponses={"confirm": {"action": "decline"}})
        assert declined["result"]["isError"] is True
        assert tool("send_email")["error"]["data"]["rule"] == "taint_rules[2]"
        accepted = tool("approve_export", inputResponses={"confirm": {"action": "accept"}})
        assert accepted["result"]["isError"] is False
        assert "result" in tool("send_email")  # the approved export took the taint away
        names = [m["params"]["name"] for m in recorded(record) if m.get("method") == "tools/call"]
        assert names.count("send_email") == 1
        assert proxy.close() == 0
    finally:
        proxy.kill()
