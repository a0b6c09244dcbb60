#!/usr/bin/env python3
"""Raw MCP servers that misbehave at the edges of a session's life (stdlib only), for the stdio shell's tests.

Usage::

    python tests/servers/lifecycle_server.py MODE [--bytes N] [--lines N] [--stderr-bytes N] [--pause S]
                                             [--record PATH]

Modes:

``late``
    Read stdin to EOF first, then answer every request at once, each with a result padded to ``--bytes``
    bytes, and exit 0: every answer is written after the client (through Lilith) has closed its end.
``stuck``
    Answer the first request (the handshake), then never read stdin again (sleeps for an hour), so whatever
    is written to it beyond the pipe's buffer blocks the writer.
``spin``
    Answer ``initialize``; on ``x/spin`` burn CPU forever without answering (for a CPU cap).
``noisy``
    Answer ``initialize``, then write ``--lines`` lines that are not JSON to stdout (Lilith logs each one),
    and ``--stderr-bytes`` bytes to stderr from a thread of their own (they wait there while nobody reads
    it); answer every later request with an empty result, to EOF.
``chatty``
    Answer every request; at EOF go on talking: a progress notification every 0.1 s, forever (until a
    signal), as a server with a heartbeat that ignores the end of its input. ``--flood``: 1 KB lines
    without a pause, as fast as the client takes them.
``delayed``
    Answer every request after ``params.delay`` seconds (0 when absent), each from a timer of its own, so
    answers come late and out of order; to EOF. With ``--pause S``, stop reading for S seconds after the
    first request (the handshake) is answered, then read on.

``--record PATH`` appends every raw line the server read to PATH, flushed line by line.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from collections.abc import Callable
from typing import Any, BinaryIO

HANDSHAKE = {"protocolVersion": "2025-11-25", "capabilities": {}, "serverInfo": {"name": "lifecycle", "version": "1"}}


def answer(out: BinaryIO, request_id: Any, result: dict[str, Any]) -> None:
    out.write(json.dumps({"jsonrpc": "2.0", "id": request_id, "result": result}).encode() + b"\n")
    out.flush()


def late(lines: list[bytes], out: BinaryIO, size: int) -> None:
    answers = []
    for raw in lines:
        message = json.loads(raw)
        if "id" in message and "method" in message:
            answers.append(json.dumps({"jsonrpc": "2.0", "id": message["id"], "result": {"pad": "x" * size}}))
    out.write(("\n".join(answers) + "\n").encode() if answers else b"")
    out.flush()


def write_all(fd: int, data: bytes) -> None:
    while data:
        data = data[os.write(fd, data) :]


def noisy(read_line: Callable[[], bytes], out: BinaryIO, lines: int, stderr_bytes: int) -> None:
    if stderr_bytes:
        chatter = b"".join(b"server chatter %08d %s\n" % (n, b"." * 60) for n in range(stderr_bytes // 85 + 1))
        # os.write, not sys.stderr: a write blocked in the buffered stream would hold its lock at exit.
        threading.Thread(target=write_all, args=(2, chatter[:stderr_bytes]), daemon=True).start()
    first = True
    while raw := read_line():
        message = json.loads(raw)
        if "id" not in message or "method" not in message:
            continue
        answer(out, message["id"], HANDSHAKE if message["method"] == "initialize" else {})
        if first:
            first = False
            out.write(b"".join(b"not json %06d %s\n" % (n, b"-" * 60) for n in range(lines)))
            out.flush()


def delayed(read_line: Callable[[], bytes], out: BinaryIO, pause: float) -> None:
    lock = threading.Lock()

    def later(request_id: Any, result: dict[str, Any]) -> None:
        with lock:
            answer(out, request_id, result)

    first = True
    while raw := read_line():
        message = json.loads(raw)
        if "id" in message and "method" in message:
            result = HANDSHAKE if message["method"] == "initialize" else {"ok": True}
            delay = float((message.get("params") or {}).get("delay", 0))
            if first:
                later(message["id"], result)
                first = False
                time.sleep(pause)
                continue
            timer = threading.Timer(delay, later, args=(message["id"], result))
            timer.daemon = True  # answers still due at EOF are not waited for
            timer.start()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["late", "stuck", "spin", "noisy", "delayed", "chatty"])
    parser.add_argument("--bytes", type=int, default=1000)
    parser.add_argument("--lines", type=int, default=0)
    parser.add_argument("--stderr-bytes", type=int, default=0)
    parser.add_argument("--pause", type=float, default=0.0)
    parser.add_argument("--flood", action="store_true")  # chatty: 1 KB lines without a pause
    parser.add_argument("--record")
    args = parser.parse_args(argv)
    record = open(args.record, "ab", buffering=0) if args.record else None  # noqa: SIM115 - lives as long as we do
    stdin, out = sys.stdin.buffer, sys.stdout.buffer

    def read_line() -> bytes:
        raw = stdin.readline()
        if record is not None and raw:
            record.write(raw)
        return raw

    if args.mode == "late":
        lines = list(iter(read_line, b""))
        late(lines, out, args.bytes)
        return 0
    if args.mode == "noisy":
        noisy(read_line, out, args.lines, args.stderr_bytes)
        return 0
    if args.mode == "chatty":
        while raw := read_line():
            message = json.loads(raw)
            if "id" in message and "method" in message:
                answer(out, message["id"], HANDSHAKE if message["method"] == "initialize" else {})
        data = "x" * 1000 if args.flood else "beat"
        beat = {"jsonrpc": "2.0", "method": "notifications/message", "params": {"level": "info", "data": data}}
        while True:
            out.write(json.dumps(beat).encode() + b"\n")
            out.flush()
            if not args.flood:
                time.sleep(0.1)
    if args.mode == "delayed":
        delayed(read_line, out, args.pause)
        return 0
    if args.mode == "stuck":
        first = read_line()
        if first:
            answer(out, json.loads(first)["id"], HANDSHAKE)
        time.sleep(3600)
        return 0
    while raw := read_line():  # spin
        message = json.loads(raw)
        if message.get("method") == "initialize":
            answer(out, message["id"], HANDSHAKE)
        elif message.get("method") == "x/spin":
            while True:
                pass
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
