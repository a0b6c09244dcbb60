"""Everything the policy allows passes both ways, unchanged, through a real Lilith process."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from tests.integration.conftest import StartProxy
from tests.integration.harness import HOSTILE, Proxy, recorded


def _methods(record: Path) -> list[str]:
    return [m.get("method", "<response>") for m in recorded(record) if isinstance(m, dict)]


def test_legacy_session_matches_direct(start_proxy: StartProxy, tmp_path: Path) -> None:
    direct = Proxy([*HOSTILE], tmp_path)
    through = start_proxy(policy="version: 1\nstatic_rules:\n  '*': ALLOW\n").proxy  # nothing to filter
    try:
        for peer in (direct, through):
            peer.initialize()
        for method, params in (
            ("tools/list", None),
            ("tools/call", {"name": "echo", "arguments": {"text": "héllo ☃", "n": [1, 2.5, None, True]}}),
            ("tools/call", {"name": "add", "arguments": {"a": 2, "b": 40}}),
            ("ping", None),
            ("no/such/method", {"x": 1}),
        ):
            assert through.call(method, params) == direct.call(method, params)
    finally:
        direct.close()


def test_unknown_fields_reach_the_server_and_come_back(start_proxy: StartProxy) -> None:
    run = start_proxy()
    run.proxy.initialize()
    run.proxy.send(
        {
            "jsonrpc": "2.0",
            "id": "req-x",
            "method": "tools/call",
            "params": {"name": "echo", "arguments": {"a": 1}, "_meta": {"vendor/x": [1]}, "x-extra": {"k": "v"}},
            "x-top": True,
        }
    )
    reply = run.proxy.recv()
    assert reply["id"] == "req-x"
    assert reply["result"]["x-hostile"] is True
    received = [m for m in recorded(run.record) if isinstance(m, dict) and m.get("id") == "req-x"]
    assert received[0]["x-top"] is True
    assert received[0]["params"]["x-extra"] == {"k": "v"}
    assert received[0]["params"]["_meta"] == {"vendor/x": [1]}


def test_server_to_client_requests_and_replies_round_trip(start_proxy: StartProxy) -> None:
    run = start_proxy()
    run.proxy.initialize()
    for tool, method in (("sample", "sampling/createMessage"), ("elicit", "elicitation/create")):
        call_id = run.proxy.request("tools/call", {"name": tool, "arguments": {}})
        server_request = run.proxy.recv()
        assert server_request["method"] == method
        answer: dict[str, Any] = {"jsonrpc": "2.0", "id": server_request["id"], "result": {"answered": tool}}
        run.proxy.send(answer)
        reply = run.proxy.recv()
        assert reply["id"] == call_id
        assert tool in json.dumps(reply["result"])
        assert answer in recorded(run.record)


def test_progress_and_logging_notifications_reach_the_client(start_proxy: StartProxy) -> None:
    run = start_proxy()
    run.proxy.initialize()
    call_id = run.proxy.request("tools/call", {"name": "notify", "arguments": {}, "_meta": {"progressToken": "tok"}})
    seen: list[Any] = []
    while True:
        message = run.proxy.recv()
        seen.append(message)
        if message.get("id") == call_id:
            break
    progress = [m for m in seen if m.get("method") == "notifications/progress"]
    assert [m["params"]["progressToken"] for m in progress] == ["tok", "tok", "tok"]
    assert any(m.get("method") == "notifications/message" for m in seen)


def test_client_notifications_and_cancellation_reach_the_server(start_proxy: StartProxy) -> None:
    run = start_proxy()
    run.proxy.initialize()
    call_id = run.proxy.request("tools/call", {"name": "hang", "arguments": {}})
    run.proxy.send({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": call_id}})
    run.proxy.send({"jsonrpc": "2.0", "method": "notifications/roots/list_changed"})
    assert run.proxy.call("ping")["result"] is not None
    methods = _methods(run.record)
    assert "notifications/cancelled" in methods
    assert "notifications/roots/list_changed" in methods
    # After cancellation the id is free again.
    again = run.proxy.call("tools/call", {"name": "echo", "arguments": {}}, timeout=10)
    assert "result" in again


def test_modern_era_without_initialize(start_proxy: StartProxy) -> None:
    run = start_proxy()
    meta = {"io.modelcontextprotocol/protocolVersion": "2026-07-28"}
    discover = run.proxy.call("server/discover", {"_meta": meta})
    assert "2026-07-28" in json.dumps(discover["result"])
    listed = run.proxy.call("tools/list", {"_meta": meta})
    assert any(tool["name"] == "echo" for tool in listed["result"]["tools"])
    reply = run.proxy.call("tools/call", {"name": "echo", "arguments": {"x": 1}, "_meta": meta})
    assert "result" in reply
    assert "initialize" not in _methods(run.record)


def test_batches_with_2025_03_26_are_checked_per_element(start_proxy: StartProxy) -> None:
    run = start_proxy()
    run.proxy.initialize("2025-03-26")
    run.proxy.send(
        [
            {"jsonrpc": "2.0", "id": 10, "method": "tools/call", "params": {"name": "echo", "arguments": {"k": 1}}},
            {"jsonrpc": "2.0", "id": 11, "method": "tools/call", "params": {"name": "delete_file", "arguments": {}}},
            {"jsonrpc": "2.0", "id": 12, "method": "ping"},
        ]
    )
    reply = run.proxy.recv()
    assert isinstance(reply, list)
    by_id = {item["id"]: item for item in reply}
    assert set(by_id) == {10, 11, 12}
    assert by_id[11]["error"]["code"] == -32000
    assert "result" in by_id[10]
    batches = [m for m in recorded(run.record) if isinstance(m, list)]
    assert [[item.get("id") for item in batch] for batch in batches] == [[10, 12]]


def test_batches_refused_in_other_versions(start_proxy: StartProxy) -> None:
    run = start_proxy()
    run.proxy.initialize("2025-06-18")
    run.proxy.send([{"jsonrpc": "2.0", "id": 1, "method": "ping"}])
    reply = run.proxy.recv()
    assert reply["error"]["code"] == -32600
    assert reply["id"] is None
    assert not [m for m in recorded(run.record) if isinstance(m, list)]


def test_stdout_carries_only_mcp_and_server_stderr_goes_to_stderr(start_proxy: StartProxy) -> None:
    run = start_proxy("--log-level", "debug", server_args=("--banner-garbage",))
    run.proxy.initialize()
    garbage = run.proxy.tool("garbage")
    assert "result" in garbage
    big = run.proxy.tool("huge", {"bytes": 3_000_000}, timeout=30)
    assert len(big["result"]["content"][0]["text"]) == 3_000_000
    assert run.proxy.close() == 0
    assert run.proxy.recv_raw() is None  # end of stream: no stray line was ever written
    assert "hostile[" in run.proxy.stderr()  # the server's stderr reached Lilith's stderr


def test_lilith_zero_alias(tmp_path: Path) -> None:
    from tests.integration.harness import LILITH

    policy = tmp_path / "p.yaml"
    policy.write_text("version: 1\nstatic_rules:\n  echo: ALLOW\n")
    audit = tmp_path / "a.jsonl"
    zero = str(Path(LILITH).with_name("lilith-zero"))
    upstream = " ".join(HOSTILE)
    proxy = Proxy(
        [zero, "run", "--upstream-cmd", upstream, "--policy", str(policy), "--audit-logs", str(audit)], tmp_path
    )
    try:
        proxy.initialize()
        assert "result" in proxy.tool("echo", {"a": 1})
        assert proxy.tool("add", {"a": 1, "b": 2})["error"]["code"] == -32000
    finally:
        assert proxy.close() == 0
    events = [json.loads(line)["event"] for line in audit.read_text().splitlines()]
    assert [e for e in events if e != "result"] == [
        "session_start",
        "policy_load",
        "initialize",
        "decision",
        "decision",
        "session_end",
    ]


def test_python_dash_m_entry_point(tmp_path: Path) -> None:
    import sys

    done = subprocess.run([sys.executable, "-m", "lilith", "--help"], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0
    assert "run" in done.stdout
