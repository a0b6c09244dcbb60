"""The audit writer's rotation, failure modes and the gaps they leave, checked by verifying what is on disk."""

from __future__ import annotations

import hashlib
import itertools
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from lilith.audit.chain import verify
from lilith.audit.rotation import Rotation, log_set
from lilith.audit.verify_set import verify_files
from lilith.audit.writer import AuditFile
from lilith.errors import AuditWriteError, ConfigError
from tests.unit.fakes import MemoryLog

KEY = b"k" * 32


def _records(path: Path | str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in Path(path).read_bytes().splitlines() if line.startswith(b"{")]


def _events(path: Path | str) -> list[str]:
    return [record["event"] for record in _records(path)]


class Clock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class FailingWrites:
    """Stands in for ``os.write``: fails while ``failing`` (or for lines matching ``when``), else writes."""

    def __init__(self, error: int = 28, when: Callable[[bytes], bool] | None = None) -> None:
        self.failing = False
        self.error = error
        self.when = when
        self.short: int | None = None  # write only this many bytes, once

    def __call__(self, fd: int, data: bytes) -> int:
        if self.short is not None:
            cut, self.short = self.short, None
            return os.write(fd, data[:cut])
        if self.failing or (self.when is not None and self.when(data)):
            raise OSError(self.error, os.strerror(self.error))
        return os.write(fd, data)


# ------------------------------------------------------------------ rotation
def test_size_rotation_keeps_one_chain_across_numbered_files(tmp_path: Path) -> None:
    live = tmp_path / "audit.jsonl"
    audit = AuditFile(str(live), KEY, "never", rotation=Rotation(max_bytes=1000))
    for n in range(30):
        audit.record({"event": "decision", "decision": "allow", "tool": f"t{n}"})
    audit.close()
    files = log_set(str(live))
    assert files[0] == f"{live}.1" and files[-1] == str(live) and len(files) >= 5
    for number, path in enumerate(files[:-1], start=1):
        assert path == f"{live}.{number}"
        assert os.path.getsize(path) < 1000 + 400  # rotated once it reached the size, before the next record
    for before, after in itertools.pairwise(files):
        first = _records(after)[0]
        assert first["event"] == "log_rotated"
        assert first["previous_file"] == os.path.basename(before)
        assert first["reason"] == "size"
        assert first["previous_hash"] == first["prev"]
    verdict = verify_files(files, KEY)
    assert verdict.ok, str(verdict)
    decisions = [r["tool"] for path in files for r in _records(path) if r["event"] == "decision"]
    assert decisions == [f"t{n}" for n in range(30)]  # nothing lost, nothing duplicated, in order


