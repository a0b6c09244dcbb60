"""How an answer through Lilith is compared with the same answer straight from the server.

Byte for byte, after removing only what differs between any two runs of the same server:

* the run's fixture directory (the two runs work side by side, each in its own copy), as ``@ROOT@``;
* server-everything's wall-clock stamps on dynamic resources ("created at 6:12:22 PM"), in text and
  inside base64 blobs;
* the filesystem server's ``get_file_info`` birth and access times, which change with every build and
  every read.

The one intended difference is a ``tools/list`` the policy filters: the expected answer is then the
direct one without the tools the policy does not allow, serialised as Lilith serialises what it rewrites.
"""

from __future__ import annotations

import base64
import json
import re
from typing import Any

import orjson

from lilith.policy.loader import Policy

_STAMP = re.compile(rb"created at \d{1,2}:\d{2}:\d{2} [AP]M")
_BLOB = re.compile(rb'"blob":"([A-Za-z0-9+/=]*)"')
_FILE_TIMES = re.compile(rb"(created|accessed): [^\\\n]+")


def _unstamp_blob(match: re.Match[bytes]) -> bytes:
    decoded = base64.b64decode(match.group(1))
    if not _STAMP.search(decoded):
        return match.group(0)
    return b'"blob":"' + base64.b64encode(_STAMP.sub(b"created at <time>", decoded)) + b'"'


def normalise(line: bytes, root: str, request: dict[str, Any]) -> bytes:
    line = line.replace(root.encode(), b"@ROOT@")
    line = _BLOB.sub(_unstamp_blob, _STAMP.sub(b"created at <time>", line))
    params = request.get("params") or {}
    if request.get("method") == "tools/call" and params.get("name") == "get_file_info":
        line = _FILE_TIMES.sub(rb"\1: <time>", line)
    return line


def expected_through(direct: bytes, request: dict[str, Any], policy: Policy) -> bytes:
    """What the client should get through Lilith when the server answered ``direct``."""
    if request.get("method") != "tools/list":
        return direct
    answer = json.loads(direct)
    tools = answer.get("result", {}).get("tools")
    if not isinstance(tools, list):
        return direct
    shown = [tool for tool in tools if policy.tool_visible(tool["name"])]
    if len(shown) == len(tools):
        return direct
    return orjson.dumps({**answer, "result": {**answer["result"], "tools": shown}})


def is_denial(line: bytes) -> bool:
    answer = json.loads(line)
    error = answer.get("error") if isinstance(answer, dict) else None
    return isinstance(error, dict) and (error.get("code") == -32000 or str(error.get("message")).startswith("Lilith"))
