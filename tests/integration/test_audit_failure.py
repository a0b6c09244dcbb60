"""A real Lilith process whose audit log cannot be written: a full disk (a 64 KiB tmpfs) and a writer that
always fails (the log is a symlink to /dev/full, which answers every write with ENOSPC).

Under ``--audit-failure deny`` calls are refused with -32000 naming the audit failure and never reach the
server; under ``continue`` they go through; either way Lilith stays up, and once the disk has room again a
``records_lost`` record says how many records are missing.
"""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import Started, StartProxy
from tests.integration.harness import LILITH, recorded, wait_until


def _calls_received(run: Started) -> list[Any]:
    return [m for m in recorded(run.record) if isinstance(m, dict) and m.get("method") == "tools/call"]


def _fill(directory: Path) -> Path:
    """Fill the file system with a filler file until it refuses another byte."""
    filler = directory / "filler"
    with filler.open("wb", buffering=0) as handle:
        try:
            while True:
                handle.write(b"\0" * 4096)
        except OSError:
            pass
        try:
            while True:
                handle.write(b"\0")
        except OSError:
            pass
    return filler


def _records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_bytes().splitlines() if line.startswith(b"{")]


def _assert_denied_for_audit(reply: dict[str, Any]) -> None:
    error = reply["error"]
    assert error["code"] == -32000
    assert error["data"]["rule"] == "audit-failure"
    assert "audit log could not be written" in error["message"]
    assert "No space left on device" in error["message"]


@pytest.fixture
def tiny_fs(tmp_path: Path) -> Iterator[Path]:
    mount_point = tmp_path / f"tiny-{uuid.uuid4().hex[:8]}"
    mount_point.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount_point)], capture_output=True, text=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root and CAP_SYS_ADMIN): {done.stderr.strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], capture_output=True)


# ------------------------------------------------------------------ a writer that always fails
def test_dev_full_denies_every_call_nothing_reaches_the_server_and_lilith_stays_up(
    start_proxy: StartProxy, tmp_path: Path
) -> None:
    link = tmp_path / "full.jsonl"
    link.symlink_to("/dev/full")
    run = start_proxy("--audit-log", str(link))  # the later flag wins
    assert "result" in run.proxy.initialize()
    for n in range(3):
        _assert_denied_for_audit(run.proxy.tool("echo", {"n": n}))
    assert run.proxy.proc.poll() is None
    assert run.proxy.call("tools/list").get("result") is not None  # not a decision: still served
    assert run.proxy.close() == 0
    assert wait_until(lambda: recorded(run.record) != [])
    assert _calls_received(run) == []
    assert "audit_write_failed" in run.proxy.stderr()


def test_dev_full_under_continue_lets_calls_through_and_says_so_loudly(start_proxy: StartProxy, tmp_path: Path) -> None:
    link = tmp_path / "full.jsonl"
    link.symlink_to("/dev/full")
    run = start_proxy("--audit-log", str(link), "--audit-failure", "continue")
    run.proxy.initialize()
    for n in range(3):
        assert run.proxy.tool("echo", {"n": n})["result"]["structuredContent"]["n"] == n
    assert run.proxy.close() == 0
    assert [call["params"]["arguments"]["n"] for call in _calls_received(run)] == [0, 1, 2]
    stderr = run.proxy.stderr()
    assert "audit_record_lost" in stderr
    assert "No space left on device" in stderr


def test_an_unopenable_audit_log_refuses_to_start_in_either_mode(tmp_path: Path) -> None:
    from tests.integration.harness import lilith_run

    for mode in ("deny", "continue"):
        done = subprocess.run(
            lilith_run("--audit-log", str(tmp_path / "no-such-dir" / "a.jsonl"), "--audit-failure", mode),
            input=b"",
            capture_output=True,
            timeout=30,
        )
        assert done.returncode == 2
        assert b"cannot open audit log" in done.stderr


# ------------------------------------------------------------------ a disk that fills up, then has room again
def test_a_full_disk_denies_until_space_returns_then_the_gap_is_recorded(
    start_proxy: StartProxy, tiny_fs: Path
) -> None:
    log = tiny_fs / "audit.jsonl"
    run = start_proxy("--audit-log", str(log), "--audit-fsync", "always")
    run.proxy.initialize()
    assert "result" in run.proxy.tool("echo", {"n": "before"})
    filler = _fill(tiny_fs)
    # The log's last page may still have room for a few records; the disk is full once a call is refused.
    replies = [run.proxy.tool("echo", {"n": f"full-{n}"}) for n in range(40)]
    refused = [n for n, reply in enumerate(replies) if "error" in reply]
    assert refused, "the disk never filled up"
    first = refused[0]
    assert refused == list(range(first, 40))  # once full, every call is refused
    _assert_denied_for_audit(replies[first])
    assert run.proxy.proc.poll() is None
    filler.unlink()
    assert "result" in run.proxy.tool("echo", {"n": "after"})
    assert run.proxy.close() == 0
    received = [call["params"]["arguments"]["n"] for call in _calls_received(run)]
    assert received == ["before", *(f"full-{n}" for n in range(first)), "after"]  # no refused call got through
    records = _records(log)
    lost = [r for r in records if r["event"] == "records_lost"]
    assert len(lost) == 1
    assert lost[0]["failure_mode"] == "deny"
    assert lost[0]["count"] >= 40 - first
    assert records.index(lost[0]) < max(
        i for i, r in enumerate(records) if r["event"] == "decision" and r["arguments"].get("n") == "after"
    )
    done = subprocess.run([LILITH, "audit", "verify", str(log)], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_full_disk_under_continue_forwards_and_counts_what_was_lost(start_proxy: StartProxy, tiny_fs: Path) -> None:
    log = tiny_fs / "audit.jsonl"
    run = start_proxy("--audit-log", str(log), "--audit-failure", "continue")
    run.proxy.initialize()
    filler = _fill(tiny_fs)
    sent = 0
    while "audit_record_lost" not in run.proxy.stderr() and sent < 40:
        assert "result" in run.proxy.tool("echo", {"n": sent})
        sent += 1
    assert "audit_record_lost" in run.proxy.stderr(), "the disk never filled up"
    for _ in range(5):
        assert "result" in run.proxy.tool("echo", {"n": sent})
        sent += 1
    assert run.proxy.proc.poll() is None
    filler.unlink()
    assert "result" in run.proxy.tool("echo", {"n": "after"})
    assert run.proxy.close() == 0
    assert [call["params"]["arguments"]["n"] for call in _calls_received(run)] == [*range(sent), "after"]
    records = _records(log)
    lost = [r for r in records if r["event"] == "records_lost"]
    assert len(lost) == 1
    assert lost[0]["failure_mode"] == "continue"
    logged = {r["arguments"]["n"] for r in records if r["event"] == "decision"}
    missing = [n for n in range(sent) if n not in logged]
    assert len(missing) >= 6  # at least the decisions of the calls made while the disk was full
    assert lost[0]["count"] >= len(missing)
    assert "audit_log_recovered" in run.proxy.stderr()
    done = subprocess.run([LILITH, "audit", "verify", str(log)], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stdout + done.stderr