def test_a_link_planted_at_the_freed_name_during_rotation_is_never_written_through(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    live = tmp_path / "audit.jsonl"
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    audit = AuditFile(str(live), KEY, "never", rotation=Rotation(max_bytes=50))
    audit.record({"event": "decision", "tool": "first"})
    real_rename = os.rename

    def racing_rename(source: str, target: str) -> None:
        real_rename(source, target)
        if source == str(live):
            os.symlink(victim, live)  # the attacker wins the race for the freed name

    monkeypatch.setattr(os, "rename", racing_rename)
    with pytest.raises(AuditWriteError, match="cannot start a new file after rotation"):
        audit.record({"event": "decision", "tool": "second"})
    monkeypatch.undo()
    assert victim.read_text() == "precious\n"
    assert not live.is_symlink() and _records(live)[0]["tool"] == "first"  # the rotated file was put back


def test_numbering_continues_after_a_restart_and_the_old_files_are_never_renamed(tmp_path: Path) -> None:
    live = tmp_path / "audit.jsonl"
    for _ in range(2):
        audit = AuditFile(str(live), KEY, "never", rotation=Rotation(max_bytes=600))
        for n in range(6):
            audit.record({"event": "decision", "tool": f"t{n}"})
        audit.close()
    first_file = (tmp_path / "audit.jsonl.1").read_bytes()
    audit = AuditFile(str(live), KEY, "never", rotation=Rotation(max_bytes=600))
    for n in range(6):
        audit.record({"event": "decision", "tool": f"t{n}"})
    audit.close()
    assert (tmp_path / "audit.jsonl.1").read_bytes() == first_file
    files = log_set(str(live))
    assert [int(path.rsplit(".", 1)[1]) for path in files[:-1]] == list(range(1, len(files)))
    assert verify_files(files, KEY).ok


def test_interval_rotation_uses_the_age_of_the_files_first_record_even_across_restarts(tmp_path: Path) -> None:
    live = tmp_path / "audit.jsonl"
    clock = Clock()
    audit = AuditFile(str(live), KEY, "never", rotation=Rotation(interval_seconds=3600), clock=clock)
    audit.record({"event": "decision", "tool": "a"})
    clock.now += 1800
    audit.record({"event": "decision", "tool": "b"})
    audit.close()
    assert not (tmp_path / "audit.jsonl.1").exists()
    clock.now += 1799
    audit = AuditFile(str(live), KEY, "never", rotation=Rotation(interval_seconds=3600), clock=clock)
    audit.record({"event": "decision", "tool": "c"})  # 3599 s after the file's first record
    assert not (tmp_path / "audit.jsonl.1").exists()
    clock.now += 2
    audit.record({"event": "decision", "tool": "d"})
    audit.close()
    assert _events(tmp_path / "audit.jsonl.1") == ["decision"] * 3
    assert _events(live) == ["log_rotated", "decision"]
    assert _records(live)[0]["reason"] == "interval"
    assert verify_files(log_set(str(live)), KEY).ok


def test_an_empty_file_is_not_rotated_by_time(tmp_path: Path) -> None:
    clock = Clock()
    audit = AuditFile(str(tmp_path / "a.jsonl"), KEY, "never", rotation=Rotation(interval_seconds=60), clock=clock)
    clock.now += 3600
    audit.record({"event": "decision"})
    audit.close()
    assert log_set(str(tmp_path / "a.jsonl")) == [str(tmp_path / "a.jsonl")]


def test_a_rotation_whose_announcement_fails_is_announced_before_the_next_record(tmp_path: Path) -> None:
    live = tmp_path / "audit.jsonl"
    audit = AuditFile(str(live), KEY, "never", rotation=Rotation(max_bytes=500), on_failure="continue")
    writes = FailingWrites(when=lambda data: b'"log_rotated"' in data)
    audit._write = writes
    for n in range(4):
        audit.record({"event": "decision", "tool": f"t{n}"})
    writes.when = None
    audit.record({"event": "decision", "tool": "after"})
    audit.close()
    files = log_set(str(live))
    assert _events(files[0]) == ["decision", "decision"]
    assert _events(files[1])[:2] == ["log_rotated", "records_lost"]  # the new file says what it continues first
    assert _records(files[1])[1]["count"] == 2
    assert "after" in [r.get("tool") for path in files for r in _records(path)]
    assert verify_files(files, KEY).ok


# ------------------------------------------------------------------ failures
@pytest.mark.parametrize("mode", ["deny", "continue"])
def test_failed_writes_are_counted_and_the_gap_is_recorded_once_writing_works(tmp_path: Path, mode: str) -> None:
    path = tmp_path / "a.jsonl"
    log = MemoryLog()
    audit = AuditFile(str(path), KEY, "never", on_failure=mode, log=log)
    writes = FailingWrites()
    audit._write = writes
    audit.record({"event": "decision", "tool": "before"})
    writes.failing = True
    for n in range(5):
        if mode == "deny":
            with pytest.raises(AuditWriteError, match="No space left on device"):
                audit.record({"event": "decision", "tool": f"lost{n}"})
        else:
            audit.record({"event": "decision", "tool": f"lost{n}"})  # goes on
    writes.failing = False
    audit.record({"event": "decision", "tool": "after"})
    audit.close()
    records = _records(path)
    assert [r["event"] for r in records] == ["decision", "records_lost", "decision"]
    lost = records[1]
    assert lost["count"] == 5
    assert lost["failure_mode"] == mode
    assert "No space left on device" in lost["error"]
    assert verify(path.read_bytes(), KEY).ok
    if mode == "continue":
        loud = [(level, fields) for level, event, fields in log.events if event == "audit_record_lost"]
        assert len(loud) == 1  # once (then at most once a second), not once per record
        assert loud[0][0] == "error" and loud[0][1]["lost"] == 1
    assert "audit_log_recovered" in log.names()


def test_records_lost_is_written_at_close_if_no_record_came_after_the_failure(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    audit = AuditFile(str(path), KEY, "never", on_failure="continue")
    writes = FailingWrites()
    audit._write = writes
    writes.failing = True
    audit.record({"event": "decision"})
    writes.failing = False
    audit.close()
    assert _events(path) == ["records_lost"]


def test_a_short_write_is_completed_when_the_rest_can_be_written(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    audit = AuditFile(str(path), KEY, "never")
    writes = FailingWrites()
    audit._write = writes
    writes.short = 17  # as after a signal
    audit.record({"event": "decision", "tool": "whole"})
    audit.close()
    assert [r["tool"] for r in _records(path)] == ["whole"]
    assert verify(path.read_bytes(), KEY).ok


def test_a_short_write_that_cannot_be_completed_is_cut_off_again(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    audit = AuditFile(str(path), KEY, "never", on_failure="continue")
    audit.record({"event": "decision", "tool": "whole"})
    size = path.stat().st_size
    writes = FailingWrites()
    audit._write = writes
    writes.short = 17  # then the disk is full
    writes.failing = True
    audit.record({"event": "decision", "tool": "torn"})
    assert path.stat().st_size == size  # the fragment was truncated away
    writes.failing = False
    audit.record({"event": "decision", "tool": "next"})
    audit.close()
    assert _events(path) == ["decision", "records_lost", "decision"]
    assert verify(path.read_bytes(), KEY).ok


def test_a_fragment_that_cannot_be_cut_off_is_ended_and_explained(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "a.jsonl"
    audit = AuditFile(str(path), KEY, "never", on_failure="continue")
    audit.record({"event": "decision"})

    def no_truncate(fd: int, length: int) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "ftruncate", no_truncate)
    writes = FailingWrites()
    audit._write = writes
    writes.short = 17
    writes.failing = True
    audit.record({"event": "decision"})
    writes.failing = False
    audit.record({"event": "decision"})
    audit.close()
    lines = path.read_bytes().splitlines()
    assert len(lines[1]) == 17  # the fragment stays, on a line of its own
    lost = json.loads(lines[2])
    assert lost["event"] == "records_lost" and lost["torn_bytes"] == 17
    verdict = verify(path.read_bytes(), KEY)
    assert verdict.ok, str(verdict)


def test_two_fragments_in_a_row_are_explained_as_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "a.jsonl"
    audit = AuditFile(str(path), KEY, "never", on_failure="continue")
    audit.record({"event": "decision"})
    monkeypatch.setattr(os, "ftruncate", _no_truncate)
    writes = FailingWrites()
    audit._write = writes
    writes.short = 17
    writes.failing = True
    audit.record({"event": "decision"})
    writes.short = 17
    audit.record({"event": "decision"})  # the gap record fails too: its fragment starts a line of its own
    writes.failing = False
    audit.record({"event": "decision"})
    audit.close()
    lines = path.read_bytes().split(b"\n")
    lost = json.loads(lines[3])
    assert lost["event"] == "records_lost" and lost["torn_bytes"] == len(lines[2]) == 16
    assert not verify(path.read_bytes(), KEY).ok  # the first fragment, cut off by the second's newline, is unexplained


def test_a_torn_record_longer_than_the_probe_is_measured_whole(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    audit = AuditFile(str(path), KEY, "never")
    audit.record({"event": "decision"})
    audit.close()
    audit = AuditFile(str(path), KEY, "never")
    # 3 MB in strings each short enough to be written whole (longer ones are cut: SCAN_CHARS)
    audit.record({"event": "decision", "arguments": {"blob": ["x" * 60_000] * 53}})
    os.close(audit._fd)  # killed: no close, so the head still names the record before
    data = path.read_bytes()
    cut = data.rfind(b"\n", 0, len(data) - 1) + 1 + (2 << 20) + 5  # a SIGKILL mid-write of the big record
    path.write_bytes(data[:cut])
    AuditFile(str(path), KEY, "never").close()
    resumed = json.loads(path.read_bytes().split(b"\n")[-2])
    assert resumed["event"] == "log_resumed" and resumed["torn_bytes"] == (2 << 20) + 5
    assert verify(path.read_bytes(), KEY).ok


def _no_truncate(fd: int, length: int) -> None:
    raise OSError(5, "Input/output error")


def test_a_device_that_is_always_full_opens_without_reading_it_and_fails_every_write() -> None:
    audit = AuditFile("/dev/full", KEY, "never", rotation=Rotation(max_bytes=10))  # /dev/full reads as endless zeros
    with pytest.raises(AuditWriteError, match="No space left"):
        audit.record({"event": "decision"})
    audit.close()


def test_unknown_failure_mode_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="--audit-failure"):
        AuditFile(str(tmp_path / "a.jsonl"), KEY, on_failure="ignore")


def test_a_failing_fsync_under_continue_is_reported_not_counted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(fd: int) -> None:
        raise OSError(5, "Input/output error")

    log = MemoryLog()
    monkeypatch.setattr(os, "fsync", broken)
    path = tmp_path / "a.jsonl"
    audit = AuditFile(str(path), KEY, "always", on_failure="continue", log=log)
    audit.record({"event": "decision"})
    monkeypatch.undo()
    audit.record({"event": "decision"})
    audit.close()
    assert "audit_sync_failed" in log.names()
    assert _events(path) == ["decision", "decision"]  # the record was written; nothing was lost


def test_a_record_whose_flush_fails_under_always_and_deny_is_revoked_in_the_chain(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The record is already in the file when fsync fails; its call is refused, so the log must say so.
    def broken(fd: int) -> None:
        raise OSError(5, "Input/output error")

    path = tmp_path / "a.jsonl"
    audit = AuditFile(str(path), KEY, "always", on_failure="deny")
    audit.record({"event": "decision", "decision": "allow"})
    monkeypatch.setattr(os, "fsync", broken)
    with pytest.raises(AuditWriteError, match="fsync failed"):
        audit.record({"event": "decision", "decision": "allow", "tool": "refused"})
    monkeypatch.undo()
    audit.record({"event": "decision", "decision": "allow", "tool": "later"})
    audit.close()
    records = _records(path)
    assert [r["event"] for r in records] == ["decision", "decision", "record_revoked", "decision"]
    refused, revoked = records[1], records[2]
    assert refused["tool"] == "refused"
    assert revoked["revoked_seq"] == refused["seq"]
    assert "Input/output error" in revoked["error"]
    assert verify(path.read_bytes(), KEY).ok


def test_a_revocation_that_cannot_be_written_is_counted_as_lost(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "a.jsonl"
    audit = AuditFile(str(path), KEY, "always", on_failure="deny")

    def broken_fsync(fd: int) -> None:
        audit._write = broken_write  # the disk goes away between the record and its revocation
        raise OSError(5, "Input/output error")

    def broken_write(fd: int, data: bytes) -> int:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(AuditWriteError, match="fsync failed"):
        audit.record({"event": "decision", "decision": "allow"})
    monkeypatch.undo()
    audit._write = os.write
    audit.record({"event": "decision", "decision": "deny"})
    audit.close()
    records = _records(path)
    assert [r["event"] for r in records] == ["decision", "records_lost", "decision"]
    assert records[1]["count"] == 1 and "No space left" in records[1]["error"]


# ------------------------------------------------------------------ the head file
def _head_seq(path: Path) -> int | None:
    head = Path(f"{path}.head")
    return json.loads(head.read_text())["seq"] if head.exists() else None


def test_the_head_names_the_newest_record_once_it_is_flushed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "a.jsonl"
    audit = AuditFile(str(path), KEY, "interval")
    audit.record({"event": "decision"})
    assert _head_seq(path) is None  # only the once-a-second tick (or close) writes it
    synced: list[int] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        synced.append(os.fstat(fd).st_ino)
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    audit.sync()
    assert _head_seq(path) == 1
    assert synced[0] == path.stat().st_ino  # the log was flushed before the head named its record
    audit.record({"event": "decision"})
    assert _head_seq(path) == 1
    audit.close()
    assert _head_seq(path) == 2
    from lilith.audit.head import read_head, witnessed

    head = read_head(str(path), KEY)
    assert not isinstance(head, str) and head is not None
    assert witnessed([str(path)], head.hash)


def test_a_head_that_cannot_be_written_is_logged_once_and_retried(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    log = MemoryLog()
    audit = AuditFile(str(path), KEY, "never", log=log)
    blocker = tmp_path / "a.jsonl.head"
    blocker.mkdir()  # the rename onto it fails
    audit.record({"event": "decision"})
    audit.sync()
    audit.record({"event": "decision"})
    audit.sync()
    assert log.names().count("audit_head_write_failed") == 1
    blocker.rmdir()
    audit.sync()
    assert _head_seq(path) == 2
    assert "audit_head_write_recovered" in log.names()
    assert not list(tmp_path.glob("*.tmp"))
    audit.close()


# ------------------------------------------------------------------ redaction
def test_custom_patterns_redact_and_a_bad_one_refuses_to_start(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    audit = AuditFile(str(path), KEY, "never", redaction=[("employee", r"EMP-\d{6}")])
    audit.record({"event": "decision", "arguments": {"who": "EMP-123456 and EMP-654321"}})
    audit.close()
    raw = path.read_text()
    assert "EMP-123456" not in raw and "EMP-654321" not in raw
    assert _records(path)[0]["arguments"]["who"].count("<employee:") == 2
    with pytest.raises(ConfigError, match="employee"):
        AuditFile(str(tmp_path / "b.jsonl"), KEY, redaction=[("employee", "EMP-(")])


def test_a_preview_is_redacted_before_it_is_cut(tmp_path: Path) -> None:
    from lilith.audit.results import PREVIEW_CHARS, summarise_result

    card = "4111 1111 1111 1111"
    text = "x" * (PREVIEW_CHARS - 8) + " " + card + " tail"  # the card straddles the cut
    summary = summarise_result({"result": {"content": [{"type": "text", "text": text}]}}, 999)
    path = tmp_path / "a.jsonl"
    audit = AuditFile(str(path), KEY, "never")
    audit.record({"event": "result", **summary})
    audit.close()
    preview = _records(path)[0]["preview"]
    assert len(preview) == PREVIEW_CHARS
    assert "4111" not in preview
    assert preview[PREVIEW_CHARS - 8 :].startswith(" <card:")  # the start of the tag that replaced it


def test_a_redaction_failure_denies_even_under_continue(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from lilith.errors import RedactionFailed

    audit = AuditFile(str(tmp_path / "a.jsonl"), KEY, "never", on_failure="continue")

    def broken(record: dict[str, Any]) -> dict[str, Any]:
        raise RuntimeError("bug")

    monkeypatch.setattr(audit, "_redacted", broken)
    with pytest.raises(RedactionFailed):
        audit.record({"event": "decision", "arguments": {"password": "hunter2"}})
    audit.record({"event": "decision"})  # nothing to redact: written as usual
    audit.close()
    assert b"hunter2" not in (tmp_path / "a.jsonl").read_bytes()


def test_the_head_is_never_written_through_a_planted_link(tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    path = tmp_path / "a.jsonl"
    Path(f"{path}.head").symlink_to(victim)  # replaced, not followed
    audit = AuditFile(str(path), KEY, "never")
    audit.record({"event": "decision"})
    audit.close()
    assert victim.read_text() == "precious"
    assert not Path(f"{path}.head").is_symlink()
    assert _events(path) == ["head_mismatch", "decision"]  # a link is no head: said, then replaced
    assert json.loads(Path(f"{path}.head").read_text())["seq"] == 2


@pytest.mark.parametrize(
    ("record", "revoked"),
    [
        ({"event": "decision", "decision": "allow"}, True),
        ({"event": "decision", "decision": "would-deny"}, True),
        ({"event": "result", "preview": "x"}, True),
        ({"event": "decision", "decision": "deny"}, False),  # denied either way
        ({"event": "session_end", "reason": "client_closed"}, False),  # happened either way
        ({"event": "policy_reload", "outcome": "applied"}, False),
    ],
)
def test_only_records_whose_message_is_refused_are_revoked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, record: dict[str, Any], revoked: bool
) -> None:
    def broken(fd: int) -> None:
        raise OSError(5, "Input/output error")

    path = tmp_path / "a.jsonl"
    audit = AuditFile(str(path), KEY, "always", on_failure="deny")
    monkeypatch.setattr(os, "fsync", broken)
    with pytest.raises(AuditWriteError):
        audit.record(record)
    monkeypatch.undo()
    audit.close()
    assert _events(path) == [record["event"], "record_revoked"] if revoked else [record["event"]]


def test_the_head_never_names_a_record_that_failed(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    audit = AuditFile(str(path), KEY, "never", on_failure="continue")
    audit.record({"event": "decision", "tool": "written"})

    def full(fd: int, data: bytes) -> int:
        raise OSError(28, "No space left on device")

    audit._write = full
    audit.record({"event": "decision", "tool": "lost"})
    audit.sync()
    head = json.loads(Path(f"{path}.head").read_text())
    assert head["seq"] == 1
    assert head["hash"] == hashlib.sha256(path.read_bytes().splitlines()[-1]).hexdigest()
    audit._write = os.write
    audit.close()


def test_a_short_head_write_never_puts_half_a_head_in_place(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "a.jsonl"
    log = MemoryLog()
    audit = AuditFile(str(path), KEY, "never", log=log)
    audit.record({"event": "decision"})
    real_write = os.write
    monkeypatch.setattr(os, "write", lambda fd, data: real_write(fd, data[:10]))  # the head's write only
    audit.sync()
    assert not Path(f"{path}.head").exists()
    assert "audit_head_write_failed" in log.names()
    assert not list(tmp_path.glob("*.tmp"))
    monkeypatch.undo()
    audit.close()
    assert json.loads(Path(f"{path}.head").read_text())["seq"] == 1


def test_start_up_never_waits_on_a_fifo_at_a_rotated_name(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    audit = AuditFile(str(path), KEY, "never")
    audit.record({"event": "decision"})
    audit.close()
    path.write_bytes(b"")  # emptied: the check looks at the newest rotated file
    os.mkfifo(tmp_path / "a.jsonl.99")
    (tmp_path / "a.jsonl.5").mkdir()
    reopened = AuditFile(str(path), KEY, "never")  # returns: nothing blocks, nothing raises
    reopened.close()
    assert _events(path)[0] == "log_started_over"


def test_a_stream_behind_dev_gets_no_head_file(tmp_path: Path) -> None:
    audit = AuditFile("/dev/stderr", KEY, "never")  # under pytest, fd 2 is a regular file
    audit.record({"event": "decision"})
    audit.close()
    planted = Path("/dev/stderr.head")
    try:
        assert not planted.exists()
    finally:
        planted.unlink(missing_ok=True)


def test_a_finding_that_cannot_be_written_keeps_the_old_head(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "a.jsonl"
    audit = AuditFile(str(path), KEY, "never")
    for _ in range(3):
        audit.record({"event": "decision"})
    audit.close()
    old_head = Path(f"{path}.head").read_bytes()
    path.write_bytes(b"".join(path.read_bytes().splitlines(keepends=True)[:1]))  # cut

    def full(fd: int, data: bytes) -> int:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "write", full)  # the writer takes its write() when it is built
    reopened = AuditFile(str(path), KEY, "never", on_failure="continue")
    monkeypatch.undo()
    reopened._write = os.write
    reopened.record({"event": "decision"})  # the disk is back: records_lost, then this
    reopened.sync()
    reopened.close()
    assert "head_mismatch" not in path.read_text()  # the finding was lost with the disk
    assert Path(f"{path}.head").read_bytes() == old_head  # so the next run finds the same cut


def test_killed_right_after_a_rotation_with_the_head_behind_the_next_run_continues_the_chain(tmp_path: Path) -> None:
    live = tmp_path / "audit.jsonl"
    audit = AuditFile(str(live), KEY, "interval")
    audit.record({"event": "decision", "n": 1})
    audit.sync()  # the head names record 1
    audit.record({"event": "decision", "n": 2})  # within the second before the next refresh
    os.close(audit._fd)  # killed between renaming the log and writing the new file's first record:
    live.rename(f"{live}.1")
    live.touch()
    AuditFile(str(live), KEY, "interval").close()
    opening = json.loads(live.read_bytes().splitlines()[0])
    assert (opening["event"], opening["reason"], opening["previous_file"]) == (
        "log_rotated",
        "resumed",
        "audit.jsonl.1",
    )
    verdict = verify_files(log_set(str(live)), KEY)
    assert verdict.ok, str(verdict)


def test_an_empty_live_file_with_a_head_its_predecessor_never_held_starts_over(tmp_path: Path) -> None:
    live = tmp_path / "audit.jsonl"
    audit = AuditFile(str(live), KEY, "interval")
    audit.record({"event": "decision", "n": 1})
    audit.close()
    live.rename(f"{live}.1")
    Path(f"{live}.1").write_bytes(b"")  # the rotated file lost the record its head names
    AuditFile(str(live), KEY, "interval").close()
    assert json.loads(live.read_bytes().splitlines()[0])["event"] == "log_started_over"


def test_records_are_written_while_the_tick_flushes_and_the_head_names_only_what_was_flushed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    path = tmp_path / "a.jsonl"
    audit = AuditFile(str(path), KEY, "interval")
    audit.record({"event": "decision", "n": 1})
    started, release = threading.Event(), threading.Event()
    real_fsync = os.fsync

    def slow_disk(fd: int) -> None:
        if os.fstat(fd).st_ino == path.stat().st_ino and not release.is_set():
            started.set()
            release.wait(10)
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", slow_disk)
    tick = threading.Thread(target=audit.sync)
    tick.start()
    assert started.wait(10)
    audit.record({"event": "decision", "n": 2})  # would wait for the disk if the tick held the lock
    assert tick.is_alive()
    release.set()
    tick.join(10)
    assert _head_seq(path) == 1  # record 2 was written after the flush began: not yet known to be on disk
    audit.sync()
    assert _head_seq(path) == 2
    audit.close()
    assert verify(path.read_bytes(), KEY).ok


def test_reasons_and_sanitize_items_are_redacted_and_fixed_reasons_are_memoised(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    audit = AuditFile(str(path), KEY, "never")
    refused = "resource 'mailto:jane.doe@example.org' is not allowed"
    audit.record({"event": "decision", "decision": "deny", "reason": refused})
    audit.record({"event": "sanitize", "item": "postgres://app:Pw0rdXyz@db/x", "reason": "hidden: zero-width"})
    for _ in range(3):
        audit.record({"event": "decision", "decision": "allow", "reason": "allowed by policy"})
    audit.close()
    raw = path.read_bytes()
    assert b"jane.doe@example.org" not in raw and b"Pw0rdXyz" not in raw
    records = _records(path)
    assert "<email:" in records[0]["reason"] and records[-1]["reason"] == "allowed by policy"
    assert len(audit._reasons) == 3


def test_a_head_several_rotations_behind_is_found_through_the_rotation_links(tmp_path: Path) -> None:
    live = tmp_path / "audit.jsonl"
    audit = AuditFile(str(live), KEY, "interval", rotation=Rotation(max_bytes=600))
    audit.record({"event": "decision", "n": 0})
    audit.sync()  # the head names record 1
    for n in range(1, 12):  # a burst within the second before the next refresh: several rotations
        audit.record({"event": "decision", "n": n, "arguments": {"pad": "x" * 200}})
    os.close(audit._fd)  # killed: the head still names record 1, three files back
    assert len(log_set(str(live))) >= 4
    AuditFile(str(live), KEY, "interval").close()
    assert "head_mismatch" not in _events(live)
    verdict = verify_files(log_set(str(live)), KEY)
    assert verdict.ok, str(verdict)


def test_a_rotated_file_whose_link_does_not_check_out_is_no_witness(tmp_path: Path) -> None:
    live = tmp_path / "audit.jsonl"
    audit = AuditFile(str(live), KEY, "interval", rotation=Rotation(max_bytes=600))
    audit.record({"event": "decision", "n": 0})
    audit.sync()
    for n in range(1, 12):
        audit.record({"event": "decision", "n": n, "arguments": {"pad": "x" * 200}})
    os.close(audit._fd)
    second = Path(log_set(str(live))[1])
    second.write_bytes(second.read_bytes() + b"{}\n")  # its end no longer matches the next file's link
    AuditFile(str(live), KEY, "interval").close()
    assert "head_mismatch" in _events(live)


def test_a_whole_last_record_without_its_newline_is_ended_and_chained_on(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    audit = AuditFile(str(path), KEY, "never")
    audit.record({"event": "decision", "n": 1})
    audit.record({"event": "decision", "n": 2})
    audit.close()
    path.write_bytes(path.read_bytes()[:-1])  # the newline of record 2 never made it
    audit = AuditFile(str(path), KEY, "never")
    audit.record({"event": "decision", "n": 3})
    audit.close()
    assert [r.get("n") for r in _records(path)] == [1, 2, 3]
    verdict = verify(path.read_bytes(), KEY)
    assert verdict.ok, str(verdict)


def test_a_live_log_named_like_a_rotated_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="names a rotated file"):
        AuditFile(str(tmp_path / "audit.2026"), KEY)
    assert not (tmp_path / "audit.2026").exists()
