"""The live audit log deleted, moved away, emptied or replaced while written, and a FIFO named as the log:
the writer notices (once a second, before a rotation, at close), says so, and goes on in a new file whose
first record says what was lost; ``verify`` reports it."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from lilith.audit.rotation import Rotation, log_set
from lilith.audit.verify_set import check_head, verify_files
from lilith.audit.writer import AuditFile
from lilith.errors import AuditWriteError, ConfigError
from tests.unit.fakes import MemoryLog

KEY = b"k" * 32


def _records(path: Path | str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in Path(path).read_bytes().splitlines()]


def _verdict(live: Path, *, required: bool = False) -> Any:
    files = log_set(str(live))
    return check_head(files, verify_files(files, KEY), KEY, live=str(live), required=required)


def _writer(path: Path, log: MemoryLog, **options: Any) -> AuditFile:
    return AuditFile(str(path), KEY, "never", log=log, **options)


def test_a_deleted_log_is_noticed_by_the_tick_and_a_new_file_names_what_was_lost(tmp_path: Path) -> None:
    path, log = tmp_path / "a.jsonl", MemoryLog()
    audit = _writer(path, log)
    audit.record({"event": "decision", "n": 1})
    audit.sync()  # seen in place with seq 1
    audit.record({"event": "decision", "n": 2})
    last_hash = hashlib.sha256(path.read_bytes().splitlines()[-1]).hexdigest()
    path.unlink()
    audit.record({"event": "decision", "n": 3})  # into the unlinked file: not yet noticed
    audit.sync()
    assert [e for lvl, e, _ in log.events if lvl == "error"] == ["audit_log_replaced"]
    fields = log.events[[e for _, e, _ in log.events].index("audit_log_replaced")][2]
    assert (fields["reason"], fields["last_seq"], fields["seen_seq"]) == ("deleted", 3, 1)
    first = _records(path)[0]
    assert first["event"] == "log_replaced" and first["reason"] == "deleted"
    assert (first["previous_seq"], first["seen_seq"], first["seq"]) == (3, 1, 4)
    assert first["previous_hash"] == first["prev"] != last_hash  # chained on seq 3, written after the deletion
    audit.record({"event": "decision", "n": 4})
    audit.close()
    assert [r["event"] for r in _records(path)] == ["log_replaced", "decision"]
    assert "audit_log_closed" in log.names()
    verdict = _verdict(path)
    assert not verdict.ok and verdict.line == 1
    assert "deleted while Lilith wrote it" in str(verdict) and "the last 2 (after seq 1)" in str(verdict)


def test_a_log_lost_in_the_last_second_is_found_at_close(tmp_path: Path) -> None:
    path, log = tmp_path / "a.jsonl", MemoryLog()
    audit = _writer(path, log)
    audit.record({"event": "decision"})
    path.unlink()
    audit.close()
    assert [r["event"] for r in _records(path)] == ["log_replaced"]
    closed = next(fields for _, event, fields in log.events if event == "audit_log_closed")
    assert closed["last_hash"] == hashlib.sha256(path.read_bytes().splitlines()[-1]).hexdigest()


def test_a_log_renamed_to_a_rotated_name_is_continued_as_a_rotation(tmp_path: Path) -> None:
    path, log = tmp_path / "a.jsonl", MemoryLog()
    audit = _writer(path, log)
    audit.record({"event": "decision"})
    os.rename(path, tmp_path / "a.jsonl.1")  # logrotate's first move, while Lilith runs
    audit.record({"event": "decision"})  # still goes into a.jsonl.1
    audit.sync()
    audit.record({"event": "decision"})
    audit.close()
    first = _records(path)[0]
    assert (first["event"], first["reason"], first["previous_file"]) == ("log_rotated", "moved", "a.jsonl.1")
    assert len(_records(tmp_path / "a.jsonl.1")) == 2
    assert _verdict(path).ok  # one chain through both files
    assert ("warning", "audit_log_replaced") in [(lvl, e) for lvl, e, _ in log.events]


def test_a_log_moved_elsewhere_goes_on_in_the_empty_file_left_at_its_name(tmp_path: Path) -> None:
    path, log = tmp_path / "a.jsonl", MemoryLog()
    archive = tmp_path / "archive.jsonl"
    audit = _writer(path, log)
    audit.record({"event": "decision"})
    os.rename(path, archive)
    path.write_bytes(b"")  # logrotate's `create`
    audit.sync()
    audit.record({"event": "decision"})
    audit.close()
    first = _records(path)[0]
    assert (first["event"], first["reason"]) == ("log_replaced", "moved")
    assert _verdict(path).ok and "moved away" in str(_verdict(path))
    assert not _verdict(path, required=True).ok
    assert verify_files([str(archive)], KEY).ok
    assert first["previous_hash"] == hashlib.sha256(archive.read_bytes().splitlines()[-1]).hexdigest()


def test_a_log_emptied_in_place_says_so_in_the_same_file(tmp_path: Path) -> None:
    path, log = tmp_path / "a.jsonl", MemoryLog()
    audit = _writer(path, log)
    audit.record({"event": "decision"})
    os.truncate(path, 0)
    audit.sync()
    audit.record({"event": "decision"})
    audit.close()
    assert [r["event"] for r in _records(path)] == ["log_replaced", "decision"]
    assert _records(path)[0]["reason"] == "truncated"
    assert "emptied or cut" in str(_verdict(path))


def test_a_rotation_never_renames_a_file_that_is_no_longer_the_log(tmp_path: Path) -> None:
    path, log = tmp_path / "a.jsonl", MemoryLog()
    audit = _writer(path, log, rotation=Rotation(max_bytes=1))
    audit.record({"event": "decision"})
    path.unlink()
    path.write_bytes(b"")  # somebody's empty file at the name
    audit.record({"event": "decision"})  # due to rotate: finds the log lost instead
    audit.close()
    assert not (tmp_path / "a.jsonl.1").exists()
    assert [r["event"] for r in _records(path)] == ["log_replaced", "decision"]


@pytest.mark.parametrize("mode", ["deny", "continue"])
def test_while_no_new_file_can_be_started_records_fail_and_are_counted(tmp_path: Path, mode: str) -> None:
    directory = tmp_path / "logs"
    directory.mkdir()
    path, log = directory / "a.jsonl", MemoryLog()
    audit = _writer(path, log, on_failure=mode)
    audit.record({"event": "decision"})
    shutil.rmtree(directory)
    audit.sync()
    assert "audit_log_not_restarted" in log.names()
    if mode == "deny":
        with pytest.raises(AuditWriteError, match="gone and cannot be started again"):
            audit.record({"event": "decision"})
    else:
        audit.record({"event": "decision"})
    directory.mkdir()
    audit.record({"event": "decision"})
    audit.close()
    events = [(r["event"], r.get("count"), r.get("failure_mode")) for r in _records(path)]
    assert events == [("log_replaced", None, None), ("records_lost", 1, mode), ("decision", None, None)]


def test_closing_while_no_file_holds_the_log_never_claims_a_normal_close(tmp_path: Path) -> None:
    directory = tmp_path / "logs"
    directory.mkdir()
    path, log = directory / "a.jsonl", MemoryLog()
    audit = _writer(path, log)
    audit.record({"event": "decision"})
    shutil.rmtree(directory)
    audit.close()
    assert "audit_log_lost_at_exit" in log.names() and "audit_log_closed" not in log.names()


def test_a_name_taken_by_a_file_with_content_is_never_written_into(tmp_path: Path) -> None:
    path, log = tmp_path / "a.jsonl", MemoryLog()
    audit = _writer(path, log)
    audit.record({"event": "decision"})
    path.unlink()
    path.write_bytes(b"someone else's\n")
    audit.sync()
    with pytest.raises(AuditWriteError, match="replaced by another file"):
        audit.record({"event": "decision"})
    assert path.read_bytes() == b"someone else's\n"
    path.unlink()
    audit.record({"event": "decision"})
    audit.close()
    assert [r["event"] for r in _records(path)] == ["log_replaced", "records_lost", "decision"]


def test_a_fifo_named_as_the_log_refuses_to_start_at_once(tmp_path: Path) -> None:
    fifo = tmp_path / "a.jsonl"
    os.mkfifo(fifo)
    with pytest.raises(ConfigError, match="FIFO"):
        AuditFile(str(fifo), KEY, "never")  # no reader: would have blocked in open() for ever
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    try:
        with pytest.raises(ConfigError, match="not a regular file"):
            AuditFile(str(fifo), KEY, "never")
    finally:
        os.close(reader)


def test_a_stream_under_dev_is_still_a_log(tmp_path: Path) -> None:
    audit = AuditFile("/dev/null", KEY, "never")
    audit.record({"event": "decision"})
    audit.sync()
    audit.close()


def test_verify_reports_a_deleted_live_file_whose_head_remains(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    audit = AuditFile(str(path), KEY, "never")
    audit.record({"event": "decision"})
    audit.close()
    path.unlink()
    verdict = _verdict(path)
    assert not verdict.ok and verdict.line == 1
    assert "the log ends before the record its head file names" in str(verdict)
    assert "(the live file is missing)" in str(verdict)
    Path(f"{path}.head").unlink()
    with pytest.raises(FileNotFoundError):  # no head either: nothing to say but that the file is not there
        verify_files(log_set(str(path)), KEY)


def test_verify_shows_only_validated_values_of_a_crafted_log_replaced(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    crafted: dict[str, Any] = {"prev": "0" * 64, "event": "log_replaced", "reason": "deleted", "session": "\x1b[2J"}
    crafted.update(previous_seq="\x1b]0;x", seen_seq=-1, previous_hash="0" * 64)
    path.write_text(json.dumps(crafted) + "\n")
    verdict = verify_files([str(path)], None)
    assert not verdict.ok and "\x1b" not in str(verdict) and "<invalid>" in str(verdict)
