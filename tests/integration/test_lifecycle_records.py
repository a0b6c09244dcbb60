"""The audit log tells a session's whole story: handshake, decisions with latency, crash, restart, end."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.integration.conftest import StartProxy


def _records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_bytes().splitlines()]


def test_crash_restart_and_end_are_recorded(start_proxy: StartProxy) -> None:
    started = start_proxy("--restart", "on-failure")
    proxy = started.proxy
    proxy.initialize()
    assert "result" in proxy.tool("echo", {"text": "one"})
    assert proxy.tool("delete_file", {"path": "/x"})["error"]["code"] == -32000
    crashed = proxy.tool("crash")
    assert crashed["error"]["code"] == -32001
    assert "result" in proxy.tool("echo", {"text": "after restart"}, timeout=15)
    assert proxy.close() == 0

    records = _records(started.audit)
    events = [r["event"] for r in records]
    assert events[0] == "session_start"
    assert events[-1] == "session_end"
    assert "initialize" in events
    exit_record = next(r for r in records if r["event"] == "server_exit")
    assert exit_record["returncode"] == 3
    assert exit_record["pending_failed"] == 1
    restart = next(r for r in records if r["event"] == "server_restart")
    assert restart["attempt"] == 1
    assert isinstance(restart["pid"], int)
    assert restart["pid"] != exit_record["pid"]
    assert events.index("server_exit") < events.index("server_restart")
    end = records[-1]
    assert end["reason"] == "client_closed"
    assert end["exit_code"] == 0
    assert end == {**end, "decisions": 4, "denied": 1}
    decisions = [r for r in records if r["event"] == "decision"]
    assert all(isinstance(d["latency_us"], int) and 0 <= d["latency_us"] < 1_000_000 for d in decisions)
    hello = next(r for r in records if r["event"] == "initialize")
    assert hello["client_info"] == {"name": "test", "version": "1"}
    assert hello["negotiated_version"] == "2025-11-25"


def test_a_server_that_exits_for_good_ends_the_session_in_the_log(start_proxy: StartProxy) -> None:
    started = start_proxy()
    proxy = started.proxy
    proxy.initialize()
    assert proxy.tool("crash")["error"]["code"] == -32001
    assert proxy.proc.wait(10) == 1
    records = _records(started.audit)
    assert [r["event"] for r in records][-2:] == ["server_exit", "session_end"]
    assert records[-1]["reason"] == "server_exit"
    assert records[-1]["exit_code"] == 1


def test_answers_are_recorded_with_size_error_flag_and_a_redacted_preview(start_proxy: StartProxy) -> None:
    started = start_proxy()
    proxy = started.proxy
    proxy.initialize()
    secret = "mail ada@example.org about AKIAIOSFODNN7EXAMPLE"
    echoed = proxy.tool("echo", {"text": secret})
    assert secret in echoed["result"]["content"][0]["text"]  # the client sees the answer unchanged
    denied = proxy.tool("delete_file", {"path": "/x"})  # never reaches the server, so no result record
    assert denied["error"]["code"] == -32000
    assert proxy.close() == 0

    raw = started.audit.read_text()
    assert "ada@example.org" not in raw
    assert "AKIAIOSFODNN7EXAMPLE" not in raw
    [result] = [r for r in _records(started.audit) if r["event"] == "result"]
    assert result["tool"] == "echo"
    assert result["is_error"] is False
    assert result["size"] > len(secret)
    assert "<email:" in result["preview"]
    assert "<aws_key:" in result["preview"]
    assert 0 <= result["latency_ms"] < 5_000
