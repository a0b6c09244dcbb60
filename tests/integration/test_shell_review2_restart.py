"""After a failed restart, every request of the client is still answered (review 3, #5).

The client reader waits for the restarted server before it forwards a request; when the restart failed,
that wait was never released: the lines of the same chunk meant for the client (a denial) were never
written, and only the requests already registered were answered.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.integration.conftest import StartProxy
from tests.integration.harness import recorded

SERVER_UNAVAILABLE = -32001


def test_a_denial_read_with_a_request_during_a_failed_restart_is_answered(
    start_proxy: StartProxy, tmp_path: Path
) -> None:
    workdir = tmp_path / "server-cwd"
    workdir.mkdir()
    run = start_proxy("--restart", "on-failure", "--max-restarts", "1", "--cwd", str(workdir))
    run.proxy.initialize()
    workdir.rmdir()  # the running server keeps its deleted cwd; a new one cannot start there
    assert run.proxy.tool("crash")["error"]["code"] == SERVER_UNAVAILABLE
    # One chunk, during the back-off: a call to forward (the reader waits for the new server) and one the
    # policy denies (an answer for the client, in the same chunk).
    calls = [
        {"jsonrpc": "2.0", "id": "fwd", "method": "tools/call", "params": {"name": "echo", "arguments": {}}},
        {"jsonrpc": "2.0", "id": "deny", "method": "tools/call", "params": {"name": "delete_file", "arguments": {}}},
    ]
    run.proxy.send_raw(b"".join(json.dumps(call).encode() + b"\n" for call in calls))
    replies = {}
    for _ in calls:
        reply = run.proxy.recv(timeout=10)  # the denial never came, before the fix
        replies[reply["id"]] = reply
    assert run.proxy.proc.wait(10) == 1
    assert replies["fwd"]["error"]["code"] == SERVER_UNAVAILABLE
    assert "could not be restarted" in replies["fwd"]["error"]["message"]
    assert replies["deny"]["error"]["message"].startswith("Lilith: ")
    assert replies["deny"]["error"]["code"] != SERVER_UNAVAILABLE  # the policy's answer, not the server's
    assert "server_restart_failed" in run.proxy.stderr()
    names = [m.get("params", {}).get("name") for m in recorded(run.record) if isinstance(m, dict)]
    assert "echo" not in names and "delete_file" not in names
