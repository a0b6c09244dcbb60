"""A client that reads slowly but steadily gets every answer whole at the end (review 3, #1).

The ending waited for writes to the client only while ``Pipe.progress`` moved, and that moved only for
messages over 64 KiB: an ordinary answer sat in one write the kernel was slowly handing to the client, the
grace ran out, and Lilith exited with a line cut in half (143 answers of 150). And the server, held up only
by that back-pressure, was SIGTERMed after the grace while the client was still reading its answers.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import IO

import pytest

from tests.integration.harness import ROOT, Proxy, lilith_run, reap, recorded

LIFECYCLE = [sys.executable, str(ROOT / "tests" / "servers" / "lifecycle_server.py")]
GRACE = "0.5"


def _pings(count: int) -> bytes:
    return b"".join(json.dumps({"jsonrpc": "2.0", "id": n, "method": "ping"}).encode() + b"\n" for n in range(count))


def _read_slowly(read: IO[bytes] | socket.socket, piece: int, pause: float) -> tuple[bytes, float]:
    """Everything until EOF, ``piece`` bytes at a time with a pause after each; and how long it took."""
    received = bytearray()
    began = time.monotonic()
    while chunk := (read.recv(piece) if isinstance(read, socket.socket) else os.read(read.fileno(), piece)):
        received += chunk
        time.sleep(pause)
    return bytes(received), time.monotonic() - began


def _send_then_read_slowly(
    server: list[str], stderr: Path, requests: bytes, piece: int, pause: float
) -> tuple[bytes, float, int]:
    """Lilith in front of ``server``: send ``requests``, close stdin, read slowly to EOF; (bytes, seconds, code)."""
    lilith = subprocess.Popen(
        lilith_run("--shutdown-timeout", GRACE, server=server),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=stderr.open("wb"),
    )
    assert lilith.stdin is not None and lilith.stdout is not None
    try:
        lilith.stdin.write(requests)
        lilith.stdin.close()
        received, took = _read_slowly(lilith.stdout, piece, pause)
        return received, took, lilith.wait(10)
    finally:
        reap(lilith)


def _answers(received: bytes) -> list[dict[str, object]]:
    assert received.endswith(b"\n"), received[-80:]  # never half a line
    return [json.loads(line) for line in received.splitlines()]


@pytest.mark.parametrize("transport", ["pipe", "socket"])
def test_a_slow_steady_reader_gets_every_answer_whole(tmp_path: Path, transport: str) -> None:
    """400 answers of ~700 bytes (no write over 64 KiB; more than a socket's buffer), read at ~200 KB/s:
    ~1.5 s, three graces."""
    record, stderr = tmp_path / "received.jsonl", tmp_path / "stderr.log"
    argv = lilith_run(
        "--shutdown-timeout", GRACE, server=[*LIFECYCLE, "late", "--bytes", "700", "--record", str(record)]
    )
    if transport == "pipe":
        lilith = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr.open("wb"))
        assert lilith.stdin is not None and lilith.stdout is not None
        lilith.stdin.write(_pings(400))
        lilith.stdin.close()
        reader: IO[bytes] | socket.socket = lilith.stdout
    else:  # as Node (libuv) gives a child its stdio: one socket for both directions
        ours, theirs = socket.socketpair()
        lilith = subprocess.Popen(argv, stdin=theirs.fileno(), stdout=theirs.fileno(), stderr=stderr.open("wb"))
        theirs.close()
        ours.sendall(_pings(400))
        ours.shutdown(socket.SHUT_WR)
        reader = ours
    try:
        received, took = _read_slowly(reader, 4096, 0.02)
        code = lilith.wait(10)
    finally:
        reap(lilith)
        reader.close()
    answers = _answers(received)
    assert [a["id"] for a in answers] == list(range(400))
    assert all("result" in a for a in answers)
    assert [m["id"] for m in recorded(record)] == list(range(400))
    assert "client_write_abandoned" not in stderr.read_text()
    assert code == 0
    assert took > 2 * float(GRACE)  # the client really was slower than the grace


def test_a_server_held_up_only_by_a_slow_client_is_not_signalled(tmp_path: Path) -> None:
    """1,200 answers of 1 KB: the server's one write waits on the client (~2.5 s), far past both graces."""
    record, stderr = tmp_path / "received.jsonl", tmp_path / "stderr.log"
    server = [*LIFECYCLE, "late", "--bytes", "1000", "--record", str(record)]
    received, took, code = _send_then_read_slowly(server, stderr, _pings(1200), 8192, 0.015)
    answers = _answers(received)
    assert [a["id"] for a in answers] == list(range(1200))
    assert [a for a in answers if "result" not in a] == []  # none became "the server is gone"
    assert len(recorded(record)) == 1200
    log = stderr.read_text()
    assert "server_stopped reason='exited with status 0'" in log  # it ended on its own, not by SIGTERM
    assert code == 0
    assert took > 4 * float(GRACE)


def test_a_server_that_goes_on_talking_after_eof_is_still_stopped_after_the_grace(tmp_path: Path) -> None:
    """The graces are renewed only while a write to the client waits on it; a heartbeat that ignores EOF,
    read at once by the client, does not keep the server (and Lilith) alive."""
    record = tmp_path / "received.jsonl"
    proxy = Proxy(
        lilith_run("--shutdown-timeout", GRACE, server=[*LIFECYCLE, "chatty", "--record", str(record)]), tmp_path
    )
    try:
        assert proxy.call("ping")["result"] == {}
        began = time.monotonic()
        code = proxy.close(timeout=10)
        took = time.monotonic() - began
        beats = []
        while (raw := proxy.recv_raw(timeout=10)) is not None:
            beats.append(json.loads(raw))
    finally:
        proxy.kill()
    assert code == 0
    assert took < 2 * float(GRACE) + 1.5  # stdin grace, term grace, and the exit
    assert beats and {beat["method"] for beat in beats} == {"notifications/message"}
    assert "server_stopped reason='killed by SIGTERM'" in proxy.stderr()
    assert [m["method"] for m in recorded(record)] == ["ping"]


def test_a_flooding_server_that_ignores_eof_is_stopped_even_while_the_client_reads(tmp_path: Path) -> None:
    """A reading client renews the shutdown graces, but only up to ten graces each: a server that floods
    the client forever (``lilith ... | tee``) must not keep Lilith alive."""
    stderr = tmp_path / "stderr.log"
    received, took, code = _send_then_read_slowly([*LIFECYCLE, "chatty", "--flood"], stderr, _pings(1), 4096, 0.02)
    assert took < 2 * 10 * float(GRACE) + 5  # two waits of at most ten graces, and the drain
    assert code == 0
    assert "server_stopped reason='killed by" in stderr.read_text()
    assert received.endswith(b"\n")  # whole lines to the end
