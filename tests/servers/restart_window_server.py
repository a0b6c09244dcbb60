#!/usr/bin/env python3
"""A raw legacy MCP server for the restart tests (stdlib only): what a restarted server may be sent.

Usage::

    python tests/servers/restart_window_server.py --record PATH

``--record PATH``
    Append one JSON line per message received: ``{"pid": ..., "message": ...}``, so a test can tell
    which server process got what (a restarted server appends to the same file).

Tools (all answer with a text result unless said otherwise):

``transfer`` ``{...}``
    A side effect: the record says it ran, and where.
``ask`` ``{"message": "..."}``
    Sends ``elicitation/create`` with ids numbered from 0 in each process (as the SDK's servers do), and
    answers the call with the client's action once the client answers that id.
``close_stdout_and_linger`` ``{"marker": PATH}``
    Closes stdout without answering, creates ``marker``, then sleeps until killed: a server that shut its
    output and is still cleaning up.
``crash``
    Exits with status 3 at once, without answering.
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

JSONObj = dict[str, Any]


class Server:
    def __init__(self, record: str) -> None:
        self._record = open(record, "a", encoding="utf-8")  # noqa: SIM115 - lives for the process
        self._next_question = 0
        self._asked: dict[int, tuple[Any, str]] = {}  # elicitation id -> (tools/call id, question)

    def send(self, message: JSONObj) -> None:
        sys.stdout.write(json.dumps(message) + "\n")
        sys.stdout.flush()

    def serve(self) -> None:
        for line in sys.stdin:
            message = json.loads(line)
            self._record.write(json.dumps({"pid": os.getpid(), "message": message}) + "\n")
            self._record.flush()
            if "method" not in message:
                self.answered(message)
            elif "id" in message:
                self.request(message["id"], message["method"], message.get("params") or {})

    def answered(self, message: JSONObj) -> None:
        answer_id = message.get("id")
        asked = self._asked.pop(answer_id, None) if isinstance(answer_id, int) else None
        if asked is None:
            return
        action = (message.get("result") or {}).get("action", "error")
        self.send(_text(asked[0], f"{asked[1]}: {action}"))

    def request(self, request_id: Any, method: str, params: JSONObj) -> None:
        if method == "initialize":
            result = {
                "protocolVersion": params.get("protocolVersion", "2025-11-25"),
                "capabilities": {"tools": {}},
                "serverInfo": {"name": "restart-window", "version": "1"},
            }
            self.send({"jsonrpc": "2.0", "id": request_id, "result": result})
        elif method == "ping":
            self.send({"jsonrpc": "2.0", "id": request_id, "result": {}})
        elif method == "tools/call":
            self.call(request_id, params.get("name"), params.get("arguments") or {})
        else:
            error = {"code": -32601, "message": f"Method not found: {method}"}
            self.send({"jsonrpc": "2.0", "id": request_id, "error": error})

    def call(self, request_id: Any, name: Any, args: JSONObj) -> None:
        if name == "transfer":
            self.send(_text(request_id, f"transferred by {os.getpid()}"))
        elif name == "ask":
            question = str(args.get("message", "?"))
            asked = self._next_question
            self._next_question += 1
            self._asked[asked] = (request_id, question)
            params = {"message": question, "requestedSchema": {"type": "object", "properties": {}}}
            self.send({"jsonrpc": "2.0", "id": asked, "method": "elicitation/create", "params": params})
        elif name == "close_stdout_and_linger":
            os.close(1)
            with open(str(args["marker"]), "w", encoding="utf-8") as marker:
                marker.write(str(os.getpid()))
            time.sleep(3600)
        elif name == "crash":
            os._exit(3)
        else:
            self.send(_text(request_id, f"unknown tool {name}"))


def _text(request_id: Any, text: str) -> JSONObj:
    return {"jsonrpc": "2.0", "id": request_id, "result": {"content": [{"type": "text", "text": text}]}}


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] != "--record":
        sys.stderr.write("usage: restart_window_server.py --record PATH\n")
        return 2
    Server(argv[1]).serve()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
