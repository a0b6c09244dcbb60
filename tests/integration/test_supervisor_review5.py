"""Supervision a server tries to escape, through a real Lilith: a main thread that exits alone (the tree's
caps must still see the process) and a server that SIGSTOPs its reaper (the tree must still die)."""

from __future__ import annotations

import json
import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from tests.integration.harness import ALLOW_ECHO_POLICY, HOSTILE, Proxy, all_gone, lilith_run, recorded, wait_until

SERVERS = Path(__file__).resolve().parents[1] / "servers"
MAIN_THREAD_EXIT = [sys.executable, str(SERVERS / "main_thread_exit_server.py")]
STOPPER = [sys.executable, str(SERVERS / "supervisor_stopper_server.py")]
JOB_CONTROL_STOPS = (signal.SIGTSTP, signal.SIGTTIN, signal.SIGTTOU)


@pytest.fixture
def proxies() -> Iterator[list[Proxy]]:
    started: list[Proxy] = []
    yield started
    for proxy in started:
        proxy.kill()


def start(proxies: list[Proxy], tmp_path: Path, *options: str, server: list[str]) -> Proxy:
    audit = tmp_path / f"audit-{len(proxies)}.jsonl"
    proxy = Proxy(lilith_run("--audit-log", str(audit), *options, server=server), tmp_path)
    proxies.append(proxy)
    return proxy


def reaper_and_server(proxy: Proxy) -> tuple[psutil.Process, psutil.Process]:
    """Lilith's reaper and the server below it, once both exist."""
    lilith = psutil.Process(proxy.proc.pid)
    assert wait_until(lambda: any(child.children() for child in lilith.children()), timeout=10)
    reaper = next(child for child in lilith.children() if child.children())
    return reaper, reaper.children()[0]


