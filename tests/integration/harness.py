"""Drive a real ``lilith`` process from a test: write JSON-RPC lines, read what comes back."""

from __future__ import annotations

import json
import os
import queue
import select
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parents[2]
LILITH = str(Path(sys.executable).parent / "lilith")
HOSTILE = [sys.executable, str(ROOT / "tests" / "servers" / "hostile_server.py")]

ALLOW_ECHO_POLICY = """\
version: 1
static_rules:
  echo: ALLOW
  add: ALLOW
  crash: ALLOW
  hang: ALLOW
  garbage: ALLOW
  huge: ALLOW
  fork_daemon: ALLOW
  sample: ALLOW
  elicit: ALLOW
  notify: ALLOW
  slow: ALLOW
  exit_now: ALLOW
  "read_*": ALLOW
  delete_file: DENY
"""


class Proxy:
    """A running ``lilith run`` with pipes on both ends and stderr captured to a file."""

    def __init__(self, args: Sequence[str], tmp: Path, env: dict[str, str] | None = None) -> None:
        self.stderr_path = tmp / f"lilith-stderr-{time.monotonic_ns()}.log"
        self._stderr = self.stderr_path.open("wb")
        self.proc = subprocess.Popen(
            list(args), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr, env=env or dict(os.environ)
        )
        self.lines: queue.Queue[bytes | None] = queue.Queue()
        self._next = 0
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        stdout = self.proc.stdout
        if stdout is None:
            return
        for raw in stdout:
            self.lines.put(raw)
        self.lines.put(None)

    def send_raw(self, data: bytes) -> None:
        stdin = self.proc.stdin
        if stdin is None:
            raise RuntimeError("stdin closed")
        stdin.write(data)
        stdin.flush()

    def send(self, message: Any) -> None:
        self.send_raw(json.dumps(message).encode() + b"\n")

    def request(self, method: str, params: dict[str, Any] | None = None, request_id: Any = None) -> Any:
        if request_id is None:
            self._next += 1
            request_id = self._next
        message: dict[str, Any] = {"jsonrpc": "2.0", "id": request_id, "method": method}
        if params is not None:
            message["params"] = params
        self.send(message)
        return request_id

    def recv(self, timeout: float = 10.0) -> Any:
        raw = self.lines.get(timeout=timeout)
        if raw is None:
            raise EOFError("lilith closed its stdout")
        return json.loads(raw)

    def recv_raw(self, timeout: float = 10.0) -> bytes | None:
        return self.lines.get(timeout=timeout)

    def call(self, method: str, params: dict[str, Any] | None = None, timeout: float = 10.0) -> Any:
        request_id = self.request(method, params)
        while True:
            reply = self.recv(timeout)
            if reply.get("id") == request_id and "method" not in reply:
                return reply

    def tool(self, name: str, arguments: dict[str, Any] | None = None, timeout: float = 10.0) -> Any:
        return self.call("tools/call", {"name": name, "arguments": arguments or {}}, timeout)

    def initialize(self, version: str = "2025-11-25") -> Any:
        reply = self.call(
            "initialize",
            {
                "protocolVersion": version,
                "capabilities": {"sampling": {}, "elicitation": {}, "roots": {}},
                "clientInfo": {"name": "test", "version": "1"},
            },
        )
        self.send({"jsonrpc": "2.0", "method": "notifications/initialized"})
        return reply

    def nothing_more(self, wait: float = 0.3) -> bool:
        try:
            self.lines.get(timeout=wait)
        except queue.Empty:
            return True
        return False

    def close(self, timeout: float = 10.0) -> int:
        if self.proc.stdin is not None and not self.proc.stdin.closed:
            try:
                self.proc.stdin.close()
            except BrokenPipeError:
                pass
        try:
            return self.proc.wait(timeout)
        finally:
            self._stderr.close()

    def stderr(self) -> str:
        if not self._stderr.closed:
            self._stderr.flush()
        return self.stderr_path.read_text(errors="replace")

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self._stderr.close()


def lilith_run(*options: str, server: Sequence[str] | None = None) -> list[str]:
    return [LILITH, "run", *options, "--", *(server if server is not None else HOSTILE)]


def recorded(path: Path) -> list[Any]:
    """What the hostile server received, parsed (lines that are not JSON are kept as bytes)."""
    if not path.exists():
        return []
    out: list[Any] = []
    for raw in path.read_bytes().splitlines():
        try:
            out.append(json.loads(raw))
        except ValueError:
            out.append(raw)
    return out


def wait_until(predicate: Any, timeout: float = 5.0, interval: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())


def all_gone(processes: list[psutil.Process]) -> bool:
    """Has every one of ``processes`` exited (a zombie waiting for its parent counts as gone)?"""

    def gone(process: psutil.Process) -> bool:
        try:
            return bool(process.status() == psutil.STATUS_ZOMBIE)
        except psutil.NoSuchProcess:
            return True

    return all(gone(process) for process in processes)


def reap(process: subprocess.Popen[bytes]) -> None:
    """Kill ``process`` if a test left it running, and collect it."""
    if process.poll() is None:
        process.kill()
        process.wait()


def drain_pty(leader: int, timeout: float) -> bytes:
    """Everything written to a pseudo-terminal's other side until it is closed and drained (EIO) or nothing
    comes for ``timeout`` seconds. Read while the writer runs: a pty holds only a few KiB."""
    chunks = []
    while select.select([leader], [], [], timeout)[0]:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # EIO: the other side is closed and drained
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)
