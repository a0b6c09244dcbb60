"""A peer that stops reading never takes Lilith's lifecycle with it (review A, #2).

Lilith's reader threads block on a peer that does not read (that is the back-pressure), but the main thread
times requests out, handles signals and the client's leaving, and stops the server. It used to write a
timed-out request's cancellation to the server itself and wait for the pipe a blocked reader held: the
client never got its -32001, and only SIGKILL ended Lilith.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import IO, Any

import psutil

from tests.integration.harness import (
    ALLOW_ECHO_POLICY,
    HOSTILE,
    ROOT,
    Proxy,
    all_gone,
    lilith_run,
    reap,
    recorded,
    wait_until,
)

LIFECYCLE = [sys.executable, str(ROOT / "tests" / "servers" / "lifecycle_server.py")]
TIMEOUT_CODE = -32001
BIG = 16 << 20  # far more than the pipes between Lilith and the client hold
HELLO = {
    "protocolVersion": "2025-11-25",
    "capabilities": {},
    "clientInfo": {"name": "test", "version": "1"},
}


def _tree(pid: int) -> list[psutil.Process]:
    return list(psutil.Process(pid).children(recursive=True))


def _stuck_server_with_a_blocked_write(tmp_path: Path) -> tuple[Proxy, Path, list[psutil.Process], Any, float]:
    """A server that stopped reading, and a 200 KB request Lilith's client reader is blocked writing to it."""
    record = tmp_path / "received.jsonl"
    server = [*LIFECYCLE, "stuck", "--record", str(record)]
    proxy = Proxy(lilith_run("--request-timeout", "1", "--shutdown-timeout", "1", server=server), tmp_path)
    assert "result" in proxy.call("initialize", HELLO)
    tree = _tree(proxy.proc.pid)
    sent = time.monotonic()
    big = proxy.request("x/store", {"blob": "x" * 200_000})  # an extension method: forwarded as it is
    return proxy, record, tree, big, sent


def test_the_timeout_reaches_the_client_and_sigterm_ends_lilith(tmp_path: Path) -> None:
    proxy, record, tree, big, sent = _stuck_server_with_a_blocked_write(tmp_path)
    try:
        reply = proxy.recv(timeout=10)
        assert reply["id"] == big and reply["error"]["code"] == TIMEOUT_CODE
        assert time.monotonic() - sent < 5.0  # 1 s, and the deadline poll; never, before the fix
        os.kill(proxy.proc.pid, signal.SIGTERM)
        assert proxy.proc.wait(10) == 128 + signal.SIGTERM
    finally:
        proxy.kill()
    assert wait_until(lambda: all_gone(tree))
    # The cancellation waited for the server by courier; it never read it, and Lilith says so at the end.
    assert "server_notices_undelivered lines=1" in proxy.stderr()
    assert [m["method"] for m in recorded(record)] == ["initialize"]  # the server never read more


def test_a_client_that_hangs_up_ends_lilith_while_its_reader_is_blocked(tmp_path: Path) -> None:
    proxy, _record, tree, big, _sent = _stuck_server_with_a_blocked_write(tmp_path)
    try:
        assert proxy.recv(timeout=10)["id"] == big
        assert proxy.close(timeout=10) == 0  # seen without reading: the reader cannot get to its EOF
    finally:
        proxy.kill()
    assert wait_until(lambda: all_gone(tree))
    assert "client_hung_up" in proxy.stderr()


def _client_that_stops_reading(tmp_path: Path) -> tuple[subprocess.Popen[bytes], IO[bytes], IO[bytes], Path]:
    """Lilith in front of the hostile server; a 16 MB answer fills the client's pipe, which nobody reads,
    and a ``hang`` call times out behind it."""
    policy, record = tmp_path / "policy.yaml", tmp_path / "received.jsonl"
    policy.write_text(ALLOW_ECHO_POLICY)
    argv = lilith_run(
        "--policy", str(policy), "--request-timeout", "1", "--shutdown-timeout", "1",
        server=[*HOSTILE, "--record", str(record)],
    )  # fmt: skip
    lilith = subprocess.Popen(
        argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=(tmp_path / "stderr.log").open("wb")
    )
    assert lilith.stdin is not None and lilith.stdout is not None
    calls = [
        {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": HELLO},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "huge", "arguments": {"bytes": BIG}}},
        {"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": "hang", "arguments": {}}},
    ]
    lilith.stdin.write(json.dumps(calls[0]).encode() + b"\n")
    lilith.stdin.flush()
    assert json.loads(lilith.stdout.readline())["id"] == 1
    lilith.stdin.write(b"".join(json.dumps(call).encode() + b"\n" for call in calls[1:]))
    lilith.stdin.flush()
    assert wait_until(lambda: "request_timeout" in (tmp_path / "stderr.log").read_text(), timeout=10)
    return lilith, lilith.stdin, lilith.stdout, record


def _cancelled(record: Path) -> list[Any]:
    return [m["params"]["requestId"] for m in recorded(record) if m.get("method") == "notifications/cancelled"]


def test_sigterm_ends_lilith_while_the_client_reads_nothing(tmp_path: Path) -> None:
    lilith, _stdin, stdout, record = _client_that_stops_reading(tmp_path)
    # The server reads: the cancellation reaches it (by courier, so a moment after the timeout is logged).
    assert wait_until(lambda: _cancelled(record) == [3], timeout=10)
    try:
        lilith.send_signal(signal.SIGTERM)
        code = lilith.wait(15)  # stop the server, then give the client 1 s to read: it does not
    finally:
        reap(lilith)
        stdout.close()
    assert code == 128 + signal.SIGTERM
    assert "client_write_abandoned" in (tmp_path / "stderr.log").read_text()


def test_a_client_that_reads_again_gets_every_answer_whole(tmp_path: Path) -> None:
    lilith, _stdin, stdout, record = _client_that_stops_reading(tmp_path)
    assert wait_until(lambda: _cancelled(record) == [3], timeout=10)  # the reading server got the cancellation
    try:
        lilith.send_signal(signal.SIGTERM)
        time.sleep(0.3)  # the server stops; the client starts reading again within the grace
        lines = stdout.read().splitlines(keepends=True)
        code = lilith.wait(15)
    finally:
        reap(lilith)
        stdout.close()
    assert code == 128 + signal.SIGTERM
    assert all(line.endswith(b"\n") for line in lines)
    answers = {message["id"]: message for message in map(json.loads, lines)}
    assert sorted(answers) == [2, 3]
    assert len(answers[2]["result"]["content"][0]["text"]) == BIG
    assert answers[3]["error"]["code"] == TIMEOUT_CODE
