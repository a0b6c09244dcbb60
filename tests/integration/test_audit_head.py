"""The head file of a real Lilith run: records cut off the end of the log are found by ``lilith audit verify``."""

from __future__ import annotations

import glob
import json
import os
import signal
import stat
import subprocess
import time
from pathlib import Path

from tests.integration.conftest import Started, StartProxy
from tests.integration.harness import LILITH


def _verify(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([LILITH, "audit", "verify", *args], capture_output=True, text=True, timeout=30)


def _head(run: Started) -> dict[str, object]:
    value = json.loads(Path(f"{run.audit}.head").read_text())
    assert isinstance(value, dict)
    return value


def _session(start_proxy: StartProxy, calls: int = 6, *options: str) -> Started:
    run = start_proxy(*options)
    run.proxy.initialize()
    for n in range(calls):
        run.proxy.tool("echo" if n % 2 else "delete_file", {"n": n})
    assert run.proxy.close() == 0
    return run


def test_a_run_leaves_a_sealed_head_naming_its_last_record(start_proxy: StartProxy) -> None:
    run = _session(start_proxy)
    head_file = Path(f"{run.audit}.head")
    assert stat.S_IMODE(head_file.stat().st_mode) == 0o600
    head = _head(run)
    last = run.audit.read_bytes().splitlines()[-1]
    assert json.loads(last)["event"] == "session_end"
    import hashlib

    assert head["hash"] == hashlib.sha256(last).hexdigest()
    assert head["seq"] == json.loads(last)["seq"]
    done = _verify(str(run.audit))
    assert done.returncode == 0, done.stdout
    assert f"the head file's record (seq {head['seq']}) is present" in done.stdout
    # The same witness on stderr, for whoever keeps Lilith's logs.
    assert f"last_hash={head['hash']}" in run.proxy.stderr()


def test_records_cut_off_the_end_are_found(start_proxy: StartProxy) -> None:
    run = _session(start_proxy)
    lines = run.audit.read_bytes().splitlines(keepends=True)
    run.audit.write_bytes(b"".join(lines[:-3]))  # the chain of what is left is intact
    for extra in ((), ("--no-key",)):
        done = _verify(str(run.audit), *extra)
        assert done.returncode == 1, done.stdout
        assert f"{run.audit}:{len(lines) - 2}: the log ends before the record its head file names" in done.stdout
        assert "cut off the end" in done.stdout


def test_a_missing_head_is_said_and_fails_when_required(start_proxy: StartProxy) -> None:
    run = _session(start_proxy)
    Path(f"{run.audit}.head").unlink()
    done = _verify(str(run.audit))
    assert done.returncode == 0
    assert "no head file, so the end of the log is not checked" in done.stdout
    required = _verify(str(run.audit), "--require-head")
    assert required.returncode == 1
    assert "no head file" in required.stdout


def test_a_forged_head_is_refused(start_proxy: StartProxy) -> None:
    run = _session(start_proxy)
    head_file = Path(f"{run.audit}.head")
    lines = run.audit.read_bytes().splitlines(keepends=True)
    run.audit.write_bytes(b"".join(lines[:-3]))
    forged = head_file.read_text().replace(f'"seq":{_head(run)["seq"]}', '"seq":1')
    head_file.write_text(forged)  # an attacker without the key cannot point the head at the new end
    done = _verify(str(run.audit))
    assert done.returncode == 1
    assert "head file: MAC mismatch" in done.stdout


def test_the_head_follows_a_running_session_so_sigkill_leaves_a_verifiable_log(start_proxy: StartProxy) -> None:
    run = start_proxy()
    run.proxy.initialize()
    for n in range(3):
        run.proxy.tool("echo", {"n": n})
    deadline = time.monotonic() + 5
    while not Path(f"{run.audit}.head").exists() and time.monotonic() < deadline:
        time.sleep(0.1)  # refreshed once a second while records come
    first = _head(run)
    for n in range(3):
        run.proxy.tool("echo", {"n": 10 + n})
    os.kill(run.proxy.proc.pid, signal.SIGKILL)
    run.proxy.proc.wait(10)
    assert _head(run)["seq"] >= first["seq"]  # type: ignore[operator]
    done = _verify(str(run.audit))
    assert done.returncode == 0, done.stdout
    lines = run.audit.read_bytes().splitlines(keepends=True)
    cut = next(n for n, line in enumerate(lines) if json.loads(line)["seq"] == first["seq"])
    run.audit.write_bytes(b"".join(lines[:cut]))  # cutting the witnessed record itself is found
    assert _verify(str(run.audit)).returncode == 1


def test_the_head_guards_a_rotated_set_and_a_shell_glob_leaves_it_out(start_proxy: StartProxy) -> None:
    run = _session(start_proxy, 30, "--audit-rotate-size", "2K")
    files = sorted(glob.glob(f"{run.audit}*"))
    assert f"{run.audit}.head" in files and f"{run.audit}.1" in files
    done = _verify(*files)
    assert done.returncode == 0, done.stdout
    assert "head file's record" in done.stdout
    lines = run.audit.read_bytes().splitlines(keepends=True)
    run.audit.write_bytes(b"".join(lines[:-1]))
    assert _verify(str(run.audit)).returncode == 1


def test_a_head_kept_elsewhere_or_the_logged_hash_catches_a_rollback_of_both(
    start_proxy: StartProxy, tmp_path: Path
) -> None:
    first = _session(start_proxy, 2)
    old_log, old_head = first.audit.read_bytes(), Path(f"{first.audit}.head").read_bytes()
    second = start_proxy("--audit-log", str(first.audit))  # the same log, continued
    second.proxy.initialize()
    second.proxy.tool("delete_file", {"path": "/evidence"})
    assert second.proxy.close() == 0
    shipped = tmp_path / "shipped.head"
    shipped.write_bytes(Path(f"{first.audit}.head").read_bytes())
    logged = next(word.split("=", 1)[1] for word in second.proxy.stderr().split() if word.startswith("last_hash="))
    # The attacker rolls the log and its head file back to before the second run: a consistent pair.
    first.audit.write_bytes(old_log)
    Path(f"{first.audit}.head").write_bytes(old_head)
    assert _verify(str(first.audit)).returncode == 0  # undetectable from what sits next to the log
    for extra in (("--head-file", str(shipped)), ("--last-hash", logged)):
        done = _verify(str(first.audit), *extra)
        assert done.returncode == 1, (extra, done.stdout)
        assert "records were cut off the end" in done.stdout
    assert _verify(str(first.audit), "--head-file", str(tmp_path / "nowhere.head")).returncode == 1


def test_deleting_the_live_file_is_found_even_when_only_rotated_files_are_named(start_proxy: StartProxy) -> None:
    run = _session(start_proxy, 30, "--audit-rotate-size", "2K")
    run.audit.unlink()
    rotated = sorted(glob.glob(f"{run.audit}.[0-9]*"))
    for named in ((str(run.audit),), tuple(rotated), tuple(glob.glob(f"{run.audit}*"))):
        done = _verify(*named)
        assert done.returncode == 1, (named, done.stdout)
        assert "records were cut off the end" in done.stdout


def test_a_log_cut_while_lilith_was_stopped_is_caught_by_the_next_run(start_proxy: StartProxy) -> None:
    first = _session(start_proxy)
    lines = first.audit.read_bytes().splitlines(keepends=True)
    first.audit.write_bytes(b"".join(lines[:-3]))  # cut while no Lilith runs
    second = start_proxy("--audit-log", str(first.audit))
    second.proxy.initialize()
    second.proxy.tool("echo", {"n": 1})
    assert second.proxy.close() == 0
    assert "audit_head_mismatch" in second.proxy.stderr()
    records = [json.loads(line) for line in first.audit.read_bytes().splitlines()]
    [mismatch] = [r for r in records if r["event"] == "head_mismatch"]
    assert mismatch["head_seq"] == json.loads(lines[-1])["seq"]
    assert mismatch["problem"] == "the log ends before the record the head file names"
    done = _verify(str(first.audit))  # the new head names the new end, yet the cut stays on record
    assert done.returncode == 1, done.stdout
    assert f"{first.audit}:{len(lines) - 2}: when a run of Lilith started, its head file did not match" in done.stdout


def test_verify_neither_hangs_on_a_fifo_head_nor_takes_a_malformed_last_hash(start_proxy: StartProxy) -> None:
    run = _session(start_proxy, 2)
    head = Path(f"{run.audit}.head")
    head.unlink()
    os.mkfifo(head)
    done = _verify(str(run.audit))
    assert done.returncode == 1
    assert "head file unreadable: not a regular file" in done.stdout
    malformed = _verify(str(run.audit), "--last-hash", "last_hash=abc")
    assert malformed.returncode == 2
    assert "64 hex digits" in malformed.stderr


def test_a_log_moved_away_by_logrotate_is_named_by_the_next_one_and_still_checkable(start_proxy: StartProxy) -> None:
    first = _session(start_proxy, 3)
    archived = first.audit.with_name("archived-audit.jsonl")
    first.audit.rename(archived)  # what logrotate's create mode does
    old_head = _head(first)
    second = start_proxy("--audit-log", str(first.audit))
    second.proxy.initialize()
    second.proxy.tool("echo", {"n": 1})
    assert second.proxy.close() == 0
    opening = json.loads(first.audit.read_bytes().splitlines()[0])
    assert opening["event"] == "log_started_over"
    assert (opening["head_seq"], opening["head_hash"]) == (old_head["seq"], old_head["hash"])
    done = _verify(str(first.audit))
    assert done.returncode == 0, done.stdout  # moving a log away is not tampering, but it is said
    assert "the log was started over after an earlier one" in done.stdout
    assert _verify(str(first.audit), "--require-head").returncode == 1
    assert _verify(str(archived), "--last-hash", opening["head_hash"]).returncode == 0
    lines = archived.read_bytes().splitlines(keepends=True)
    archived.write_bytes(b"".join(lines[:-2]))
    assert _verify(str(archived), "--last-hash", opening["head_hash"]).returncode == 1


def test_deleting_the_head_with_the_cut_is_said_by_the_next_run(start_proxy: StartProxy) -> None:
    first = _session(start_proxy)
    lines = first.audit.read_bytes().splitlines(keepends=True)
    first.audit.write_bytes(b"".join(lines[:-3]))
    Path(f"{first.audit}.head").unlink()
    second = start_proxy("--audit-log", str(first.audit))
    second.proxy.initialize()
    assert second.proxy.close() == 0
    events = [json.loads(line)["event"] for line in first.audit.read_bytes().splitlines()]
    assert events[len(lines) - 3] == "head_missing"
    done = _verify(str(first.audit))
    assert done.returncode == 0 and "without its head file" in done.stdout
    assert _verify(str(first.audit), "--require-head").returncode == 1


def test_a_copy_of_the_named_record_planted_at_another_rotated_name_is_no_witness(start_proxy: StartProxy) -> None:
    first = _session(start_proxy)
    lines = first.audit.read_bytes().splitlines(keepends=True)
    first.audit.write_bytes(b"".join(lines[:-3]))
    decoy = Path(f"{first.audit}.7")
    decoy.write_bytes(lines[-1])
    second = start_proxy("--audit-log", str(first.audit))
    second.proxy.initialize()
    assert second.proxy.close() == 0
    decoy.unlink()
    assert "head_mismatch" in first.audit.read_text()
    assert _verify(str(first.audit)).returncode == 1


def test_logrotate_renaming_to_file_1_continues_the_chain(start_proxy: StartProxy) -> None:
    first = _session(start_proxy, 3)
    first.audit.rename(f"{first.audit}.1")  # logrotate's default name, or Lilith killed right after rotating
    second = start_proxy("--audit-log", str(first.audit))
    second.proxy.initialize()
    second.proxy.tool("echo", {"n": 1})
    assert second.proxy.close() == 0
    opening = json.loads(first.audit.read_bytes().splitlines()[0])
    assert (opening["event"], opening["reason"], opening["previous_file"]) == (
        "log_rotated",
        "resumed",
        "audit-0.jsonl.1",
    )
    done = _verify(str(first.audit))
    assert done.returncode == 0, done.stdout
    assert "in 2 files" in done.stdout
    archived = _verify(f"{first.audit}.1")  # an archived file alone: no false alarm about the live end
    assert archived.returncode == 0, archived.stdout


def test_a_first_record_torn_right_after_a_rotation_is_explained_and_the_chain_goes_on(
    start_proxy: StartProxy,
) -> None:
    """Power lost while the new file's first record (``log_rotated``) was being written: the next run ends
    that line with a ``log_rotated`` that names the fragment, so the set still verifies, and a changed
    fragment does not."""
    first = _session(start_proxy, 3)
    rotated = Path(f"{first.audit}.1")
    first.audit.rename(rotated)
    fragment = b'{"v":1,"seq":99,"ts":1.5,"event":"log_rot'
    first.audit.write_bytes(fragment)
    second = start_proxy("--audit-log", str(first.audit))
    second.proxy.initialize()
    assert "result" in second.proxy.tool("echo", {"n": 1})
    assert second.proxy.close() == 0
    lines = first.audit.read_bytes().splitlines()
    assert lines[0] == fragment
    opening = json.loads(lines[1])
    assert (opening["event"], opening["reason"], opening["previous_file"]) == ("log_rotated", "resumed", rotated.name)
    assert opening["torn_bytes"] == len(fragment)
    assert opening["prev"] == opening["previous_hash"]  # chained on the rotated file's last record
    assert "log_resumed" not in first.audit.read_text()
    done = _verify(str(first.audit))
    assert done.returncode == 0, done.stdout
    assert "in 2 files" in done.stdout
    first.audit.write_bytes(first.audit.read_bytes().replace(b"log_rot\n", b"log_rox\n", 1))
    changed = _verify(str(first.audit))
    assert changed.returncode == 1
    assert changed.stdout.startswith(f"{first.audit}:1:"), changed.stdout


def test_verify_never_waits_on_a_fifo_planted_at_a_rotated_name(start_proxy: StartProxy) -> None:
    run = _session(start_proxy, 2)
    fifo = Path(f"{run.audit}.3")
    os.mkfifo(fifo)
    try:
        done = _verify(str(run.audit))  # subprocess timeout 30 s: a blocked open would fail this test
    finally:
        fifo.unlink()
    assert done.returncode == 1
    assert f"{run.audit}.3:1: not a regular file" in done.stdout
