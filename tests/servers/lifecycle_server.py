#!/usr/bin/env python3
"""Raw MCP servers that misbehave at the edges of a session's life (stdlib only), for the stdio shell's tests.

Usage::

    python tests/servers/lifecycle_server.py MODE [--bytes N] [--record PATH]

Modes:

``late``
    Read stdin to EOF first, then answer every request at once, each with a result padded to ``--bytes``
    bytes, and exit 0: every answer is written after the client (through Lilith) has closed its end.
``stuck``
    Answer the first request (the handshake), then never read stdin again (sleeps for an hour), so whatever
    is written to it beyond the pipe's buffer blocks the writer.
``spin``
    Answer ``initialize``; on ``x/spin`` burn CPU forever without answering (for a CPU cap).

``--record PATH`` appends every raw line the server read to PATH, flushed line by line.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
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


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["late", "stuck", "spin"])
    parser.add_argument("--bytes", type=int, default=1000)
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
