"""A raw newline-JSON MCP client: sends requests one at a time and keeps every line it gets back as bytes,
so a run straight to a server and a run through Lilith can be compared byte for byte."""

from __future__ import annotations

import json
import queue
import subprocess
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

PROTOCOL_VERSION = "2025-11-25"
ANSWER_TIMEOUT = 30.0


class Exchange:
    """One request and what came back for it: the answer line and any lines before it (notifications)."""

    __slots__ = ("answer", "before", "request")

    def __init__(self, request: dict[str, Any], answer: bytes, before: list[bytes]) -> None:
        self.request = request
        self.answer = answer
        self.before = before


class RawClient:
    def __init__(self, argv: Sequence[str], env: dict[str, str], cwd: Path, stderr: Path) -> None:
        self._stderr = stderr.open("ab")
        self.proc = subprocess.Popen(
            list(argv), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr, env=env, cwd=cwd
        )
        self._lines: queue.Queue[bytes | None] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            self._lines.put(raw.rstrip(b"\n"))
        self._lines.put(None)

    def _send(self, message: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(message, ensure_ascii=False).encode() + b"\n")
        self.proc.stdin.flush()

    def exchange(self, request: dict[str, Any]) -> Exchange:
        """Send one request and wait for the line that answers it."""
        self._send(request)
        before: list[bytes] = []
        while True:
            raw = self._lines.get(timeout=ANSWER_TIMEOUT)
            if raw is None:
                raise EOFError(f"the server closed its output before answering {request.get('id')!r}")
            message = json.loads(raw)
            if isinstance(message, dict) and "method" not in message and message.get("id") == request["id"]:
                return Exchange(request, raw, before)
            before.append(raw)

    def initialize(self) -> Exchange:
        handshake = self.exchange(
            {
                "jsonrpc": "2.0",
                "id": 0,
                "method": "initialize",
                "params": {
                    "protocolVersion": PROTOCOL_VERSION,
                    "capabilities": {},
                    "clientInfo": {"name": "lilith-benign-corpus", "version": "1"},
                },
            }
        )
        self._send({"jsonrpc": "2.0", "method": "notifications/initialized"})
        return handshake

    def close(self) -> None:
        if self.proc.stdin is not None and not self.proc.stdin.closed:
            try:
                self.proc.stdin.close()
            except BrokenPipeError:
                pass
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
        self._stderr.close()
