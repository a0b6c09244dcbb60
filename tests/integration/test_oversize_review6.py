"""A line over the size limit (second interop review): the client gets an answer it can match to its request,
the refusal is audited, and an over-long answer from the server fails its call at once instead of leaving
the client waiting. Real ``lilith`` processes in front of the hostile server (``--record`` shows what reached
it), driven by the official Python SDK ``ClientSession``, the TypeScript SDK ``Client`` and a raw client."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.shared.exceptions import MCPError

from tests.integration.audit_records import schema_problems
from tests.integration.conftest import StartProxy
from tests.integration.harness import ALLOW_ECHO_POLICY, HOSTILE, ROOT, lilith_run, recorded

LIMITS = ("--max-line-bytes", "64K", "--max-server-line-bytes", "256K")
EMIT_POLICY = ALLOW_ECHO_POLICY + "  emit: ALLOW\n"  # the hostile server writes the lines it is given
BIG_TEXT = "y" * 100_000  # over 64K as a line, far under any other limit
PEERS = ROOT / ".peers"


def _refusals(audit: Path) -> list[dict[str, Any]]:
    records = [json.loads(line) for line in audit.read_bytes().splitlines() if line.strip()]
    return [r for r in records if r["event"] == "decision" and r["rule"] == "protocol.line-too-long"]


def _calls_received(record: Path) -> list[Any]:
    return [m for m in recorded(record) if isinstance(m, dict) and m.get("method") == "tools/call"]


def _argv(tmp_path: Path, *options: str) -> tuple[list[str], Path, Path]:
    policy, audit, record = tmp_path / "policy.yaml", tmp_path / "audit.jsonl", tmp_path / "received.jsonl"
    policy.write_text(ALLOW_ECHO_POLICY)
    argv = lilith_run(
        "--policy", str(policy), "--audit-log", str(audit), *options, server=[*HOSTILE, "--record", str(record)]
    )
    return argv, audit, record


def test_the_python_sdk_gets_its_over_long_call_refused_at_once_and_goes_on(tmp_path: Path) -> None:
    argv, audit, record = _argv(tmp_path, *LIMITS)
    # The whole environment, not the SDK's short list: a PYTHONPATH must reach lilith too.
    params = StdioServerParameters(command=argv[0], args=argv[1:], env=dict(os.environ))

    async def scenario() -> tuple[MCPError, float, str]:
        with (tmp_path / "stderr.log").open("w") as errlog:
            async with stdio_client(params, errlog=errlog) as (read, write), ClientSession(read, write) as session:
                await session.initialize()
                began = time.monotonic()
                with anyio.fail_after(10):  # before the fix: no answer the SDK could match, ever
                    with pytest.raises(MCPError) as refused:
                        await session.call_tool("echo", {"text": BIG_TEXT})
                waited = time.monotonic() - began
                after = await session.call_tool("echo", {"text": "still here"})
                block = after.content[0]
                return refused.value, waited, getattr(block, "text", "")

    error, waited, after = anyio.run(scenario)
    assert error.code == -32600 and error.message == "Invalid Request: line exceeds 65536 bytes"
    assert waited < 5 and "still here" in after
    calls = _calls_received(record)
    assert [call["params"]["arguments"] for call in calls] == [{"text": "still here"}]  # nothing of the big one
    [refusal] = _refusals(audit)
    assert (refusal["decision"], refusal["method"], refusal["tool"]) == ("deny", "tools/call", "echo")
    assert type(refusal["request_id"]) is int and refusal["arguments"] is None
    assert refusal["request_id"] != calls[0]["id"]
    assert schema_problems(audit) == []


_TS_CLIENT = """
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
const [command, ...args] = JSON.parse(process.argv[1]);
const client = new Client({ name: "ts-oversize", version: "1" });
await client.connect(new StdioClientTransport({ command, args, env: process.env, stderr: "ignore" }));
const out = {};
try {
  await client.callTool({ name: "echo", arguments: { text: "y".repeat(100000) } }, undefined, { timeout: 8000 });
  out.big = "answered";
} catch (e) {
  out.big = { code: e.code, message: e.message };
}
out.after = (await client.callTool({ name: "echo", arguments: { text: "ok" } })).content[0].text;
console.log(JSON.stringify(out));
await client.close();
"""


def test_the_typescript_sdk_which_writes_the_id_last_gets_its_refusal_too(tmp_path: Path) -> None:
    node = shutil.which("node")
    if node is None or not (PEERS / "node_modules" / "@modelcontextprotocol" / "sdk").is_dir():
        pytest.skip("node and the TypeScript SDK (make peers) are needed")
    argv, audit, record = _argv(tmp_path, *LIMITS)
    run = subprocess.run(
        [node, "--input-type=module", "-e", _TS_CLIENT, json.dumps(argv)],
        cwd=PEERS,
        capture_output=True,
        timeout=60,
        check=True,
    )
    out = json.loads(run.stdout)
    # Before the fix: {"code": -32001, "message": "... Request timed out"} after the client's own 8 s.
    assert out["big"] == {"code": -32600, "message": "MCP error -32600: Invalid Request: line exceeds 65536 bytes"}
    assert "ok" in out["after"]
    assert [call["params"]["arguments"] for call in _calls_received(record)] == [{"text": "ok"}]
    [refusal] = _refusals(audit)
    assert (refusal["method"], refusal["tool"], type(refusal["request_id"])) == ("tools/call", "echo", int)


def _ts_layout(request_id: Any, text: str) -> bytes:
    """A tools/call as the TypeScript SDK writes it: method and params first, the id last."""
    params = {"name": "echo", "arguments": {"text": text}}
    return json.dumps({"method": "tools/call", "params": params, "jsonrpc": "2.0", "id": request_id}).encode()


def test_a_line_written_id_last_in_slow_pieces_is_answered_once_with_its_id(start_proxy: StartProxy) -> None:
    run = start_proxy(*LIMITS)
    run.proxy.initialize()
    line = _ts_layout('ts-\u00e9\\"7', BIG_TEXT)
    for start in range(0, len(line), 20_000):  # it crosses the limit long before its id arrives
        run.proxy.send_raw(line[start : start + 20_000])
        time.sleep(0.05)
    assert run.proxy.nothing_more(0.3)  # the head does not say which request it is: the end will
    run.proxy.send_raw(b"\n")
    reply = run.proxy.recv()
    assert reply["id"] == 'ts-\u00e9\\"7' and reply["error"]["code"] == -32600
    assert run.proxy.nothing_more()  # answered once, not again for the end
    assert "result" in run.proxy.tool("echo", {"text": "next"})
    assert [call["params"]["arguments"] for call in _calls_received(run.record)] == [{"text": "next"}]
    [refusal] = _refusals(run.audit)
    assert refusal["request_id"] == 'ts-\u00e9\\"7' and refusal["tool"] == "echo"


def test_a_line_whose_head_names_it_is_answered_before_it_ends(start_proxy: StartProxy) -> None:
    run = start_proxy(*LIMITS)
    run.proxy.initialize()
    start = b'{"jsonrpc":"2.0","id":41,"method":"tools/call","params":{"name":"echo","arguments":{"text":"'
    run.proxy.send_raw(start + b"z" * 100_000)  # no newline (yet)
    reply = run.proxy.recv(5)
    assert reply["id"] == 41 and reply["error"]["code"] == -32600
    run.proxy.send_raw(b"z" * 100_000 + b'"}},"id":42}\n')  # an id named twice: too late to matter
    assert run.proxy.nothing_more()
    assert "result" in run.proxy.tool("echo")
    assert [r["request_id"] for r in _refusals(run.audit)] == [41]


@pytest.mark.parametrize(
    ("line", "recorded_method"),
    [
        # Two ids: which one would a server read? Neither is guessed.
        (b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"x":"' + b"q" * 100_000 + b'"},"id":2}', True),
        # An id JSON-RPC does not allow as such (1.5 names no request for sure), a case variant of the key.
        (b'{"jsonrpc":"2.0","id":1.5,"method":"tools/call","params":{"x":"' + b"q" * 100_000 + b'"}}', True),
        (b'{"jsonrpc":"2.0","ID":3,"id":3,"method":"tools/call","params":{"x":"' + b"q" * 100_000 + b'"}}', True),
        # The client's answer to a server request: answered with id null as before, no decision recorded.
        (b'{"jsonrpc":"2.0","id":0,"result":{"x":"' + b"q" * 100_000 + b'"}}', False),
        # Not an object at all.
        (b'[{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"x":"' + b"q" * 100_000 + b'"}}]', False),
    ],
)
def test_a_line_whose_id_is_not_certain_is_refused_with_id_null(
    start_proxy: StartProxy, line: bytes, recorded_method: bool
) -> None:
    run = start_proxy(*LIMITS)
    run.proxy.initialize()
    run.proxy.send_raw(line + b"\n")
    reply = run.proxy.recv()
    assert reply["id"] is None and reply["error"]["code"] == -32600
    assert run.proxy.nothing_more()
    assert "result" in run.proxy.tool("echo")
    assert len(_calls_received(run.record)) == 1
    refusals = _refusals(run.audit)
    assert [(r["method"], r["request_id"]) for r in refusals] == ([("tools/call", None)] if recorded_method else [])


def test_an_over_long_server_answer_fails_its_call_at_once_whichever_end_holds_the_id(
    start_proxy: StartProxy,
) -> None:
    run = start_proxy("--max-line-bytes", "1M", "--max-server-line-bytes", "256K", policy=EMIT_POLICY)
    run.proxy.initialize()
    began = time.monotonic()
    reply = run.proxy.tool("huge", {"bytes": 300_000})  # the Python layout: {"jsonrpc","id","result"}
    assert time.monotonic() - began < 5  # not the request timeout
    assert reply["error"] == {
        "code": -32603,
        "message": "Lilith: the MCP server sent an answer longer than 262144 bytes",
    }
    # The TypeScript SDK's layout, {"result":…,"jsonrpc":"2.0","id":N}: the id is in the line's last bytes.
    text = json.dumps({"content": [{"type": "text", "text": "x" * 300_000}]})
    answer = '{"result":' + text + ',"jsonrpc":"2.0","id":{id}}'
    reply = run.proxy.tool("emit", {"lines": [answer], "answer": False})
    assert reply["error"]["code"] == -32603 and "longer than 262144 bytes" in reply["error"]["message"]
    assert run.proxy.nothing_more()  # nothing of either line reached the client
    assert "result" in run.proxy.tool("echo", {"after": "both"})


def test_an_over_long_server_request_is_refused_to_the_server_and_never_shown(start_proxy: StartProxy) -> None:
    run = start_proxy("--max-line-bytes", "1M", "--max-server-line-bytes", "256K", policy=EMIT_POLICY)
    run.proxy.initialize()
    request = {"jsonrpc": "2.0", "id": "srv-1", "method": "sampling/createMessage", "params": {"x": "s" * 300_000}}
    reply = run.proxy.tool("emit", {"lines": [json.dumps(request)]})
    assert reply["result"]["content"][0]["text"] == "emitted 1"
    assert run.proxy.nothing_more()
    refused = [m for m in recorded(run.record) if isinstance(m, dict) and m.get("id") == "srv-1"]
    assert refused == [
        {
            "jsonrpc": "2.0",
            "id": "srv-1",
            "error": {"code": -32600, "message": "Invalid Request: line exceeds 262144 bytes"},
        }
    ]


def test_a_refusal_whose_record_cannot_be_written_is_still_the_same_refusal(start_proxy: StartProxy) -> None:
    run = start_proxy(*LIMITS, "--audit-log", "/dev/full")  # every write fails (ENOSPC); the later flag wins
    run.proxy.initialize()
    run.proxy.send_raw(_ts_layout(8, BIG_TEXT) + b"\n")
    reply = run.proxy.recv()
    assert reply == {
        "jsonrpc": "2.0",
        "id": 8,
        "error": {"code": -32600, "message": "Invalid Request: line exceeds 65536 bytes"},
    }
    assert "audit_write_failed" in run.proxy.stderr()
    assert run.proxy.tool("echo")["error"]["data"]["rule"] == "audit-failure"  # a call that fits: denied for it
    assert _calls_received(run.record) == []
