"""A stderr nobody reads never freezes Lilith (review 3, #3).

A client that captures Lilith's stderr and never drains it: once the pipe is full, every log call blocked,
under the session lock when the server reader logged a bad line, and then the main thread too. A server
printing thousands of lines that are not JSON (each logged as a warning) froze Lilith for good: SIGTERM
and EOF were ignored. The server's own stderr is Lilith's stderr (inherited, never copied through Lilith),
so a server that fills it could do the same through Lilith's own log lines.
"""

from __future__ import annotations

import json
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest

from tests.integration.harness import ROOT, all_gone, lilith_run, recorded, wait_until

LIFECYCLE = [sys.executable, str(ROOT / "tests" / "servers" / "lifecycle_server.py")]
HELLO = {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "test", "version": "1"}}
NOT_JSON_LINES = 12_000  # ~2 MB of warnings: more than the pipe and the log queue (1 MiB) hold


class Lilith:
    """``lilith run`` with its stderr a pipe this test does not read (yet)."""

    def __init__(self, tmp_path: Path, *server_args: str) -> None:
        self.record = tmp_path / "received.jsonl"
        server = [*LIFECYCLE, "noisy", *server_args, "--record", str(self.record)]
        self.proc = subprocess.Popen(
            lilith_run("--shutdown-timeout", "0.5", server=server),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        self._lines: queue.Queue[bytes] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()
        self.send({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": HELLO})
        assert self.answer()["id"] == 0
        self.tree = list(psutil.Process(self.proc.pid).children(recursive=True))

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._lines.put(line)

    def send(self, message: dict[str, object]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(message).encode() + b"\n")
        self.proc.stdin.flush()

    def answer(self) -> dict[str, object]:
        answer: dict[str, object] = json.loads(self._lines.get(timeout=10))  # a frozen Lilith: queue.Empty
        return answer

    def ping_answered(self, request_id: int) -> bool:
        """Lilith still works: a ping reaches the server and its answer comes back."""
        self.send({"jsonrpc": "2.0", "id": request_id, "method": "ping"})
        return self.answer() == {"jsonrpc": "2.0", "id": request_id, "result": {}}

    def ended_by(self, how: str) -> tuple[int, float]:
        began = time.monotonic()
        if how == "SIGTERM":
            self.proc.send_signal(signal.SIGTERM)
        else:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
        return self.proc.wait(15), time.monotonic() - began  # never, before the fix

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.mark.parametrize("how", ["SIGTERM", "EOF"])
def test_a_flood_of_warnings_to_a_stderr_nobody_reads_does_not_freeze_lilith(tmp_path: Path, how: str) -> None:
    lilith = Lilith(tmp_path, "--lines", str(NOT_JSON_LINES))
    try:
        assert lilith.ping_answered(1)  # after all the warnings: the reader and the session go on
        code, took = lilith.ended_by(how)
    finally:
        lilith.kill()
    assert code == (128 + signal.SIGTERM if how == "SIGTERM" else 0)
    assert took < 5  # the stop, and at most a second waiting for the stuck stderr at exit
    assert wait_until(lambda: all_gone(lilith.tree))
    assert [m["id"] for m in recorded(lilith.record)] == [0, 1]


def test_the_server_filling_the_shared_stderr_does_not_freeze_lilith(tmp_path: Path) -> None:
    """The server's stderr is Lilith's; 1 MB of its chatter fills it. Lilith answers and ends as usual."""
    lilith = Lilith(tmp_path, "--stderr-bytes", str(1 << 20))
    try:
        time.sleep(0.5)  # the chatter fills the pipe; Lilith logs on (request and end events)
        assert lilith.ping_answered(1)
        code, took = lilith.ended_by("EOF")
    finally:
        lilith.kill()
    assert code == 0
    assert took < 5
    assert wait_until(lambda: all_gone(lilith.tree))
    assert [m["id"] for m in recorded(lilith.record)] == [0, 1]


def test_lines_dropped_while_stderr_was_not_read_are_counted_once_it_is(tmp_path: Path) -> None:
    lilith = Lilith(tmp_path, "--lines", str(NOT_JSON_LINES))
    stderr = lilith.proc.stderr
    assert stderr is not None
    received = bytearray()
    try:
        assert lilith.ping_answered(1)  # every warning has been logged (or dropped) by now
        reader = threading.Thread(target=lambda: received.extend(stderr.read()), daemon=True)
        reader.start()  # stderr is read again
        assert lilith.ping_answered(2)
        code, _took = lilith.ended_by("EOF")
        reader.join(10)
    finally:
        lilith.kill()
    assert code == 0
    log = received.decode()
    assert log.endswith("\n")  # read to the end: every line whole
    warned = log.count(" server_sent_invalid_json ")
    dropped = [int(n) for n in re.findall(r"log_lines_dropped lines=(\d+)", log)]
    assert dropped and all(n > 0 for n in dropped)
    assert warned + sum(dropped) == NOT_JSON_LINES  # each bad line was either logged or counted
    assert "client_closed" in log  # and what came after the drops was written


def test_a_config_error_is_logged_then_said_each_on_a_line_of_its_own(tmp_path: Path) -> None:
    policy = tmp_path / "bad.yaml"
    policy.write_text("version: 1\nstatic_rules:\n  echo: MAYBE\n")
    for _ in range(3):  # the log line goes by a writer thread: it must be out before the message is printed
        done = subprocess.run(
            lilith_run("--policy", str(policy), server=["true"]), input=b"", capture_output=True, timeout=30
        )
        lines = done.stderr.decode().splitlines()
        assert done.returncode == 2
        said = [n for n, line in enumerate(lines) if line.startswith("lilith: ")]
        logged = [n for n, line in enumerate(lines) if line.startswith("lilith ERROR") and " config_error " in line]
        assert len(said) == 1 and len(logged) == 1 and logged[0] < said[0], lines
        assert "MAYBE" in lines[said[0]] and "lilith ERROR" not in lines[said[0]]
