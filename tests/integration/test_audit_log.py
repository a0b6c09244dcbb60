"""The audit log of a real Lilith process: chained, sealed, verifiable offline, and safe against SIGKILL."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
from pathlib import Path

from tests.integration.conftest import StartProxy
from tests.integration.harness import HOSTILE, LILITH, lilith_run


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
    events = [json.loads(line)["event"] for line in lines]
    assert [e for e in events if e != "result"] == [
        "session_start",
        "policy_load",
        "initialize",
        "decision",
        "session_end",
    ] * 2
    at = events.index("decision")  # the allowed call's record, line at + 1
    first.audit.write_bytes(b"".join([*lines[:at], lines[at].replace(b'"allow"', b'"deny"'), *lines[at + 1 :]]))
    done = _verify(first.audit)
    assert done.returncode == 1
    assert f"{first.audit}:{at + 1}: MAC mismatch" in done.stdout
    first.audit.write_bytes(b"".join([*lines[:at], *lines[at + 1 :]]))  # the allowed call's record removed
    done = _verify(first.audit)
    assert done.returncode == 1
    assert f"{first.audit}:{at + 1}: chain broken" in done.stdout


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


def test_arguments_are_logged_redacted_never_raw(start_proxy: StartProxy) -> None:
    run = start_proxy()
    run.proxy.initialize()
    secret_args = {
        "to": "alice@example.com",
        "note": "card 4111 1111 1111 1111, key AKIAIOSFODNN7EXAMPLE",
        "password": "hunter2",
        "n": 3,
    }
    assert "result" in run.proxy.tool("echo", secret_args)  # the server still gets the real values
    assert run.proxy.tool("delete_file", {"path": "/home/alice/taxes.pdf", "token": "ghp_" + "a" * 36})["error"]
    run.proxy.close()
    raw = run.audit.read_text()
    for secret in ("alice@example.com", "4111 1111 1111 1111", "AKIAIOSFODNN7EXAMPLE", "hunter2", "ghp_aaaa"):
        assert secret not in raw
    records = [json.loads(line) for line in raw.splitlines() if '"decision"' in line]
    echo = next(r for r in records if r["tool"] == "echo")
    assert echo["arguments"]["to"].startswith("<email:")
    assert echo["arguments"]["password"].startswith("<secret:")
    assert echo["arguments"]["n"] == 3
    assert "<card:" in echo["arguments"]["note"]
    assert "<aws_key:" in echo["arguments"]["note"]
    assert _verify(run.audit).returncode == 0


def test_fsync_always_works_end_to_end(start_proxy: StartProxy) -> None:
    run = start_proxy("--audit-fsync", "always")
    run.proxy.initialize()
    for _ in range(5):
        assert "result" in run.proxy.tool("echo")
    assert run.proxy.close() == 0
    assert _verify(run.audit).returncode == 0
    assert sum(1 for line in run.audit.read_text().splitlines() if '"decision"' in line) == 5


def test_a_second_lilith_on_the_same_log_refuses_to_start(start_proxy: StartProxy, tmp_path: Path) -> None:
    first = start_proxy()
    first.proxy.initialize()
    first.proxy.tool("echo", {"n": 1})
    record = tmp_path / "second-received.jsonl"
    done = subprocess.run(
        lilith_run("--audit-log", str(first.audit), server=[*HOSTILE, "--record", str(record)]),
        input=b"",
        capture_output=True,
        timeout=30,
    )
    assert done.returncode == 2
    assert b"being written by another running Lilith" in done.stderr
    assert not record.exists()  # no server was started
    first.proxy.tool("echo", {"n": 2})
    assert first.proxy.close() == 0
    done_verify = _verify(first.audit)
    assert done_verify.returncode == 0, done_verify.stdout


def test_without_a_key_lilith_creates_one_privately_and_says_where(tmp_path: Path) -> None:
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "config")}
    env.pop("LILITH_AUDIT_KEY_FILE", None)
    done = subprocess.run(
        lilith_run("--audit-log", str(tmp_path / "a.jsonl")), input=b"", capture_output=True, timeout=30, env=env
    )
    assert done.returncode == 0, done.stderr
    key = tmp_path / "config" / "lilith" / "audit.key"
    assert "audit_key_created" in done.stderr.decode() and str(key) in done.stderr.decode()
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    verified = subprocess.run(
        [LILITH, "audit", "verify", str(tmp_path / "a.jsonl")], capture_output=True, text=True, timeout=30, env=env
    )
    assert verified.returncode == 0, verified.stdout
