"""The audit log of a real Lilith process: chained, sealed, verifiable offline, and safe against SIGKILL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

from tests.integration.conftest import StartProxy
from tests.integration.harness import LILITH


def _verify(path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([LILITH, "audit", "verify", str(path), *extra], capture_output=True, text=True, timeout=30)


def test_sigkill_mid_session_loses_no_answered_decision_and_the_log_verifies(start_proxy: StartProxy) -> None:
    run = start_proxy()
    run.proxy.initialize()
    answered = 0
    for n in range(20):
        reply = run.proxy.tool("echo" if n % 2 else "delete_file", {"n": n})
        answered += 1
        assert "result" in reply or reply["error"]["code"] == -32000
    os.kill(run.proxy.proc.pid, signal.SIGKILL)
    run.proxy.proc.wait(10)
    records = [json.loads(line) for line in run.audit.read_text().splitlines()]
    assert len([r for r in records if r.get("event") == "decision"]) == answered
    done = _verify(run.audit)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "chain intact" in done.stdout


def test_a_second_run_continues_the_chain_and_tampering_is_named(start_proxy: StartProxy, tmp_path: Path) -> None:
    first = start_proxy()
    first.proxy.initialize()
    assert "result" in first.proxy.tool("echo")
    assert first.proxy.close() == 0
    second = start_proxy("--audit-log", str(first.audit))  # the later flag wins: same file
    second.proxy.initialize()
    assert second.proxy.tool("delete_file")["error"]["code"] == -32000
    assert second.proxy.close() == 0
    assert _verify(first.audit).returncode == 0
    lines = first.audit.read_bytes().splitlines(keepends=True)
    assert len(lines) == 2
    first.audit.write_bytes(lines[0].replace(b'"allow"', b'"deny"') + lines[1])
    done = _verify(first.audit)
    assert done.returncode == 1
    assert "line 1: MAC mismatch" in done.stdout
    first.audit.write_bytes(lines[1])
    done = _verify(first.audit)
    assert done.returncode == 1
    assert "line 1: chain broken" in done.stdout


def test_verify_with_the_wrong_key_fails(start_proxy: StartProxy, tmp_path: Path) -> None:
    run = start_proxy()
    run.proxy.initialize()
    run.proxy.tool("echo")
    run.proxy.close()
    other = tmp_path / "other.key"
    other.write_text("f" * 64)
    done = _verify(run.audit, "--key-file", str(other))
    assert done.returncode == 1
    assert "MAC mismatch" in done.stdout
    assert _verify(run.audit, "--no-key").returncode == 0


def test_a_named_key_file_must_exist(tmp_path: Path) -> None:
    from tests.integration.harness import lilith_run

    missing = tmp_path / "nope.key"
    done = subprocess.run(
        lilith_run("--audit-log", str(tmp_path / "a.jsonl"), "--audit-key-file", str(missing)),
        input=b"",
        capture_output=True,
        timeout=30,
    )
    assert done.returncode == 2
    assert "cannot read audit key" in done.stderr.decode()
