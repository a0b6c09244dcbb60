"""Look-alike tool and prompt names through a real Lilith in front of the hostile server: under a deny-list
policy, a server listing (and a client calling) case, homoglyph and invisible-character variants of denied
or restricted tools sees none of them listed, and the server receives none of the calls."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.integration.conftest import StartProxy
from tests.integration.harness import recorded

POLICY = """\
version: 1
static_rules:
  "*": ALLOW
  delete_file: DENY
argument_rules:
  - {tool: read_file, arg: path, path_within: [/srv]}
prompt_rules:
  - {prompt: exfiltrate, action: BLOCK}
  - {prompt: "*", action: ALLOW}
"""
LOOKALIKES = ("DELETE_FILE", "Delete_File", "dеlete_file", "delete_file\u200b", "READ_FILE", "read_file\u200b")


def _listing(names: list[str]) -> str:
    tools = [{"name": name, "inputSchema": {"type": "object"}} for name in names]
    return json.dumps({"jsonrpc": "2.0", "id": "{id}", "result": {"tools": tools}}).replace('"{id}"', "{id}")


def _received(record: Path, method: str) -> list[Any]:
    return [m["params"] for m in recorded(record) if isinstance(m, dict) and m.get("method") == method]


def test_look_alikes_are_neither_listed_nor_forwarded(start_proxy: StartProxy) -> None:
    run = start_proxy(policy=POLICY)
    proxy = run.proxy
    proxy.initialize()
    names = ["echo", "read_file", "delete_file", *LOOKALIKES]
    assert "result" in proxy.tool("script_reply", {"method": "tools/list", "lines": [_listing(names)]})

    listed = [tool["name"] for tool in proxy.call("tools/list")["result"]["tools"]]
    assert listed == ["echo", "read_file"]

    rules = {name: proxy.tool(name, {"path": "/etc/shadow"})["error"]["data"]["rule"] for name in LOOKALIKES}
    assert rules == {
        "DELETE_FILE": "static_rules.confusable",
        "Delete_File": "static_rules.confusable",
        "dеlete_file": "default-deny",  # not in the tool-name character set: "*" does not cover it
        "delete_file\u200b": "default-deny",
        "READ_FILE": "static_rules.confusable",  # would escape read_file's argument rule
        "read_file\u200b": "default-deny",
    }
    assert "result" in proxy.tool("echo", {"text": "control"})

    assert proxy.call("prompts/get", {"name": "EXFILTRATE"})["error"]["data"]["rule"] == "prompt_rules.confusable"
    assert proxy.call("prompts/get", {"name": "review_code\u200b"})["error"]["data"]["rule"] == "prompt-default-deny"
    assert "result" in proxy.call("prompts/get", {"name": "review_code"})
    proxy.close()

    # What the server actually received: the scripting call, the control call, one prompt; no look-alike.
    assert [params["name"] for params in _received(run.record, "tools/call")] == ["script_reply", "echo"]
    assert [params["name"] for params in _received(run.record, "prompts/get")] == ["review_code"]
    decisions = [json.loads(line) for line in run.audit.read_text().splitlines()]
    confusable = [r for r in decisions if r.get("rule") == "static_rules.confusable"]
    assert {r["tool"] for r in confusable} == {"DELETE_FILE", "Delete_File", "READ_FILE"}
    assert all(r["decision"] == "deny" for r in confusable)
