#!/usr/bin/env python3
"""A raw 2026-07-28 MCP server whose tool asks the client for input first (Multi Round-Trip Requests; stdlib).

Usage: ``python tests/servers/mrtr_server.py [--record PATH]`` (``--record``: append every raw line received).

Tools: ``read_secret`` (answers a secret), ``send_email`` (answers "sent"), and ``approve_export``: called
without ``inputResponses`` it answers an ``InputRequiredResult`` (``resultType: "input_required"``) asking the
user to confirm; retried with ``inputResponses.confirm.action`` ``accept`` it answers "approved", with anything
else an ``isError`` result ("declined").
"""

from __future__ import annotations

import json
import sys
from typing import Any

JSONObj = dict[str, Any]
CONFIRM: JSONObj = {
    "method": "elicitation/create",
    "params": {"message": "Export the secret?", "requestedSchema": {"type": "object", "properties": {}}},
}


def _text(text: str, *, error: bool = False) -> JSONObj:
    return {"resultType": "complete", "content": [{"type": "text", "text": text}], "isError": error}


def answer(method: str, params: JSONObj) -> JSONObj:
    if method == "server/discover":
        info = {"name": "mrtr", "version": "1"}
        return {"result": {"supportedVersions": ["2026-07-28"], "capabilities": {"tools": {}}, "serverInfo": info}}
    if method != "tools/call":
        return {"error": {"code": -32601, "message": f"Method not found: {method}"}}
    name = params.get("name")
    if name == "read_secret":
        return {"result": _text("the secret is 42")}
    if name == "send_email":
        return {"result": _text("sent")}
    if name != "approve_export":
        return {"error": {"code": -32602, "message": f"Unknown tool: {name}"}}
    responses = params.get("inputResponses")
    if not isinstance(responses, dict):
        return {"result": {"resultType": "input_required", "inputRequests": {"confirm": CONFIRM}}}
    confirm = responses.get("confirm")
    accepted = isinstance(confirm, dict) and confirm.get("action") == "accept"
    return {"result": _text("approved") if accepted else _text("declined", error=True)}


def main(argv: list[str]) -> int:
    record = open(argv[argv.index("--record") + 1], "ab", buffering=0) if "--record" in argv else None  # noqa: SIM115
    for raw in sys.stdin.buffer:
        if record is not None:
            record.write(raw)
        try:
            message = json.loads(raw)
        except ValueError:
            continue
        if isinstance(message, dict) and "id" in message and isinstance(message.get("method"), str):
            params = message.get("params")
            reply = answer(message["method"], params if isinstance(params, dict) else {})
            sys.stdout.write(json.dumps({"jsonrpc": "2.0", "id": message["id"], **reply}) + "\n")
            sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
