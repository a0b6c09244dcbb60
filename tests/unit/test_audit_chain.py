from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from lilith.audit.chain import verify
from lilith.audit.writer import AuditFile

KEY = b"k" * 32


def _log(path: Path, records: int, key: bytes = KEY) -> list[bytes]:
    audit = AuditFile(str(path), key)
    for n in range(records):
        audit.record({"event": "decision", "decision": "allow", "tool": f"t{n}"})
    audit.close()
    return path.read_bytes().splitlines(keepends=True)


def test_an_untouched_log_verifies_with_and_without_the_key(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    _log(path, 5)
    assert verify(path.read_bytes(), KEY).ok
    assert verify(path.read_bytes(), None).ok
    assert verify(path.read_bytes(), KEY).records == 5


def test_the_chain_continues_across_writers(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    _log(path, 2)
    _log(path, 3)
    verdict = verify(path.read_bytes(), KEY)
    assert verdict.ok
    assert verdict.records == 5


@pytest.mark.parametrize(
    ("tamper", "line", "problem"),
    [
        (lambda ls: [ls[0], ls[1].replace(b'"allow"', b'"deny!"'), *ls[2:]], 2, "MAC mismatch"),
        (lambda ls: [ls[0], *ls[2:]], 2, "chain broken"),
        (lambda ls: [ls[0], ls[2], ls[1], *ls[3:]], 2, "chain broken"),
        (lambda ls: [ls[0], ls[1], ls[1], *ls[2:]], 3, "chain broken"),
        (lambda ls: [b"garbage\n", *ls], 1, "not a record"),
    ],
    ids=["changed", "deleted", "reordered", "duplicated", "inserted-garbage"],
)
def test_any_change_is_found_at_its_line(
    tmp_path: Path, tamper: Callable[[list[bytes]], list[bytes]], line: int, problem: str
) -> None:
    path = tmp_path / "a.jsonl"
    lines = _log(path, 4)
    changed = b"".join(tamper(lines))
    verdict = verify(changed, KEY)
    assert not verdict.ok
    assert verdict.line == line
    assert problem in str(verdict)


def test_a_forger_without_the_key_is_caught(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    _log(path, 2)
    forged = tmp_path / "forged.jsonl"
    _log(forged, 2, key=b"x" * 32)
    assert not verify(forged.read_bytes(), KEY).ok
    assert verify(forged.read_bytes(), None).ok  # the chain alone proves order, not origin


def test_a_torn_last_record_is_reported_and_sealed_by_the_next_writer(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    _log(path, 3)
    with path.open("ab") as handle:
        handle.write(b'{"v":1,"ts":1.0,"sess')  # a writer killed mid-record
    verdict = verify(path.read_bytes(), KEY)
    assert not verdict.ok
    assert "torn last record" in str(verdict)
    _log(path, 2)
    verdict = verify(path.read_bytes(), KEY)
    assert verdict.ok, str(verdict)
    assert b'"event":"log_resumed"' in path.read_bytes()


@pytest.mark.parametrize(
    "replacement",
    [
        (b'{"v":1,"ts":1.0,"sesX', 4),
        (b'{"v":1,"ts":1.0,"session', 4),
        (b"{", 4),
        (b'{"v":1,"ts":1.0,"sess\n{"v":1', 5),
    ],
    ids=["same-length", "longer", "shorter", "line-added"],
)
def test_a_sealed_torn_fragment_cannot_be_changed_or_joined(tmp_path: Path, replacement: tuple[bytes, int]) -> None:
    """The record that ends a torn line names the fragment's size and hash: a line swapped in for it (say,
    one that only looks like crash debris) shows."""
    planted, bad_line = replacement
    path = tmp_path / "a.jsonl"
    _log(path, 3)
    fragment = b'{"v":1,"ts":1.0,"sess'
    with path.open("ab") as handle:
        handle.write(fragment)
    _log(path, 2)
    data = path.read_bytes()
    assert verify(data, KEY).ok
    tampered = data.replace(fragment + b"\n", planted + b"\n", 1)
    verdict = verify(tampered, KEY)
    assert not verdict.ok
    assert verdict.line == bad_line and "not a record" in str(verdict)


@pytest.mark.parametrize(
    ("policy", "after_records", "after_sync"), [("always", 3, 3), ("interval", 0, 1), ("never", 0, 0)]
)
def test_fsync_policies(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, policy: str, after_records: int, after_sync: int
) -> None:
    flushed: list[int] = []  # inode numbers: the tick flushes a duplicate of the log's descriptor
    monkeypatch.setattr(os, "fsync", lambda fd: flushed.append(os.fstat(fd).st_ino))
    log = tmp_path / "a.jsonl"
    audit = AuditFile(str(log), KEY, policy)

    def log_flushes() -> int:  # the head file's own flush is not the log's
        return flushed.count(log.stat().st_ino)

    for n in range(3):
        audit.record({"event": "decision", "n": n})
    assert log_flushes() == after_records
    audit.sync()
    audit.sync()  # nothing new written: no second flush
    assert log_flushes() == after_sync
    audit.close()
    assert log_flushes() == after_sync  # close flushes only what is still unflushed


def test_a_failing_fsync_denies_under_always(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from lilith.errors import AuditWriteError

    def broken(fd: int) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "fsync", broken)
    audit = AuditFile(str(tmp_path / "a.jsonl"), KEY, "always")
    with pytest.raises(AuditWriteError, match="fsync failed"):
        audit.record({"event": "decision"})


def test_a_stray_first_line_is_named_itself(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    _log(path, 2)
    verdict = verify(b"\xef\xbb\xbf\n" + path.read_bytes(), KEY)  # a BOM line an editor put in
    assert not verdict.ok and verdict.line == 1 and "not a record" in str(verdict)
