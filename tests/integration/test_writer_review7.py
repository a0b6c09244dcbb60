"""A real Lilith whose audit log file is deleted, its directory removed, moved away or emptied mid-session, and
one given a FIFO as its log. Each loss is said on stderr within a second, the log goes on in a new file whose
first record names what was lost, ``lilith audit verify`` reports it; a FIFO stops Lilith at once (exit 2)."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests.integration.audit_records import schema_problems
from tests.integration.conftest import Started, StartProxy
from tests.integration.harness import HOSTILE, LILITH, lilith_run, recorded, wait_until


def _records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_bytes().splitlines()]


def _verify(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([LILITH, "audit", "verify", *args], capture_output=True, text=True, timeout=30)


def _calls_received(run: Started) -> list[Any]:
    calls = [m for m in recorded(run.record) if isinstance(m, dict) and m.get("method") == "tools/call"]
    return [m["params"]["arguments"]["n"] for m in calls]


def _said(run: Started, event: str) -> bool:
    return event in run.proxy.stderr()


def _closed_hash(run: Started) -> str:
    found = re.search(r"audit_log_closed .* last_hash=([0-9a-f]{64})", run.proxy.stderr())
    assert found is not None, run.proxy.stderr()
    return found.group(1)


def test_a_log_deleted_mid_session_is_said_and_a_new_file_names_the_records_lost(start_proxy: StartProxy) -> None:
    run = start_proxy()
    run.proxy.initialize()
    assert "result" in run.proxy.tool("echo", {"n": 1})
    time.sleep(1.3)  # a tick (once a second) sees the log in place after call 1
    run.audit.unlink()
    for n in (2, 3, 4):  # before the next tick: written into the deleted file
        assert "result" in run.proxy.tool("echo", {"n": n})
    assert wait_until(lambda: _said(run, "audit_log_replaced"), timeout=5)
    assert "result" in run.proxy.tool("echo", {"n": 5})
    assert run.proxy.close() == 0

    stderr = run.proxy.stderr()
    assert re.search(r"ERROR +audit_log_replaced .*reason=deleted", stderr), stderr
    assert _calls_received(run) == [1, 2, 3, 4, 5]
    records = _records(run.audit)
    first = records[0]
    assert (first["event"], first["reason"]) == ("log_replaced", "deleted")
    # Calls 2-4 (a decision and a result each) were written after the last look: named as unseen.
    assert first["previous_seq"] - first["seen_seq"] >= 6
    assert first["prev"] == first["previous_hash"] and first["seq"] == first["previous_seq"] + 1
    five = [r for r in records if r.get("event") == "decision" and r.get("arguments", {}).get("n") == 5]
    assert len(five) == 1
    # The close names a record that is on disk, in the new file.
    assert _closed_hash(run) == hashlib.sha256(run.audit.read_bytes().splitlines()[-1]).hexdigest()
    done = _verify(str(run.audit))
    assert done.returncode == 1, done.stdout
    assert f"{run.audit}:1: the log file before this one was deleted while Lilith wrote it" in done.stdout
    assert f"after seq {first['seen_seq']}" in done.stdout


def test_a_log_deleted_in_the_last_second_is_found_at_exit(start_proxy: StartProxy) -> None:
    run = start_proxy()
    run.proxy.initialize()
    assert "result" in run.proxy.tool("echo", {"n": 1})
    run.audit.unlink()
    assert run.proxy.close() == 0
    assert _records(run.audit)[0]["event"] == "log_replaced"
    assert _closed_hash(run) == hashlib.sha256(run.audit.read_bytes().splitlines()[-1]).hexdigest()
    assert _verify(str(run.audit)).returncode == 1


@pytest.mark.parametrize("mode", ["deny", "continue"])
def test_a_removed_log_directory_fails_records_until_it_is_back(
    start_proxy: StartProxy, tmp_path: Path, mode: str
) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    log = logs / "audit.jsonl"
    run = start_proxy("--audit-log", str(log), "--audit-failure", mode)  # the later flag wins
    run.proxy.initialize()
    assert "result" in run.proxy.tool("echo", {"n": 1})
    shutil.rmtree(logs)
    assert wait_until(lambda: _said(run, "audit_log_not_restarted"), timeout=5)
    reply = run.proxy.tool("echo", {"n": 2})
    if mode == "deny":
        assert reply["error"]["data"]["rule"] == "audit-failure"
        assert "cannot be started again" in reply["error"]["message"]
    else:
        assert "result" in reply
    logs.mkdir()
    assert "result" in run.proxy.tool("echo", {"n": 3})
    assert run.proxy.close() == 0

    assert _calls_received(run) == ([1, 3] if mode == "deny" else [1, 2, 3])
    events = [r["event"] for r in _records(log)]
    assert events[:3] == ["log_replaced", "records_lost", "decision"]
    lost = _records(log)[1]
    assert lost["failure_mode"] == mode and lost["count"] >= 1
    assert schema_problems(log) == []
    assert "deleted while Lilith wrote it" in _verify(str(log)).stdout


def test_a_log_renamed_to_a_rotated_name_mid_session_verifies_as_one_chain(start_proxy: StartProxy) -> None:
    run = start_proxy()
    run.proxy.initialize()
    assert "result" in run.proxy.tool("echo", {"n": 1})
    os.rename(run.audit, f"{run.audit}.1")
    assert wait_until(lambda: _said(run, "audit_log_replaced"), timeout=5)
    assert "result" in run.proxy.tool("echo", {"n": 2})
    assert run.proxy.close() == 0
    first = _records(run.audit)[0]
    assert (first["event"], first["reason"], first["previous_file"]) == ("log_rotated", "moved", "audit-0.jsonl.1")
    done = _verify(str(run.audit))
    assert done.returncode == 0, done.stdout
    assert "in 2 files, chain intact" in done.stdout


def test_a_log_moved_away_with_an_empty_file_left_goes_on_in_that_file(start_proxy: StartProxy, tmp_path: Path) -> None:
    run = start_proxy()
    run.proxy.initialize()
    assert "result" in run.proxy.tool("echo", {"n": 1})
    archive = tmp_path / "archived.jsonl"
    os.rename(run.audit, archive)
    run.audit.write_bytes(b"")  # logrotate's `create`
    assert wait_until(lambda: _said(run, "audit_log_replaced"), timeout=5)
    assert "result" in run.proxy.tool("echo", {"n": 2})
    assert run.proxy.close() == 0
    first = _records(run.audit)[0]
    assert (first["event"], first["reason"]) == ("log_replaced", "moved")
    done = _verify(str(run.audit))
    assert done.returncode == 0 and "moved away while a run of Lilith wrote it" in done.stdout, done.stdout
    assert _verify(str(run.audit), "--require-head").returncode == 1
    # The archived file is whole up to the record the new file chains on.
    assert _verify(str(archive), "--last-hash", first["previous_hash"]).returncode == 0


def test_a_log_emptied_in_place_mid_session_says_so_and_fails_verify(start_proxy: StartProxy) -> None:
    run = start_proxy()
    run.proxy.initialize()
    assert "result" in run.proxy.tool("echo", {"n": 1})
    os.truncate(run.audit, 0)
    assert wait_until(lambda: _said(run, "audit_log_replaced"), timeout=5)
    assert "result" in run.proxy.tool("echo", {"n": 2})
    assert run.proxy.close() == 0
    assert re.search(r"ERROR +audit_log_replaced .*reason=truncated", run.proxy.stderr())
    assert _records(run.audit)[0]["reason"] == "truncated"
    done = _verify(str(run.audit))
    assert done.returncode == 1 and "emptied or cut while Lilith wrote it" in done.stdout, done.stdout


def test_a_name_taken_by_a_file_with_content_is_never_written_into(start_proxy: StartProxy) -> None:
    run = start_proxy()
    run.proxy.initialize()
    assert "result" in run.proxy.tool("echo", {"n": 1})
    run.audit.unlink()
    run.audit.write_bytes(b"not ours\n")
    assert wait_until(lambda: _said(run, "audit_log_not_restarted"), timeout=5)
    reply = run.proxy.tool("echo", {"n": 2})
    assert "replaced by another file" in reply["error"]["message"]
    assert run.audit.read_bytes() == b"not ours\n"
    run.audit.unlink()
    assert "result" in run.proxy.tool("echo", {"n": 3})
    assert run.proxy.close() == 0
    assert _calls_received(run) == [1, 3]
    assert [r["event"] for r in _records(run.audit)][:2] == ["log_replaced", "records_lost"]


def test_verify_reports_a_deleted_live_log_as_records_cut_off(start_proxy: StartProxy) -> None:
    run = start_proxy()
    run.proxy.initialize()
    assert "result" in run.proxy.tool("echo", {"n": 1})
    assert run.proxy.close() == 0
    run.audit.unlink()
    done = _verify(str(run.audit))
    assert done.returncode == 1, done.stdout + done.stderr
    assert "the log ends before the record its head file names" in done.stdout
    assert "(the live file is missing)" in done.stdout


@pytest.mark.parametrize("reader", [False, True])
def test_a_fifo_as_the_audit_log_refuses_to_start_at_once(tmp_path: Path, reader: bool) -> None:
    fifo = tmp_path / "audit.jsonl"
    os.mkfifo(fifo)
    record = tmp_path / "received.jsonl"
    reading = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK) if reader else None
    try:
        started = time.monotonic()
        done = subprocess.run(
            lilith_run("--audit-log", str(fifo), server=[*HOSTILE, "--record", str(record)]),
            input=b"",
            capture_output=True,
            timeout=20,
        )
    finally:
        if reading is not None:
            os.close(reading)
    assert done.returncode == 2, done.stderr
    assert time.monotonic() - started < 10
    stderr = done.stderr.decode()
    assert ("nobody reads" if not reader else "not a regular file") in stderr
    assert "server_started" not in stderr and not record.exists()
