"""A timed-out request's cancellation reaches a server that reads again (review 3, #4).

The main thread wrote cancellations only when the server pipe's lock was free, and dropped them otherwise,
as "the server is not reading", though the lock is usually held by the client reader for a moment (or, as
here, by a write the server will take in a second). Now they go by a courier with a bounded queue: dropped
only when that queue is full, and said so; what a server never read is counted at the end.
"""

from __future__ import annotations

import json
import queue
import sys
from pathlib import Path
from typing import Any

from tests.integration.harness import ROOT, Proxy, lilith_run, recorded, wait_until

LIFECYCLE = [sys.executable, str(ROOT / "tests" / "servers" / "lifecycle_server.py")]
HELLO = {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "test", "version": "1"}}
TIMEOUT_CODE = -32001


def _cancelled(record: Path) -> list[Any]:
    return [m["params"]["requestId"] for m in recorded(record) if m.get("method") == "notifications/cancelled"]


def test_a_cancellation_waits_for_a_pipe_held_by_a_blocked_write(tmp_path: Path) -> None:
    record = tmp_path / "received.jsonl"
    server = [*LIFECYCLE, "delayed", "--pause", "2", "--record", str(record)]  # reads again after 2 s
    proxy = Proxy(lilith_run("--request-timeout", "0.5", server=server), tmp_path)
    try:
        assert proxy.call("initialize", HELLO)["id"] == 1
        slow = proxy.request("ping", {"delay": 60})
        # 150 KB behind it: the reader's write of it blocks on the full pipe, holding the pipe's lock,
        # when the timeout comes.
        notice = {"jsonrpc": "2.0", "method": "notifications/x", "params": {"pad": "x" * 10_000}}
        proxy.send_raw((json.dumps(notice).encode() + b"\n") * 15)
        reply = proxy.recv(timeout=10)
        assert reply["id"] == slow and reply["error"]["code"] == TIMEOUT_CODE
        assert wait_until(lambda: _cancelled(record) == [slow], timeout=10)  # dropped, before the fix
        assert proxy.close() == 0
    finally:
        proxy.kill()
    methods = [m.get("method") for m in recorded(record)]
    assert methods[:2] == ["initialize", "ping"]  # the cancellation comes after the request it cancels
    assert sorted(methods[2:]) == ["notifications/cancelled", *["notifications/x"] * 15]
    assert "server_notice_dropped" not in proxy.stderr()


def test_cancellations_beyond_the_queue_are_dropped_and_said_so(tmp_path: Path) -> None:
    """Over 1,500 requests reach a server that stopped reading (they fill its pipe, and the reader's write
    that blocks, holding the pipe to the end); all time out. A thousand cancellations wait for the server;
    the rest are dropped as "queue full"."""
    record = tmp_path / "received.jsonl"
    server = [*LIFECYCLE, "stuck", "--record", str(record)]
    proxy = Proxy(lilith_run("--request-timeout", "0.5", "--shutdown-timeout", "0.5", server=server), tmp_path)
    try:
        assert proxy.call("initialize", HELLO)["id"] == 1
        # 115 KB: Lilith forwards ~41 bytes of each, so its reader blocks after ~1,600 of them (the pipe
        # holds 64 KiB); what it has not read waits in its stdin and is never seen by the session.
        pings = [{"jsonrpc": "2.0", "id": n, "method": "ping"} for n in range(2, 2502)]
        proxy.send_raw(b"".join(json.dumps(ping).encode() + b"\n" for ping in pings))
        timed_out = []
        while True:  # every answer, until none came for 1.5 s (they all come 0.5 s after the requests)
            try:
                timed_out.append(proxy.recv(timeout=1.5))
            except queue.Empty:
                break
        assert proxy.close() == 0
    finally:
        proxy.kill()
    assert len(timed_out) > 1500
    assert {reply["error"]["code"] for reply in timed_out} == {TIMEOUT_CODE}
    log = proxy.stderr()
    dropped = [line for line in log.splitlines() if "server_notice_dropped" in line]
    assert all("queue full: 1000 notices are still waiting" in line for line in dropped)
    assert sum(int(line.split("lines=")[1].split()[0]) for line in dropped) == len(timed_out) - 1000
    assert "server_notices_undelivered lines=1000" in log  # counted at the end: it never read them
    assert [m["method"] for m in recorded(record)] == ["initialize"]
