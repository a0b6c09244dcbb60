"""How the server's end is judged, and that no request is left without an answer (review A, #3 and #4).

While the client is connected, any end of the server is a failure, status 0 included: pending requests
get -32001, ``--restart on-failure`` applies, and Lilith exits 1 when it does not restart. Closing the
session from the client's side stays exit 0, unless a resource cap killed the server meanwhile.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.integration.conftest import StartProxy
from tests.integration.harness import ROOT, Proxy, lilith_run, recorded, wait_until

LIFECYCLE = [sys.executable, str(ROOT / "tests" / "servers" / "lifecycle_server.py")]
SERVER_UNAVAILABLE = -32001


def _methods(record: Path) -> list[Any]:
    return [m.get("method") for m in recorded(record) if isinstance(m, dict)]


def test_a_request_sent_during_the_restart_back_off_is_answered_when_the_restart_fails(
    start_proxy: StartProxy, tmp_path: Path
) -> None:
    workdir = tmp_path / "server-cwd"
    workdir.mkdir()
    run = start_proxy("--restart", "on-failure", "--cwd", str(workdir))
    run.proxy.initialize()
    workdir.rmdir()  # the running server keeps its deleted cwd; a new one cannot start there
    assert run.proxy.tool("crash")["error"]["code"] == SERVER_UNAVAILABLE
    late = run.proxy.request("tools/call", {"name": "echo", "arguments": {"sent": "during the back-off"}})
    reply = run.proxy.recv(timeout=10)
    assert reply["id"] == late
    assert reply["error"]["code"] == SERVER_UNAVAILABLE
    assert "could not be restarted" in reply["error"]["message"]
    assert run.proxy.proc.wait(10) == 1
    assert "server_restart_failed" in run.proxy.stderr()
    assert "echo" not in [m.get("params", {}).get("name") for m in recorded(run.record) if isinstance(m, dict)]


def test_a_server_exiting_with_status_0_is_restarted_under_on_failure(start_proxy: StartProxy) -> None:
    run = start_proxy("--restart", "on-failure")
    run.proxy.initialize()
    hung = run.proxy.request("tools/call", {"name": "hang", "arguments": {}})
    replies = {}
    run.proxy.request("tools/call", {"name": "exit_now", "arguments": {}})
    for _ in range(2):
        reply = run.proxy.recv(timeout=10)
        replies[reply["id"]] = reply
    assert replies[hung]["error"]["code"] == SERVER_UNAVAILABLE
    assert "exited with status 0" in replies[hung]["error"]["message"]
    assert wait_until(lambda: _methods(run.record).count("initialize") == 2)  # the handshake, replayed
    assert "result" in run.proxy.tool("echo", {"after": "restart"}, timeout=15)
    assert run.proxy.close() == 0


def test_a_cpu_cap_that_kills_the_server_during_shutdown_answers_the_pending_call(tmp_path: Path) -> None:
    record = tmp_path / "received.jsonl"
    server = [*LIFECYCLE, "spin", "--record", str(record)]
    # A long grace: on a busy machine 1 s of CPU can take longer than the default 2 s of wall time.
    proxy = Proxy(lilith_run("--max-cpu-seconds", "1", "--shutdown-timeout", "15", server=server), tmp_path)
    try:
        hello = {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}
        proxy.send({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": hello})
        proxy.send({"jsonrpc": "2.0", "id": 1, "method": "x/spin"})
        code = proxy.close(timeout=30)  # the client is done writing, but still reads
        answers = []
        while (raw := proxy.recv_raw(timeout=10)) is not None:
            answers.append(json.loads(raw))
    finally:
        proxy.kill()
    assert _methods(record) == ["initialize", "x/spin"]
    assert [a["id"] for a in answers] == [0, 1]
    assert answers[1]["error"]["code"] == SERVER_UNAVAILABLE
    assert "CPU time limit" in answers[1]["error"]["message"]
    assert code == 1  # a cap is a failure, even while stopping
    stderr = proxy.stderr()
    assert "server_exited" in stderr and "limit=cpu" in stderr


def test_the_answer_to_a_request_cut_short_by_the_client_closing_is_an_error_not_silence(tmp_path: Path) -> None:
    """A request still pending when the server stops on the client's EOF is answered, if the client reads."""
    record = tmp_path / "received.jsonl"
    server = [*LIFECYCLE, "stuck", "--record", str(record)]
    # A client that closed its input but reads is owed its answers until their deadlines (review 6): "b",
    # sent before the server spoke, has the longer of the two; short ones keep this test fast.
    timeouts = ("--startup-timeout", "2", "--request-timeout", "2")
    done = subprocess.run(
        lilith_run("--shutdown-timeout", "0.5", *timeouts, server=server),
        input=b'{"jsonrpc":"2.0","id":"a","method":"ping"}\n{"jsonrpc":"2.0","id":"b","method":"ping"}\n',
        capture_output=True,
        timeout=20,
    )
    assert done.returncode == 0
    answers = [json.loads(line) for line in done.stdout.splitlines()]
    assert answers[0]["id"] == "a" and "result" in answers[0]
    assert answers[1]["id"] == "b" and answers[1]["error"]["code"] == SERVER_UNAVAILABLE
    assert len(answers) == 2
    assert _methods(record) == ["ping"]  # the stuck server read only the first line
