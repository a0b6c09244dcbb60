"""Review 7 (pin store size, client direction behind a server flood), through real ``lilith`` processes:
a listing beyond the pin store's per-server limit is refused whole and audited, nothing of it stored; and
the client's lines still reach the server while Lilith holds an answer of its own for a client that does
not read (the server floods it)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from tests.integration.conftest import StartProxy
from tests.integration.harness import lilith_run, reap, recorded, wait_until

MAX_PINNED_TOOLS = 10_000  # lilith.policy.pins.MAX_PINNED_TOOLS (a unit test checks they agree)
ALLOW_ALL = "version: 1\nstatic_rules:\n  '*': ALLOW\nsanitize: {hide_poisoned_tools: false}\n"


def _events(audit: Path, event: str) -> list[dict[str, Any]]:
    return [r for r in map(json.loads, audit.read_text().splitlines()) if r["event"] == event]


def test_a_listing_beyond_the_pin_limit_is_refused_whole_and_audited(start_proxy: StartProxy, tmp_path: Path) -> None:
    store = tmp_path / "pins.json"
    run = start_proxy("--pin-store", str(store), policy=ALLOW_ALL)
    proxy = run.proxy
    proxy.initialize()
    tools = [{"name": f"t{n}", "inputSchema": {"type": "object"}} for n in range(MAX_PINNED_TOOLS + 1)]
    listing = '{"jsonrpc": "2.0", "id": {id}, "result": ' + json.dumps({"tools": tools}) + "}"
    assert proxy.tool("script_reply", {"method": "tools/list", "lines": [listing]})["result"]
    refused = proxy.call("tools/list", timeout=30)
    assert refused["error"]["code"] == -32603 and "result" not in refused
    assert not store.exists()  # nothing of the refused listing was pinned
    (finding,) = _events(run.audit, "pin_mismatch")
    assert f"more than {MAX_PINNED_TOOLS} tools" in finding["reason"] and finding["tool"] == f"t{MAX_PINNED_TOOLS}"
    assert "result_filter_failed" in proxy.stderr()
    # The server's ordinary listing is pinned as usual afterwards: the refusal left no half-pinned state.
    names = {tool["name"] for tool in proxy.call("tools/list")["result"]["tools"]}
    (entry,) = json.loads(store.read_text())["servers"].values()
    assert set(entry["tools"]) == names and "echo" in names
    assert proxy.close() == 0
    assert [m.get("method") for m in recorded(run.record) if isinstance(m, dict)].count("tools/list") == 2


# A server that floods the client with 64 KB notifications from a thread of its own once asked to, and
# records every line it receives as it receives it (so a line's arrival does not wait on the flood).
FLOOD_SERVER = r"""
import json, sys, threading
record = open(sys.argv[1], "ab", buffering=0)
lock = threading.Lock()
def send(message):
    with lock:
        sys.stdout.buffer.write(json.dumps(message).encode() + b"\n")
        sys.stdout.buffer.flush()
def flood(count):
    for _ in range(count):
        send({"jsonrpc": "2.0", "method": "notifications/message", "params": {"level": "info", "data": "x" * 65536}})
for line in sys.stdin.buffer:
    record.write(line)
    message = json.loads(line)
    if "id" not in message or "method" not in message:
        continue
    if message["method"] == "initialize":
        result = {"protocolVersion": "2025-06-18", "capabilities": {"tools": {}}, "serverInfo": {"name": "f", "version": "1"}}
        send({"jsonrpc": "2.0", "id": message["id"], "result": result})
    elif message["params"].get("name") == "flood":
        threading.Thread(target=flood, args=(200,), daemon=True).start()
    elif message["params"].get("name") != "hang":
        send({"jsonrpc": "2.0", "id": message["id"], "result": {"content": [{"type": "text", "text": "ok"}]}})
"""


def test_client_lines_reach_the_server_while_a_refusal_waits_for_a_client_that_does_not_read(tmp_path: Path) -> None:
    server = tmp_path / "flood_server.py"
    server.write_text(FLOOD_SERVER)
    record = tmp_path / "received.jsonl"
    policy = tmp_path / "policy.yaml"
    policy.write_text("version: 1\nstatic_rules:\n  '*': ALLOW\n  nope: DENY\n")
    args = lilith_run("--policy", str(policy), server=[sys.executable, str(server), str(record)])
    process = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert process.stdin is not None and process.stdout is not None
    stdin, stdout = process.stdin, process.stdout

    def send(message: dict[str, Any]) -> None:
        stdin.write(json.dumps({"jsonrpc": "2.0", **message}).encode() + b"\n")
        stdin.flush()

    def received() -> list[Any]:
        return [m.get("id") or m.get("method") for m in recorded(record) if isinstance(m, dict)]

    try:
        params = {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "c", "version": "1"}}
        send({"id": 0, "method": "initialize", "params": params})
        assert json.loads(stdout.readline())["id"] == 0
        send({"method": "notifications/initialized"})
        send({"id": "h", "method": "tools/call", "params": {"name": "hang", "arguments": {}}})
        send({"id": "f", "method": "tools/call", "params": {"name": "flood", "arguments": {}}})
        time.sleep(1.0)  # the flood fills every pipe on its way to the client, which reads nothing
        send({"id": "d", "method": "tools/call", "params": {"name": "nope", "arguments": {}}})  # Lilith answers
        time.sleep(0.3)
        send({"method": "notifications/cancelled", "params": {"requestId": "h", "reason": "user"}})
        send({"id": "e", "method": "tools/call", "params": {"name": "echo", "arguments": {}}})
        # Without reading a byte, the cancellation and the allowed call reach the server; the denied call never.
        assert wait_until(lambda: "e" in received(), timeout=5.0), received()
        assert "notifications/cancelled" in received() and "d" not in received()
        answers: dict[Any, Any] = {}
        while len(answers) < 2:  # the client reads now: the refusal and the answer both come
            line = stdout.readline()
            assert line, "Lilith's stdout ended before both answers came"
            message = json.loads(line)
            if message.get("id") in ("d", "e"):
                answers[message["id"]] = message
        assert answers["d"]["error"]["data"]["rule"] and answers["e"]["result"]["content"][0]["text"] == "ok"
    finally:
        stdin.close()
        stdout.close()
        reap(process)
