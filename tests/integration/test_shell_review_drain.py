"""Answers the server writes after the client closed its end still reach the client, whole (review A, #1).

The client sends its requests and closes Lilith's stdin at once (``printf ... | lilith run``); the server
answers only then. Lilith used to return as soon as the server's tree was gone, closing the server's stdout
under its reader and exiting while that reader was in the middle of a write: the client got one answer of
two, or half a line.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.integration.harness import ROOT, Proxy, lilith_run, reap, recorded

LIFECYCLE = [sys.executable, str(ROOT / "tests" / "servers" / "lifecycle_server.py")]
MB = 1_000_000


def _ping(request_id: int) -> bytes:
    return json.dumps({"jsonrpc": "2.0", "id": request_id, "method": "ping"}).encode() + b"\n"


def _everything(proxy: Proxy) -> list[bytes]:
    """Every raw line Lilith wrote, until its stdout closed."""
    lines = []
    while (raw := proxy.recv_raw(timeout=10)) is not None:
        lines.append(raw)
    return lines


@pytest.mark.parametrize("attempt", range(3))
def test_answers_written_after_the_client_closed_arrive_whole(tmp_path: Path, attempt: int) -> None:
    record = tmp_path / "received.jsonl"
    server = [*LIFECYCLE, "late", "--bytes", str(5 * MB), "--record", str(record)]
    proxy = Proxy(lilith_run(server=server), tmp_path)
    try:
        proxy.send_raw(_ping(1) + _ping(2))
        assert proxy.close() == 0
        lines = _everything(proxy)
    finally:
        proxy.kill()
    assert [m["id"] for m in recorded(record)] == [1, 2]
    assert all(raw.endswith(b"\n") for raw in lines), [raw[-40:] for raw in lines]
    answers = [json.loads(raw) for raw in lines]
    assert [a["id"] for a in answers] == [1, 2]
    assert all(len(a["result"]["pad"]) == 5 * MB for a in answers)


def test_a_slow_client_gets_the_whole_answer_even_past_the_shutdown_grace(tmp_path: Path) -> None:
    """The write under way goes on as long as the client keeps reading: here ~3 s, with a 1 s grace."""
    record = tmp_path / "received.jsonl"
    server = [*LIFECYCLE, "late", "--bytes", str(4 * MB), "--record", str(record)]
    lilith = subprocess.Popen(
        lilith_run("--shutdown-timeout", "1", server=server),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=(tmp_path / "stderr.log").open("wb"),
    )
    assert lilith.stdin is not None and lilith.stdout is not None
    try:
        lilith.stdin.write(_ping(7))
        lilith.stdin.close()
        received = bytearray()
        began = time.monotonic()
        while chunk := os.read(lilith.stdout.fileno(), 64 * 1024):
            received += chunk
            time.sleep(0.05)  # ~1.3 MB/s
        took = time.monotonic() - began
        code = lilith.wait(10)
    finally:
        reap(lilith)
    assert code == 0
    assert took > 2.0  # the client really was slower than the grace
    assert received.endswith(b"\n") and received.count(b"\n") == 1
    answer = json.loads(received)
    assert answer["id"] == 7 and len(answer["result"]["pad"]) == 4 * MB
    assert [m["id"] for m in recorded(record)] == [7]
