"""Rotation in a real Lilith process: one chain across files, found again by verify, followed by tail -f."""

from __future__ import annotations

import itertools
import json
import os
import queue
import signal
import subprocess
import threading
from pathlib import Path
from typing import Any

from tests.integration.conftest import StartProxy
from tests.integration.harness import LILITH


def _verify(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([LILITH, "audit", "verify", *args], capture_output=True, text=True, timeout=30)


def _set(live: Path) -> list[Path]:
    rotated = sorted(live.parent.glob(live.name + ".[0-9]*"), key=lambda p: int(p.name.rsplit(".", 1)[1]))
    return [*rotated, live]


def _records(paths: list[Path]) -> list[dict[str, Any]]:
    return [json.loads(line) for path in paths for line in path.read_bytes().splitlines() if line.startswith(b"{")]


def test_size_rotation_keeps_every_decision_in_one_verifiable_chain(start_proxy: StartProxy) -> None:
    run = start_proxy("--audit-rotate-size", "2K")
    run.proxy.initialize()
    for n in range(30):
        reply = run.proxy.tool("echo" if n % 3 else "delete_file", {"n": n})
        assert ("result" in reply) == bool(n % 3)
    assert run.proxy.close() == 0
    files = _set(run.audit)
    assert len(files) >= 4
    records = _records(files)
    assert [r["arguments"]["n"] for r in records if r["event"] == "decision"] == list(range(30))
    assert [r["seq"] for r in records] == list(range(1, len(records) + 1))  # one session, no gap, no repeat
    for before, after in itertools.pairwise(files):
        first = json.loads(after.read_bytes().splitlines()[0])
        assert (first["event"], first["previous_file"]) == ("log_rotated", before.name)
    done = _verify(str(run.audit))
    assert done.returncode == 0, done.stdout
    assert f"in {len(files)} files, chain intact" in done.stdout
    globbed = _verify(*sorted(str(p) for p in files))  # as a shell glob lists them: a.jsonl first
    assert globbed.returncode == 0, globbed.stdout

    files[2].unlink()  # a middle file goes missing
    done = _verify(str(run.audit))
    assert done.returncode == 1
    assert done.stdout.startswith(f"{files[3]}:1: continues '{files[2].name}', not '{files[1].name}'")


def test_sigkill_with_rotation_loses_nothing_answered_and_the_set_verifies(start_proxy: StartProxy) -> None:
    run = start_proxy("--audit-rotate-size", "1500")
    run.proxy.initialize()
    for n in range(20):
        assert "result" in run.proxy.tool("echo", {"n": n})
    os.kill(run.proxy.proc.pid, signal.SIGKILL)
    run.proxy.proc.wait(10)
    files = _set(run.audit)
    assert len(files) >= 3
    assert [r["arguments"]["n"] for r in _records(files) if r["event"] == "decision"] == list(range(20))
    done = _verify(str(run.audit))
    assert done.returncode == 0, done.stdout
    again = start_proxy("--audit-log", str(run.audit), "--audit-rotate-size", "1500")  # numbering goes on
    again.proxy.initialize()
    for n in range(10):
        assert "result" in again.proxy.tool("echo", {"n": n})
    assert again.proxy.close() == 0
    assert len(_set(run.audit)) > len(files)
    assert _verify(str(run.audit)).returncode == 0


def test_tail_follow_shows_every_record_once_across_rotations(start_proxy: StartProxy) -> None:
    run = start_proxy("--audit-rotate-size", "2K")
    run.proxy.initialize()
    assert "result" in run.proxy.tool("echo", {"n": -1})
    tail = subprocess.Popen(
        [LILITH, "audit", "tail", "-f", "-n", "0", "--json", str(run.audit)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    lines: queue.Queue[bytes] = queue.Queue()

    def pump() -> None:
        if tail.stdout is not None:
            for raw in tail.stdout:
                lines.put(raw)

    threading.Thread(target=pump, daemon=True).start()
    try:
        seen: list[dict[str, Any]] = []
        # tail -n 0 prints only what is appended once it follows: call until the first record shows up.
        n = 0
        while not seen:
            assert "result" in run.proxy.tool("echo", {"n": n})
            n += 1
            try:
                seen.append(json.loads(lines.get(timeout=1)))
            except queue.Empty:
                assert n < 20, "tail -f printed nothing"
        for m in range(n, n + 25):
            assert "result" in run.proxy.tool("echo", {"n": m})
        assert run.proxy.close() == 0
        files = _set(run.audit)
        assert len(files) >= 4
        expected = [r for r in _records(files) if r["seq"] >= seen[0]["seq"]]
        while len(seen) < len(expected):
            seen.append(json.loads(lines.get(timeout=10)))
        assert seen == expected  # every record after the first, in order, none twice, across every rotation
        assert [r["event"] for r in seen].count("log_rotated") >= 3
    finally:
        tail.terminate()
        tail.wait(10)
