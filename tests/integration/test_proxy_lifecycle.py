"""The server's life and death as the client sees it through a real Lilith process."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path

import psutil
import pytest

from tests.integration.conftest import StartProxy
from tests.integration.harness import Proxy, lilith_run, recorded, wait_until

ENV_SERVER = (
    "import json, os, sys\n"
    "for line in sys.stdin:\n"
    "    msg = json.loads(line)\n"
    "    if 'id' in msg and 'method' in msg:\n"
    "        print(json.dumps({'jsonrpc': '2.0', 'id': msg['id'], 'result': {'env': dict(os.environ)}}), flush=True)\n"
)


def _alive(pid: int) -> bool:
    try:
        return bool(psutil.Process(pid).status() != psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return False


def _server_pids(proxy: Proxy) -> list[int]:
    return [child.pid for child in psutil.Process(proxy.proc.pid).children(recursive=True)]


def test_crash_answers_pending_requests_and_exits_non_zero(start_proxy: StartProxy) -> None:
    run = start_proxy()
    run.proxy.initialize()
    hung = run.proxy.request("tools/call", {"name": "hang", "arguments": {}})
    crash = run.proxy.request("tools/call", {"name": "crash", "arguments": {}})
    began = time.monotonic()
    replies = {}
    for _ in range(2):
        reply = run.proxy.recv(timeout=5)
        replies[reply["id"]] = reply
    assert time.monotonic() - began < 1.5
    assert set(replies) == {hung, crash}
    for reply in replies.values():
        assert reply["error"]["code"] == -32001
        assert reply["error"]["message"].startswith("Lilith: ")
        assert "status 3" in reply["error"]["message"]
    assert run.proxy.proc.wait(10) != 0


def test_restart_on_failure_replays_the_handshake(start_proxy: StartProxy) -> None:
    run = start_proxy("--restart", "on-failure", "--max-restarts", "2")
    run.proxy.initialize()
    crashed = run.proxy.tool("crash")
    assert crashed["error"]["code"] == -32001
    assert wait_until(
        lambda: [m.get("method") for m in recorded(run.record) if isinstance(m, dict)].count("initialize") == 2
    )
    reply = run.proxy.tool("echo", {"after": "restart"}, timeout=15)
    assert "result" in reply
    methods = [m.get("method") for m in recorded(run.record) if isinstance(m, dict)]
    assert methods.count("initialize") == 2
    assert methods.count("notifications/initialized") == 2
    assert run.proxy.nothing_more(0.2)  # the replayed initialize's answer is not shown to the client


def test_restarts_are_bounded(start_proxy: StartProxy) -> None:
    run = start_proxy("--restart", "on-failure", "--max-restarts", "1")
    run.proxy.initialize()
    assert run.proxy.tool("crash")["error"]["code"] == -32001
    assert run.proxy.tool("crash", timeout=15)["error"]["code"] == -32001
    assert run.proxy.proc.wait(15) != 0


def test_client_eof_shuts_the_server_down_cleanly(start_proxy: StartProxy) -> None:
    run = start_proxy()
    run.proxy.initialize()
    pids = _server_pids(run.proxy)
    assert pids
    assert run.proxy.close() == 0
    assert wait_until(lambda: not any(_alive(pid) for pid in pids), timeout=5)


def test_a_server_exiting_with_status_0_while_the_client_is_connected_is_a_failure(start_proxy: StartProxy) -> None:
    run = start_proxy()
    run.proxy.initialize()
    assert "result" in run.proxy.tool("exit_now")  # its answer, written before it exited, still arrives
    assert run.proxy.proc.wait(10) == 1
    assert "server_exited" in run.proxy.stderr()


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_server_and_escaped_daemon_die_with_lilith(start_proxy: StartProxy, tmp_path: Path, sig: int) -> None:
    run = start_proxy()
    run.proxy.initialize()
    pidfile = tmp_path / "daemon.pid"
    assert "result" in run.proxy.tool("fork_daemon", {"pidfile": str(pidfile)})
    assert wait_until(pidfile.exists)
    daemon = int(pidfile.read_text())
    tree = _server_pids(run.proxy)
    assert _alive(daemon)
    os.kill(run.proxy.proc.pid, sig)
    run.proxy.proc.wait(10)
    assert wait_until(lambda: not _alive(daemon) and not any(_alive(pid) for pid in tree), timeout=5)


def test_memory_cap_kills_the_server_tree(tmp_path: Path) -> None:
    hog = "import time\nx = bytearray(300 * 1024 * 1024)\nfor i in range(0, len(x), 4096): x[i] = 1\ntime.sleep(60)\n"
    proxy = Proxy(lilith_run("--max-memory", "100M", server=[sys.executable, "-c", hog]), tmp_path)
    try:
        assert proxy.proc.wait(15) != 0
        assert "memory" in proxy.stderr()
    finally:
        proxy.kill()


def test_environment_inherited_by_default_and_restricted_with_env_allow(tmp_path: Path) -> None:
    env = {**os.environ, "LILITH_TEST_SECRET": "s3cret", "LILITH_TEST_KEEP": "k"}
    server = [sys.executable, "-c", ENV_SERVER]
    inherited = Proxy(lilith_run(server=server), tmp_path, env=env)
    restricted = Proxy(lilith_run("--env-allow", "LILITH_TEST_K*", server=server), tmp_path, env=env)
    try:
        full = inherited.call("ping")["result"]["env"]
        assert full["LILITH_TEST_SECRET"] == "s3cret"
        limited = restricted.call("ping")["result"]["env"]
        assert "LILITH_TEST_SECRET" not in limited
        assert limited["LILITH_TEST_KEEP"] == "k"
        assert "PATH" in limited
    finally:
        inherited.close()
        restricted.close()


def test_json_logs_on_stderr(start_proxy: StartProxy) -> None:
    run = start_proxy("--log-format", "json", "--log-level", "debug")
    run.proxy.initialize()
    run.proxy.close()
    events = [json.loads(line) for line in run.proxy.stderr().splitlines() if line.startswith("{")]
    assert {"server_started", "client_closed"} <= {event["event"] for event in events}
