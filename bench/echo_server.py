"""The floor: a raw newline-JSON MCP echo server (no SDK), the same for the direct and the proxied runs."""

from __future__ import annotations

import sys

import orjson


def main() -> None:
    read = sys.stdin.buffer.readline
    out = sys.stdout.buffer
    while True:
        line = read()
        if not line:
            return
        message = orjson.loads(line)
        if "id" not in message or "method" not in message:
            continue
        if message["method"] == "initialize":
            result: object = {
                "protocolVersion": "2025-11-25",
                "capabilities": {"tools": {}},
                "serverInfo": {"name": "echo"},
            }
        else:
            params = message.get("params") or {}
            result = {"content": [{"type": "text", "text": orjson.dumps(params.get("arguments")).decode()}]}
        out.write(orjson.dumps({"jsonrpc": "2.0", "id": message["id"], "result": result}) + b"\n")
        out.flush()


if __name__ == "__main__":
    main()
