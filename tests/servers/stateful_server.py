#!/usr/bin/env python3
"""A raw MCP server that keeps per-process state a client sets, and can crash (stdlib only).

Usage: ``python tests/servers/stateful_server.py [--record PATH] [--list-changed]`` (``--record``: append
every raw line received, so a test can assert what reached each process, a restarted one included;
``--list-changed``: say in ``initialize`` that its tool and prompt lists may change).

``logging/setLevel`` and ``resources/subscribe`` / ``resources/unsubscribe`` change this process's state.
Tools: ``state`` answers with this process's pid, logging level and subscriptions (``structuredContent``);
``crash`` exits with status 3 without answering.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

JSONObj = dict[str, Any]
CAPABILITIES: JSONObj = {"tools": {}, "resources": {"subscribe": True}, "logging": {}}


class StatefulServer:
    def __init__(self, record: str | None, capabilities: JSONObj) -> None:
        self._capabilities = capabilities
        self._record = open(record, "ab", buffering=0) if record else None  # noqa: SIM115 - open for the run
        self.level = "(default)"
        self.subscriptions: list[str] = []

    def serve(self) -> None:
        for raw in sys.stdin.buffer:
            if self._record is not None:
                self._record.write(raw)
            try:
                message = json.loads(raw)
            except ValueError:
                continue
            if isinstance(message, dict) and "id" in message and isinstance(message.get("method"), str):
                params = message.get("params")
                answer = self.answer(message["method"], params if isinstance(params, dict) else {})
                sys.stdout.write(json.dumps({"jsonrpc": "2.0", "id": message["id"], **answer}) + "\n")
                sys.stdout.flush()

    def answer(self, method: str, params: JSONObj) -> JSONObj:
        if method == "initialize":
            info = {"name": "stateful", "version": "1"}
            return {"result": {"protocolVersion": "2025-11-25", "capabilities": self._capabilities, "serverInfo": info}}
        if method == "logging/setLevel":
            self.level = str(params.get("level"))
            return {"result": {}}
        uri = params.get("uri")
        if method == "resources/subscribe" and isinstance(uri, str):
            if uri not in self.subscriptions:
                self.subscriptions.append(uri)
            return {"result": {}}
        if method == "resources/unsubscribe" and uri in self.subscriptions:
            self.subscriptions.remove(uri)
            return {"result": {}}
        if method == "tools/call" and params.get("name") == "crash":
            sys.exit(3)
        if method == "tools/call" and params.get("name") == "state":
            state = {"pid": os.getpid(), "level": self.level, "subscriptions": self.subscriptions}
            return {"result": {"content": [{"type": "text", "text": json.dumps(state)}], "structuredContent": state}}
        return {"error": {"code": -32601, "message": f"Method not found: {method}"}}


def main(argv: list[str]) -> int:
    record = argv[argv.index("--record") + 1] if "--record" in argv else None
    capabilities = dict(CAPABILITIES)
    if "--list-changed" in argv:
        capabilities.update(tools={"listChanged": True}, prompts={"listChanged": True})
    StatefulServer(record, capabilities).serve()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