def audit_records(tmp_path: Path, n: int = 0) -> list[dict[str, Any]]:
    lines = (tmp_path / f"audit-{n}.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def state(pid: int) -> str:
    """The state letter of /proc/PID/stat, or "-" once the process is gone."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rpartition(")")[2].split()[0]
    except OSError:
        return "-"


def ended(pids: dict[str, int], *names: str) -> bool:
    """Have the named processes all exited (a zombie waiting for its parent counts as exited)?"""
    return all(state(pids[name]) in ("-", "Z") for name in names)


def finish_off(pids: dict[str, int]) -> None:
    """Whatever a failed test left: SIGKILL the server's tree and its reaper (a stopped one too)."""
    for name in ("daemon", "server", "reaper"):
        if name in pids:
            try:
                os.kill(pids[name], signal.SIGKILL)
            except OSError:
                pass


# -- A1: a process whose main thread exited is still a process, with all its memory ---------------------------


def test_memory_cap_holds_when_the_main_thread_exits_and_a_worker_thread_grows(
    proxies: list[Proxy], tmp_path: Path
) -> None:
    notes = tmp_path / "notes"
    proxy = start(proxies, tmp_path, "--max-memory", "64M", server=[*MAIN_THREAD_EXIT, "memory", str(notes)])
    _reaper, server = reaper_and_server(proxy)
    assert proxy.proc.wait(10) == 1  # the worker would hold 400 MiB for ten minutes
    written = notes.read_text().splitlines()
    assert written[0] == "leader Z"  # the case arose: /proc/PID/stat showed a zombie with no memory
    reached = max(int(line.split()[1]) for line in written if line.startswith("MiB "))
    assert reached < 200  # stopped within a poll or two of passing 64 MiB, long before 400
    stderr = proxy.stderr()
    assert "server_exited" in stderr and "limit=memory" in stderr and "memory limit of 64 MiB exceeded" in stderr
    exits = [r for r in audit_records(tmp_path) if r["event"] == "server_exit"]
    assert [r["limit"] for r in exits] == ["memory"]
    assert all_gone([server])


def test_process_cap_counts_a_process_whose_main_thread_exited(proxies: list[Proxy], tmp_path: Path) -> None:
    notes = tmp_path / "notes"
    proxy = start(proxies, tmp_path, "--max-processes", "3", server=[*MAIN_THREAD_EXIT, "processes", str(notes)])
    tree = [reaper_and_server(proxy)[1]]
    # The headless server and its three children are four processes; not counting the server, only three.
    assert proxy.proc.wait(10) == 1
    assert notes.read_text().splitlines()[0] == "leader Z"
    stderr = proxy.stderr()
    assert "limit=processes" in stderr and "process limit of 3 exceeded (4 processes in tree)" in stderr
    assert [r["limit"] for r in audit_records(tmp_path) if r["event"] == "server_exit"] == ["processes"]
    assert all_gone(tree)


# -- A7: a server that stops its reaper ------------------------------------------------------------------------


def test_a_server_that_stops_its_reaper_is_killed_with_its_daemon(proxies: list[Proxy], tmp_path: Path) -> None:
    pids_file = tmp_path / "pids.json"
    proxy = start(proxies, tmp_path, server=[*STOPPER, str(pids_file)])
    pids: dict[str, int] = {}
    try:
        assert wait_until(pids_file.exists, timeout=10)
        pids = json.loads(pids_file.read_text())
        assert pids["lilith"] == proxy.proc.pid
        # Lilith notices the stopped reaper within a poll, kills the tree itself and wakes the reaper to reap it.
        tree = ("server", "daemon", "reaper")
        assert wait_until(lambda: ended(pids, *tree), timeout=3), {k: state(v) for k, v in pids.items()}
        assert proxy.proc.wait(5) == 1  # the client is still there: the server's end is a failure
    finally:
        finish_off(pids)
    stderr = proxy.stderr()
    assert "server_exited" in stderr and "limit=supervisor" in stderr and "stopped its supervisor" in stderr
    exits = [r for r in audit_records(tmp_path) if r["event"] == "server_exit"]
    assert [r["limit"] for r in exits] == ["supervisor"]


def test_a_pending_request_is_answered_when_the_server_stops_its_reaper(proxies: list[Proxy], tmp_path: Path) -> None:
    pids_file = tmp_path / "pids.json"
    proxy = start(proxies, tmp_path, server=[*STOPPER, str(pids_file)])
    pids: dict[str, int] = {}
    try:
        assert wait_until(pids_file.exists, timeout=10)
        pids = json.loads(pids_file.read_text())
        reply = proxy.call("ping", timeout=5)  # the server never answers; Lilith does once the tree is gone
        assert reply["error"]["code"] == -32001
        assert "stopped its supervisor" in reply["error"]["message"]
    finally:
        finish_off(pids)


def test_nothing_survives_a_sigkilled_lilith_when_the_server_stopped_it_and_its_reaper(
    proxies: list[Proxy], tmp_path: Path
) -> None:
    pids_file = tmp_path / "pids.json"
    proxy = start(proxies, tmp_path, server=[*STOPPER, str(pids_file), "--stop-lilith"])
    pids: dict[str, int] = {}
    try:
        assert wait_until(pids_file.exists, timeout=10)
        pids = json.loads(pids_file.read_text())
        assert (state(pids["lilith"]), state(pids["reaper"])) == ("T", "T")  # neither can notice anything
        assert not ended(pids, "server", "daemon")
        proxy.proc.kill()  # as an agent host would kill an MCP server that hangs
        proxy.proc.wait(5)
        # Lilith's death sends the reaper its PR_SET_PDEATHSIG, SIGCONT: it wakes, sees EOF and kills the tree.
        tree = ("server", "daemon", "reaper")
        assert wait_until(lambda: ended(pids, *tree), timeout=3), {k: state(v) for k, v in pids.items()}
    finally:
        finish_off(pids)


def test_job_control_stops_neither_stop_the_reaper_nor_stay_ignored_in_the_server(
    proxies: list[Proxy], tmp_path: Path
) -> None:
    record = tmp_path / "received.jsonl"
    policy = tmp_path / "policy.yaml"
    policy.write_text(ALLOW_ECHO_POLICY)
    proxy = start(proxies, tmp_path, "--policy", str(policy), server=[*HOSTILE, "--record", str(record)])
    proxy.initialize()
    reaper, server = reaper_and_server(proxy)
    for signum in JOB_CONTROL_STOPS:  # what a terminal's Ctrl-Z (or a background read or write) sends
        os.kill(reaper.pid, signum)
    assert not wait_until(lambda: state(reaper.pid) == "T", timeout=0.5)
    reply = proxy.tool("echo", {"text": "still supervised"})
    assert reply["result"]["structuredContent"] == {"text": "still supervised"}
    calls = [m for m in recorded(record) if isinstance(m, dict) and m.get("method") == "tools/call"]
    assert [c["params"]["arguments"] for c in calls] == [{"text": "still supervised"}]
    with open(f"/proc/{server.pid}/status") as fh:
        ignored = int(next(line for line in fh if line.startswith("SigIgn:")).split()[1], 16)
    assert [signum for signum in JOB_CONTROL_STOPS if ignored & (1 << (signum - 1))] == []
    assert proxy.close() == 0
