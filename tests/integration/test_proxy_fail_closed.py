"""Bad input from either side, and every policy problem, ends in a clear denial — never a pass-through."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import time
from pathlib import Path

import pytest

from tests.integration.conftest import StartProxy
from tests.integration.harness import HOSTILE, LILITH, Proxy, lilith_run, recorded


def _calls(record: Path) -> list[str]:
    return [
        m["params"]["name"]
        for m in recorded(record)
        if isinstance(m, dict) and m.get("method") == "tools/call" and isinstance(m.get("params"), dict)
    ]


def test_denied_call_never_reaches_the_server(start_proxy: StartProxy) -> None:
    run = start_proxy()
    run.proxy.initialize()
    reply = run.proxy.tool("delete_file", {"path": "/etc/passwd"})
    error = reply["error"]
    assert error["code"] == -32000
    assert error["message"].startswith("Lilith: ")
    assert error["data"] == {"rule": "static_rules.delete_file", "reason": "tool 'delete_file' is denied by policy"}
    unlisted = run.proxy.tool("run_command", {"command": "rm -rf /"})
    assert unlisted["error"]["data"]["rule"] == "default-deny"
    assert "result" in run.proxy.tool("read_file", {"path": "/tmp/x"})
    assert _calls(run.record) == ["read_file"]
    records = [r for r in map(json.loads, run.audit.read_text().splitlines()) if r["event"] == "decision"]
    assert [(r["tool"], r["decision"]) for r in records] == [
        ("delete_file", "deny"),
        ("run_command", "deny"),
        ("read_file", "allow"),
    ]


@pytest.mark.parametrize(
    "tool",
    ["ECHO", "ech\u043e", "echo\u200b", "echo ", "ｅｃｈｏ", "e\u0301cho"],
)
def test_lookalike_names_stay_denied(start_proxy: StartProxy, tool: str) -> None:
    run = start_proxy()
    run.proxy.initialize()
    assert run.proxy.tool(tool)["error"]["code"] == -32000
    assert _calls(run.record) == []


def test_duplicate_key_smuggling_is_checked_on_what_is_forwarded(start_proxy: StartProxy) -> None:
    run = start_proxy()
    run.proxy.initialize()
    run.proxy.send_raw(
        b'{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"echo","arguments":{},"name":"delete_file"}}\n'
    )
    assert run.proxy.recv()["error"]["code"] == -32000
    run.proxy.send_raw(
        b'{"jsonrpc":"2.0","id":6,"method":"tools/call","params":{"name":"delete_file","arguments":{},"name":"echo"}}\n'
    )
    assert "result" in run.proxy.recv()
    assert _calls(run.record) == ["echo"]


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (b"this is not json", -32700),
        (b'{"jsonrpc":"2.0","id":1,', -32700),
        (b"[" * 5000 + b"]" * 5000, -32700),
        (b'{"a":' * 200 + b"1" + b"}" * 200, -32700),
        (b'{"jsonrpc":"2.0","id":1,"method":"tools/list","params":' + b"[" * 100 + b"]" * 100 + b"}", -32700),
        (b'"just a string"', -32600),
        (b'{"jsonrpc":"2.0","method":7,"id":1}', -32600),
        (b'{"jsonrpc":"2.0","method":"tools/\\u0000list","id":1}', -32600),
        (b'{"jsonrpc":"2.0","method":"tools/call","id":1,"params":{"name":"echo\\u0000"}}', -32602),
        (b'{"jsonrpc":"2.0","method":"ping","id":null}', -32600),
        (b'{"jsonrpc":"2.0","method":"ping","id":{"a":1}}', -32600),
    ],
)
def test_malformed_client_input_gets_an_error_and_the_session_survives(
    start_proxy: StartProxy, raw: bytes, code: int
) -> None:
    run = start_proxy()
    run.proxy.initialize()
    run.proxy.send_raw(raw + b"\n")
    reply = run.proxy.recv()
    assert reply["error"]["code"] == code
    assert "result" in run.proxy.tool("echo", {"still": "alive"})
    assert _calls(run.record) == ["echo"]


def test_oversized_line_is_rejected_without_buffering_it(start_proxy: StartProxy) -> None:
    run = start_proxy("--max-line-bytes", "64K")
    run.proxy.initialize()
    run.proxy.send_raw(b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"x":"')
    run.proxy.send_raw(b"A" * 200_000)
    reply = run.proxy.recv()  # answered before the line even ends
    assert reply["error"]["code"] == -32600
    assert reply["id"] == 1  # the head of the line names its request: the client can match the refusal
    run.proxy.send_raw(b'"}}}\n')
    assert "result" in run.proxy.tool("echo")
    assert _calls(run.record) == ["echo"]


def test_duplicate_in_flight_id_is_rejected(start_proxy: StartProxy) -> None:
    run = start_proxy()
    run.proxy.initialize()
    run.proxy.request("tools/call", {"name": "hang", "arguments": {}}, request_id=42)
    run.proxy.request("tools/call", {"name": "echo", "arguments": {}}, request_id=42)
    reply = run.proxy.recv()
    assert reply["id"] == 42
    assert reply["error"]["code"] == -32600
    run.proxy.request("tools/call", {"name": "echo", "arguments": {}}, request_id="42")
    assert run.proxy.recv()["id"] == "42"  # a string id is a different request


def test_client_response_to_unknown_id_is_dropped(start_proxy: StartProxy) -> None:
    run = start_proxy()
    run.proxy.initialize()
    run.proxy.send({"jsonrpc": "2.0", "id": "never-sent", "result": {}})
    assert run.proxy.call("ping")["result"] is not None
    assert not [m for m in recorded(run.record) if isinstance(m, dict) and m.get("id") == "never-sent"]


def test_no_policy_denies_every_call_with_a_warning(start_proxy: StartProxy, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LILITH_POLICY", raising=False)
    run = start_proxy(policy=None)
    run.proxy.initialize()
    assert run.proxy.tool("echo")["error"]["data"]["rule"] == "default-deny"
    assert "tools/list" not in _calls(run.record)
    run.proxy.close()
    assert "no_policy" in run.proxy.stderr()


def test_policy_from_environment_and_flag_precedence(tmp_path: Path) -> None:
    allow = tmp_path / "allow.yaml"
    allow.write_text("version: 1\nstatic_rules:\n  echo: ALLOW\n")
    deny = tmp_path / "deny.yaml"
    deny.write_text("version: 1\nstatic_rules:\n  echo: DENY\n")
    env = {**os.environ, "LILITH_POLICY": str(allow)}
    from_env = Proxy(lilith_run(), tmp_path, env=env)
    flag_wins = Proxy(lilith_run("--policy", str(deny)), tmp_path, env=env)
    try:
        from_env.initialize()
        flag_wins.initialize()
        assert "result" in from_env.tool("echo")
        assert flag_wins.tool("echo")["error"]["code"] == -32000
    finally:
        from_env.close()
        flag_wins.close()


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("version: 1\nstatic_rules:\n  echo: ALLOW\n  echo: DENY\n", ":4:3"),
        ("version: 1\nstatic_rule:\n  echo: ALLOW\n", ":2:1"),
        ("version: 1\nstatic_rules:\n  echo: PERHAPS\n", ":3:3"),
        ("version: 1\nstatic_rules: [\n", ":"),
        ("version: 1\npin_mode: block\n", ":2:1"),
    ],
)
def test_invalid_policy_exits_2_and_starts_no_server(tmp_path: Path, text: str, where: str) -> None:
    policy = tmp_path / "bad.yaml"
    policy.write_text(text)
    marker = tmp_path / "server-started"
    server = ["sh", "-c", f"touch {marker}; cat"]
    done = subprocess.run(
        lilith_run("--policy", str(policy), server=server), input=b"", capture_output=True, timeout=30
    )
    assert done.returncode == 2
    assert done.stdout == b""
    assert f"{policy}{where}" in done.stderr.decode()
    time.sleep(0.2)
    assert not marker.exists()


def test_missing_policy_file_exits_2(tmp_path: Path) -> None:
    done = subprocess.run(
        lilith_run("--policy", str(tmp_path / "nope.yaml")), input=b"", capture_output=True, timeout=30
    )
    assert done.returncode == 2
    assert "policy file not found" in done.stderr.decode()


def test_unwritable_audit_log_refuses_to_start(tmp_path: Path) -> None:
    done = subprocess.run(
        lilith_run("--audit-log", str(tmp_path / "no-such-dir" / "audit.jsonl")),
        input=b"",
        capture_output=True,
        timeout=30,
    )
    assert done.returncode == 2
    assert "cannot open audit log" in done.stderr.decode()


def test_server_garbage_never_reaches_the_client(start_proxy: StartProxy) -> None:
    run = start_proxy(server_args=("--banner-garbage",))
    run.proxy.initialize()
    reply = run.proxy.tool("garbage")
    assert "result" in reply
    assert run.proxy.nothing_more()


def test_missing_server_command_is_a_usage_error() -> None:
    done = subprocess.run([LILITH, "run"], capture_output=True, timeout=30)
    assert done.returncode == 2
    assert b"missing the server command" in done.stderr


def test_server_that_cannot_start_is_reported(tmp_path: Path) -> None:
    done = subprocess.run(
        lilith_run(server=[str(tmp_path / "no-such-binary")]), input=b"", capture_output=True, timeout=30
    )
    assert done.returncode != 0
    assert done.stdout == b""
    assert "no-such-binary" in done.stderr.decode()


def test_a_closed_standard_output_refuses_to_start(tmp_path: Path) -> None:
    """With fd 1 closed, a file opened later (the audit log, say) would get its number and receive the MCP
    messages: refuse instead, before any server is started."""
    record = tmp_path / "received.jsonl"
    command = " ".join(shlex.quote(part) for part in lilith_run(server=[*HOSTILE, "--record", str(record)]))
    done = subprocess.run(["sh", "-c", f"{command} >&-"], input=b"", capture_output=True, timeout=30)
    assert done.returncode == 2
    assert b"standard output is closed" in done.stderr
    assert not record.exists()
