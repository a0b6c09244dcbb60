"""Review 7: paths that are not regular files, and start-up errors, through real ``lilith`` processes.

A policy path swapped for a FIFO or a device mid-session is a rejected reload and the main loop keeps
running (timeouts, exit); a FIFO named at start as policy, audit key, pin store or redaction config (or at
the pin store's lock file) refuses to start, naming the path and what it is; a deleted working directory and
a damaged pin store are refusals with exit 2, not tracebacks; ``lilith audit verify`` names the file it
cannot read.
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import StartProxy
from tests.integration.harness import ALLOW_ECHO_POLICY, HOSTILE, LILITH, Proxy, lilith_run, recorded, wait_until

START_TIMEOUT = 15  # seconds; a start that hangs in open() is stopped here and fails the test


def _records(audit: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in audit.read_text().splitlines()]


def _calls(record: Path) -> list[Any]:
    return [
        m["params"]["arguments"] for m in recorded(record) if isinstance(m, dict) and m.get("method") == "tools/call"
    ]


def _start(tmp: Path, *options: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """A ``lilith run`` that should refuse to start; the hostile server would create ``received.jsonl``."""
    record = tmp / "received.jsonl"
    try:
        return subprocess.run(
            lilith_run(*options, server=[*HOSTILE, "--record", str(record)]),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=START_TIMEOUT,
            env={**os.environ, **(env or {})},
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"lilith did not exit within {START_TIMEOUT} s (blocked opening a file?)")


def _refused(done: subprocess.CompletedProcess[str], tmp: Path, *words: str) -> None:
    """Exit 2, one clear line containing ``words``, no traceback, and no server ever started."""
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("lilith: ")
    for word in words:
        assert word in last, last
    assert not (tmp / "received.jsonl").exists(), "the server was started"
    assert "server_started" not in done.stderr


# --- 1: a policy path swapped for a FIFO or a device mid-session ------------------------------------------


@pytest.mark.parametrize("kind", ["fifo", "device"])
def test_a_policy_swapped_for_a_fifo_or_device_is_a_rejected_reload_and_lilith_keeps_running(
    start_proxy: StartProxy, tmp_path: Path, kind: str
) -> None:
    real = tmp_path / "real.yaml"
    real.write_text(ALLOW_ECHO_POLICY)
    link = tmp_path / "policy.yaml"
    link.symlink_to(real)  # as configuration managers deploy policies: a link swapped atomically
    started = start_proxy("--policy", str(link), "--request-timeout", "1", policy=None)
    proxy = started.proxy
    proxy.initialize()
    assert "result" in proxy.tool("echo", {"n": 1})

    if kind == "fifo":
        target = tmp_path / "nobody-writes-this"
        os.mkfifo(target)
    else:
        target = Path("/dev/zero")  # never ends: a reader that reads it all never comes back
    swap = tmp_path / "swap"
    swap.symlink_to(target)
    os.replace(swap, link)
    assert wait_until(lambda: "policy_reload_failed" in proxy.stderr(), timeout=5)
    failed = next(line for line in proxy.stderr().splitlines() if "policy_reload_failed" in line)
    kind_words = "a FIFO, not a regular file" if kind == "fifo" else "a character device, not a regular file"
    assert kind_words in failed and str(link) in failed

    # The main loop is alive: a request timeout still fires, and calls go on under the old policy.
    began = time.monotonic()
    timed_out = proxy.tool("hang", timeout=10)
    assert timed_out["error"]["code"] == -32001 and time.monotonic() - began < 5
    assert proxy.tool("echo", {"n": 2})["result"]["content"][0]["text"] == '{"n": 2}'
    assert proxy.tool("delete_file")["error"]["code"] == -32000  # still the old policy's DENY
    assert _calls(started.record) == [{"n": 1}, {}, {"n": 2}]  # delete_file never reached the server
    assert proxy.close(timeout=10) == 0  # client EOF still ends Lilith

    rejected = [r for r in _records(started.audit) if r["event"] == "policy_reload"]
    assert len(rejected) == 1 and rejected[0]["outcome"] == "rejected"
    assert kind_words in rejected[0]["error"]


def test_sigterm_ends_lilith_after_its_policy_became_a_fifo(start_proxy: StartProxy, tmp_path: Path) -> None:
    real = tmp_path / "real.yaml"
    real.write_text(ALLOW_ECHO_POLICY)
    link = tmp_path / "policy.yaml"
    link.symlink_to(real)
    started = start_proxy("--policy", str(link), policy=None)
    started.proxy.initialize()
    link.unlink()
    os.mkfifo(link)  # the path itself this time, not a link to one
    assert wait_until(lambda: "policy_reload_failed" in started.proxy.stderr(), timeout=5)
    started.proxy.proc.terminate()
    assert started.proxy.proc.wait(10) == 128 + 15  # Lilith's exit status after SIGTERM


def test_the_recorded_digest_is_of_the_policy_that_was_loaded(start_proxy: StartProxy, tmp_path: Path) -> None:
    started = start_proxy()
    proxy = started.proxy
    proxy.initialize()
    first = started.policy.read_bytes()
    second = first.replace(b"add: ALLOW", b"add: DENY")
    started.policy.write_bytes(second)
    assert wait_until(lambda: "policy_reloaded" in proxy.stderr(), timeout=5)
    assert proxy.tool("add", {"a": 1, "b": 2})["error"]["code"] == -32000
    proxy.close()
    records = _records(started.audit)
    [load] = [r for r in records if r["event"] == "policy_load"]
    [reload] = [r for r in records if r["event"] == "policy_reload"]
    assert load["sha256"] == hashlib.sha256(first).hexdigest()
    assert reload["outcome"] == "applied" and reload["sha256"] == hashlib.sha256(second).hexdigest()


def test_a_policy_larger_than_16_mib_is_refused_at_start_and_on_reload(start_proxy: StartProxy, tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    with big.open("wb") as handle:  # sparse: no 16 MiB written, st_size alone is enough to refuse it
        handle.write(b"version: 1\n")
        handle.truncate((16 << 20) + 1)
    _refused(_start(tmp_path, "--policy", str(big)), tmp_path, str(big), "larger than 16 MiB")

    started = start_proxy()
    started.proxy.initialize()
    os.truncate(started.policy, (16 << 20) + 1)
    assert wait_until(lambda: "policy_reload_failed" in started.proxy.stderr(), timeout=5)
    assert "larger than 16 MiB" in started.proxy.stderr()
    assert "result" in started.proxy.tool("echo", {"still": "old policy"})
    assert started.proxy.close() == 0


# --- 5: FIFOs named at start-up -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("option", "variable", "words"),
    [
        ("--policy", None, ["cannot read policy file"]),
        (None, "LILITH_POLICY", ["cannot read policy file"]),
        ("--audit-key-file", None, ["cannot read audit key"]),
        (None, "LILITH_AUDIT_KEY_FILE", ["cannot read audit key"]),
        ("--pin-store", None, ["cannot read pin store"]),
        (None, "LILITH_PIN_STORE", ["cannot read pin store"]),
        ("--redaction-config", None, ["cannot read redaction config"]),
    ],
)
def test_a_fifo_named_at_start_is_refused_at_once(
    tmp_path: Path, option: str | None, variable: str | None, words: list[str]
) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    options = ["--audit-log", str(tmp_path / "audit.jsonl")]
    if option is not None:
        options += [option, str(fifo)]
    began = time.monotonic()
    done = _start(tmp_path, *options, env={variable: str(fifo)} if variable else None)
    assert time.monotonic() - began < 10
    _refused(done, tmp_path, str(fifo), "is a FIFO, not a regular file", *words)


def test_a_fifo_at_the_pin_stores_lock_file_is_refused_at_start(tmp_path: Path) -> None:
    store = tmp_path / "pins.json"
    os.mkfifo(f"{store}.lock")
    done = _start(tmp_path, "--pin-store", str(store))
    _refused(done, tmp_path, f"{store}.lock", "is a FIFO, not a regular file")


# --- 4: start-up errors that were tracebacks --------------------------------------------------------------


@pytest.mark.parametrize("cwd_option", [None, "relative"])
def test_a_deleted_working_directory_is_refused_with_a_message(tmp_path: Path, cwd_option: str | None) -> None:
    gone = tmp_path / "gone"
    gone.mkdir()
    record = tmp_path / "received.jsonl"
    options = ["--cwd", cwd_option] if cwd_option else []
    command = shlex.join(lilith_run(*options, server=[*HOSTILE, "--record", str(record)]))
    # The shell stands in a directory and removes it, then becomes Lilith there.
    script = f"cd {shlex.quote(str(gone))} && rmdir {shlex.quote(str(gone))} && exec {command}"
    done = subprocess.run(
        ["sh", "-c", script], stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=START_TIMEOUT
    )
    _refused(done, tmp_path, "working directory", "--cwd")


def test_an_absolute_cwd_lets_lilith_start_from_a_deleted_directory(tmp_path: Path) -> None:
    gone = tmp_path / "gone"
    gone.mkdir()
    work = tmp_path / "work"
    work.mkdir()
    (work / "x").write_text("in work")
    policy = tmp_path / "policy.yaml"
    policy.write_text(
        "version: 1\nstatic_rules:\n  read_file: ALLOW\nargument_rules:\n"
        f"  - {{tool: read_file, arg: path, path_within: [{work}]}}\n"
    )
    record = tmp_path / "received.jsonl"
    command = shlex.join(
        lilith_run("--policy", str(policy), "--cwd", str(work), server=[*HOSTILE, "--record", str(record)])
    )
    script = f"cd {shlex.quote(str(gone))} && rmdir {shlex.quote(str(gone))} && exec {command}"
    proxy = Proxy(["sh", "-c", script], tmp_path)
    try:
        proxy.initialize()
        assert "result" in proxy.tool("read_file", {"path": "x"})  # relative: judged under --cwd
        assert proxy.tool("read_file", {"path": "../x"})["error"]["code"] == -32000
        assert proxy.close() == 0
    finally:
        proxy.kill()
    assert _calls(record) == [{"path": "x"}]


@pytest.mark.parametrize(
    ("content", "words"),
    [
        ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
        ('{"version":1,"servers":{"k":{"tools":{"echo":' + '{"a":' * 50_000 + "1" + "}" * 50_004, "nested too deeply"),
        ('{"version": true, "servers": {}}', "is not a version 1 pin store"),
        ('{"version": 1.0, "servers": {}}', "is not a version 1 pin store"),
    ],
    ids=["deep-list", "deep-in-servers", "version-true", "version-1.0"],
)
def test_a_damaged_pin_store_is_refused_with_exit_2(tmp_path: Path, content: str, words: str) -> None:
    store = tmp_path / "pins.json"
    store.write_text(content)
    _refused(_start(tmp_path, "--pin-store", str(store)), tmp_path, str(store), words)


# --- side note: lilith audit verify names the file it cannot read ----------------------------------------


def test_verify_names_a_rotated_file_that_is_a_directory(start_proxy: StartProxy, tmp_path: Path) -> None:
    started = start_proxy("--audit-rotate-size", "2k")
    started.proxy.initialize()
    for n in range(12):
        assert "result" in started.proxy.tool("echo", {"n": "y" * 200 + str(n)})
    assert started.proxy.close() == 0
    first = Path(f"{started.audit}.1")
    assert first.is_file()
    first.rename(tmp_path / "moved-away")
    first.mkdir()  # planted where the oldest rotated file was
    (first / "x").write_text("")
    key = Path(os.environ["XDG_CONFIG_HOME"]) / "lilith" / "audit.key"
    done = subprocess.run(
        [LILITH, "audit", "verify", str(started.audit), "--key-file", str(key)], capture_output=True, text=True
    )
    out = (done.stdout + done.stderr).strip()
    assert done.returncode == 1, out
    assert out == f"{first}:1: not a regular file (a log is never a directory, a FIFO or a device)"


def test_verify_refuses_a_fifo_head_file_without_waiting(start_proxy: StartProxy, tmp_path: Path) -> None:
    started = start_proxy()
    started.proxy.initialize()
    assert started.proxy.close() == 0
    fifo = tmp_path / "head-fifo"
    os.mkfifo(fifo)
    key = Path(os.environ["XDG_CONFIG_HOME"]) / "lilith" / "audit.key"
    done = subprocess.run(
        [LILITH, "audit", "verify", str(started.audit), "--key-file", str(key), "--head-file", str(fifo)],
        capture_output=True,
        text=True,
        timeout=START_TIMEOUT,
    )
    assert done.returncode == 1
    assert done.stdout.strip() == f"{fifo}:1: head file unreadable: it is a FIFO, not a regular file"
