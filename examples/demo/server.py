#!/usr/bin/env python3
"""A tiny MCP server for the Lilith Zero demo (stdlib only, newline-delimited JSON-RPC on stdio).

Tools:
    list_dir {path}     list a directory
    read_file {path}    read the first 4 KiB of a text file
    delete_file {path}  *pretends* to delete a file (this demo never deletes anything)
    get_time {}         the current UTC time

Nothing is written to stdout except protocol messages; diagnostics go to stderr.
"""

from __future__ import annotations

import datetime
import json
import os
import sys
from typing import Any

JSONObj = dict[str, Any]

SUPPORTED_VERSIONS = ("2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25")
READ_LIMIT = 4096

_PATH_SCHEMA: JSONObj = {
    "type": "object",
    "properties": {"path": {"type": "string", "description": "A file system path"}},
    "required": ["path"],
}

TOOLS: list[JSONObj] = [
    {"name": "list_dir", "description": "List the entries of a directory.", "inputSchema": _PATH_SCHEMA},
    {"name": "read_file", "description": "Read the start of a text file.", "inputSchema": _PATH_SCHEMA},
    {
        "name": "delete_file",
        "description": "Delete a file. (Demo: only pretends to.)",
        "inputSchema": _PATH_SCHEMA,
        "annotations": {"destructiveHint": True},
    },
    {
        "name": "get_time",
        "description": "The current date and time in UTC.",
        "inputSchema": {"type": "object", "properties": {}},
    },
]


def log(text: str) -> None:
    print(f"demo-server: {text}", file=sys.stderr, flush=True)


def send(message: JSONObj) -> None:
    sys.stdout.write(json.dumps(message, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def text_result(text: str, is_error: bool = False) -> JSONObj:
    return {"content": [{"type": "text", "text": text}], "isError": is_error}


def call_tool(name: str, args: JSONObj) -> JSONObj:
    path = args.get("path")
    if name == "get_time":
        return text_result(datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"))
    if name not in ("list_dir", "read_file", "delete_file"):
        return text_result(f"unknown tool: {name}", is_error=True)
    if not isinstance(path, str) or not path:
        return text_result("'path' must be a non-empty string", is_error=True)
    try:
        if name == "list_dir":
            entries = sorted(os.listdir(path))
            return text_result("\n".join(entries) if entries else "(empty directory)")
        if name == "read_file":
            with open(path, encoding="utf-8", errors="replace") as fh:
                return text_result(fh.read(READ_LIMIT))
    except OSError as exc:
        return text_result(f"{name} failed: {exc.strerror or exc}", is_error=True)
    # delete_file: this is a demo, so it only pretends (the policy should stop it anyway).
    log(f"delete_file was called for {path!r} (pretending)")
    return text_result(f"deleted {path} (not really: this is a demo server)")


def handle(message: Any) -> JSONObj | None:
    if not isinstance(message, dict) or not isinstance(message.get("method"), str):
        if isinstance(message, dict) and ("result" in message or "error" in message):
            return None  # a response to nothing we asked; ignore
        return {"jsonrpc": "2.0", "id": None, "error": {"code": -32600, "message": "Invalid Request"}}
    method: str = message["method"]
    if "id" not in message:
        return None  # notifications need no answer
    msg_id = message["id"]
    params = message.get("params") or {}
    if not isinstance(params, dict):
        return {"jsonrpc": "2.0", "id": msg_id, "error": {"code": -32602, "message": "params must be an object"}}
    result: JSONObj
    if method == "initialize":
        requested = params.get("protocolVersion")
        result = {
            "protocolVersion": requested if requested in SUPPORTED_VERSIONS else SUPPORTED_VERSIONS[-1],
            "capabilities": {"tools": {}},
            "serverInfo": {"name": "lilith-demo-server", "version": "1.0"},
        }
    elif method == "ping":
        result = {}
    elif method == "tools/list":
        result = {"tools": TOOLS}
    elif method == "tools/call":
        name = params.get("name")
        args = params.get("arguments") or {}
        if not isinstance(name, str) or not isinstance(args, dict):
            return {"jsonrpc": "2.0", "id": msg_id, "error": {"code": -32602, "message": "bad tools/call params"}}
        log(f"tools/call {name}")
        result = call_tool(name, args)
    else:
        return {"jsonrpc": "2.0", "id": msg_id, "error": {"code": -32601, "message": f"Method not found: {method}"}}
    return {"jsonrpc": "2.0", "id": msg_id, "result": result}


def main() -> int:
    log("ready")
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            message = json.loads(line)
        except ValueError:
            send({"jsonrpc": "2.0", "id": None, "error": {"code": -32700, "message": "Parse error"}})
            continue
        response = handle(message)
        if response is not None:
            send(response)
    return 0


if __name__ == "__main__":
    sys.exit(main())
