"""``mode: audit`` forwards what the policy would deny, and only that: through a real Lilith in front of
``tests/servers/task_server.py``, a tasks/result for a task no tool call of this session created is still
refused (-32602, a ``deny`` record), as are a look-alike method and a policed request without an id, while
a call the policy denies reaches the server as a would-deny, and so does the result of the task it made."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from tests.integration.audit_records import schema_problems
from tests.integration.harness import ROOT, Proxy, lilith_run, recorded

TASK_SERVER = [sys.executable, str(ROOT / "tests" / "servers" / "task_server.py")]
POLICY = """\
version: 1
mode: audit
static_rules:
  fetch_page: ALLOW
"""


def test_audit_mode_forwards_policy_denials_but_not_an_unknown_task(tmp_path: Path) -> None:
    policy, record, audit = tmp_path / "p.yaml", tmp_path / "r.jsonl", tmp_path / "a.jsonl"
    policy.write_text(POLICY)
    args = lilith_run(
        "--policy", str(policy), "--audit-log", str(audit), server=[*TASK_SERVER, "--record", str(record)]
    )
    proxy = Proxy(args, tmp_path)
    try:
        proxy.initialize()
        # send_email is not allowed: audit mode forwards it, and the task it creates is this session's.
        created = proxy.call("tools/call", {"name": "send_email", "arguments": {}, "task": {"ttl": 60000}})
        task_id = created["result"]["task"]["taskId"]
        assert proxy.call("tasks/result", {"taskId": task_id})["result"]["content"][0]["text"] == "sent"

        unknown = proxy.call("tasks/result", {"taskId": "made-up-elsewhere"})
        assert unknown["error"]["code"] == -32602
        assert unknown["error"]["data"]["rule"] == "tasks.unknown_task"
        assert proxy.call("Tools/call", {"name": "fetch_page", "arguments": {}})["error"]["code"] == -32600
        proxy.send({"jsonrpc": "2.0", "method": "tools/call", "params": {"name": "send_email", "arguments": {}}})
        listed = proxy.call("tools/list")  # the id-less call got no answer, and the session goes on
        assert [tool["name"] for tool in listed["result"]["tools"]] == ["fetch_page", "send_email"]
        assert proxy.close() == 0
    finally:
        proxy.kill()

    received = [m for m in recorded(record) if isinstance(m, dict)]
    assert [m["params"]["taskId"] for m in received if m.get("method") == "tasks/result"] == [task_id]
    assert [m["params"]["name"] for m in received if m.get("method") == "tools/call"] == ["send_email"]
    assert not [m for m in received if m.get("method") == "Tools/call"]
    records = [json.loads(line) for line in audit.read_bytes().splitlines()]
    decisions: list[tuple[Any, ...]] = [
        (r["method"], r["decision"], r["rule"]) for r in records if r["event"] == "decision"
    ]
    assert decisions == [
        ("tools/call", "would-deny", "default-deny"),
        ("tasks/result", "deny", "tasks.unknown_task"),
        ("tools/call", "deny", "protocol.request-without-id"),
    ]
    [result] = [r for r in records if r["event"] == "result" and r["method"] == "tasks/result"]
    assert result["tool"] == "send_email"
    assert not schema_problems(audit)
