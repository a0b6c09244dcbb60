"""A client that closes its input but keeps reading (a one-shot pipeline: ``printf '...' | lilith run ...``)
gets the answers to its calls in flight, as it would from the server directly; their own deadlines bound the
wait, and a client that is gone entirely, or a signal, is not waited for.

Real ``lilith`` processes in front of the hostile server with ``--finish-on-eof``: at EOF it answers its
``slow`` calls still running before it exits, as mcp-server-everything does.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

from tests.integration.conftest import StartProxy
from tests.integration.harness import ALLOW_ECHO_POLICY, HOSTILE, Proxy, lilith_run, reap, recorded

CALL_ID = 7
HELLO = {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "pipe", "version": "1"}}


def _slow_call(ms: int, progress_every_ms: int | None = None) -> dict[str, Any]:
    params: dict[str, Any] = {"name": "slow", "arguments": {"ms": ms}}
    if progress_every_ms is not None:
        params["arguments"]["progress_every_ms"] = progress_every_ms
        params["_meta"] = {"progressToken": "p"}
    return {"jsonrpc": "2.0", "id": CALL_ID, "method": "tools/call", "params": params}


def _pipeline(proxy: Proxy, call: dict[str, Any], *, handshake_first: bool = False) -> float:
    """Send the handshake and ``call`` in one go, then close Lilith's stdin; when it was closed.
    ``handshake_first``: wait for the answer to initialize before sending the rest (a call sent before the
    server has said anything is given ``--startup-timeout``, not ``--request-timeout``)."""
    lines = [
        {"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": HELLO},
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        call,
    ]
    if handshake_first:
        proxy.send(lines.pop(0))
        assert "result" in proxy.recv(10)
    proxy.send_raw(b"".join(json.dumps(line).encode() + b"\n" for line in lines))
    assert proxy.proc.stdin is not None
    proxy.proc.stdin.close()
    return time.monotonic()


def _read_to_eof(proxy: Proxy, timeout: float = 30.0) -> list[Any]:
    out: list[Any] = []
    while (raw := proxy.recv_raw(timeout)) is not None:
        out.append(json.loads(raw))
    return out


def _answer(messages: list[Any]) -> Any:
    answers = [m for m in messages if m.get("id") == CALL_ID and "method" not in m]
    assert len(answers) == 1, messages
    return answers[0]


def _slow_calls_received(record: Path) -> list[Any]:
    return [m["params"]["arguments"] for m in recorded(record) if m.get("method") == "tools/call"]


def test_a_client_that_closed_its_input_still_gets_its_answer(start_proxy: StartProxy) -> None:
    run = start_proxy("--shutdown-timeout", "1", server_args=("--finish-on-eof",))
    closed = _pipeline(run.proxy, _slow_call(2000))
    messages = _read_to_eof(run.proxy)
    exited = run.proxy.proc.wait(10)
    took = time.monotonic() - closed
    answer = _answer(messages)
    # Before the fix: the server was SIGTERMed 1 s after the EOF and the call got -32001.
    assert answer["result"]["content"][0]["text"] == "slept 2000 ms", answer
    assert exited == 0
    assert 1.8 < took < 6.0  # the server's 2 s, then its own exit at EOF
    assert _slow_calls_received(run.record) == [{"ms": 2000}]
    assert "SIGTERM" not in run.proxy.stderr()


def test_progress_keeps_the_call_alive_past_the_request_timeout(start_proxy: StartProxy) -> None:
    run = start_proxy(
        "--request-timeout", "1", "--shutdown-timeout", "1", server_args=("--finish-on-eof",)
    )  # fmt: skip
    _pipeline(run.proxy, _slow_call(2500, progress_every_ms=300))
    messages = _read_to_eof(run.proxy)
    assert run.proxy.proc.wait(10) == 0
    assert _answer(messages)["result"]["content"][0]["text"] == "slept 2500 ms"
    progress = [m for m in messages if m.get("method") == "notifications/progress"]
    assert len(progress) >= 5  # the progress that moved the deadline reached the client too
    assert _slow_calls_received(run.record) == [{"ms": 2500, "progress_every_ms": 300}]


def test_a_call_whose_deadline_passes_gets_the_timeout_and_lilith_exits(start_proxy: StartProxy) -> None:
    run = start_proxy("--request-timeout", "1", server_args=("--finish-on-eof",))  # stdin grace: 2 s
    closed = _pipeline(run.proxy, _slow_call(30_000), handshake_first=True)
    answer = run.proxy.recv(10)
    while answer.get("id") != CALL_ID:
        answer = run.proxy.recv(10)
    answered = time.monotonic() - closed
    exited = run.proxy.proc.wait(15)
    took = time.monotonic() - closed
    # Before the fix: "the MCP server is gone (killed by SIGTERM)" after the 2 s stdin grace.
    assert answer["error"]["code"] == -32001
    assert "did not answer tools/call within" in answer["error"]["message"], answer
    assert 0.9 < answered < 2.0
    assert exited == 0
    assert took < answered + 5.0  # the stdin grace (2 s), SIGTERM, and its end: not the server's 30 s
    assert _slow_calls_received(run.record) == [{"ms": 30_000}]
    stderr = run.proxy.stderr()
    assert "request_timeout" in stderr
    assert "server_notice_dropped" not in stderr and "server_notices_undelivered" not in stderr


def test_a_client_gone_entirely_is_not_waited_for(tmp_path: Path) -> None:
    policy, record = tmp_path / "policy.yaml", tmp_path / "received.jsonl"
    policy.write_text(ALLOW_ECHO_POLICY)
    argv = lilith_run(
        "--policy", str(policy), "--shutdown-timeout", "0.5",
        server=[*HOSTILE, "--record", str(record), "--finish-on-eof"],
    )  # fmt: skip
    lilith = subprocess.Popen(
        argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=(tmp_path / "stderr.log").open("wb")
    )
    assert lilith.stdin is not None and lilith.stdout is not None
    try:
        lilith.stdin.write(json.dumps({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": HELLO}).encode())
        lilith.stdin.write(b"\n")
        lilith.stdin.flush()
        assert json.loads(lilith.stdout.readline())["id"] == 0
        lilith.stdin.write(json.dumps(_slow_call(30_000)).encode() + b"\n")
        lilith.stdin.flush()
        deadline = time.monotonic() + 10
        while not _slow_calls_received(record) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert _slow_calls_received(record) == [{"ms": 30_000}]  # in flight at the server
        lilith.stdout.close()  # nobody reads any more: the client is gone, not half-closed
        lilith.stdin.close()
        closed = time.monotonic()
        exited = lilith.wait(15)
        took = time.monotonic() - closed
    finally:
        reap(lilith)
    assert exited == 0
    assert took < 4.0  # the stdin grace (0.5 s) and the server's stop; never the call's 30 s


def test_a_signal_after_the_client_closed_ends_the_wait(start_proxy: StartProxy) -> None:
    run = start_proxy("--shutdown-timeout", "0.5", server_args=("--finish-on-eof",))
    _pipeline(run.proxy, _slow_call(30_000))
    deadline = time.monotonic() + 10
    while not _slow_calls_received(run.record) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert _slow_calls_received(run.record) == [{"ms": 30_000}]
    time.sleep(0.3)  # Lilith has seen the EOF and waits for the answer
    signalled = time.monotonic()
    os.kill(run.proxy.proc.pid, signal.SIGTERM)
    messages = _read_to_eof(run.proxy)
    exited = run.proxy.proc.wait(10)
    took = time.monotonic() - signalled
    assert exited == 0  # the session ended with the client; the signal only cut the wait short
    assert took < 4.0
    answer = _answer(messages)
    assert answer["error"]["code"] == -32001 and "is gone" in answer["error"]["message"], answer


def test_an_idle_eof_still_ends_at_once(start_proxy: StartProxy) -> None:
    run = start_proxy("--shutdown-timeout", "2", server_args=("--finish-on-eof",))
    assert "result" in run.proxy.initialize()
    began = time.monotonic()
    assert run.proxy.close() == 0
    took = time.monotonic() - began
    assert took < 1.5  # the server exits at EOF; nothing is waited for (measured: ~20 ms, as before the fix)
