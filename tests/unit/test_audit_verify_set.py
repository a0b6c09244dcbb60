"""Verifying a rotated set as one chain: a missing, reordered or swapped file is named at file:line."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from lilith.audit.rotation import Rotation, in_chain_order, log_set, parse_interval
from lilith.audit.verify_set import files_to_verify, verify_files
from lilith.audit.writer import AuditFile

KEY = b"k" * 32


@pytest.fixture
def rotated(tmp_path: Path) -> list[str]:
    live = tmp_path / "audit.jsonl"
    audit = AuditFile(str(live), KEY, "never", rotation=Rotation(max_bytes=700))
    for n in range(14):
        audit.record({"event": "decision", "decision": "allow", "tool": f"t{n}"})
    audit.close()
    files = log_set(str(live))
    assert len(files) >= 4
    return files


def test_the_whole_set_verifies_from_the_live_name_alone(rotated: list[str]) -> None:
    files = files_to_verify([rotated[-1]])
    assert files == rotated
    verdict = verify_files(files, KEY)
    assert verdict.ok, str(verdict)
    assert verdict.files == len(rotated)
    assert str(verdict).startswith(f"ok: {verdict.records} records in {len(rotated)} files")


def test_a_shell_glob_is_put_in_chain_order_and_the_index_is_left_out(rotated: list[str]) -> None:
    directory = os.path.dirname(rotated[0])
    Path(rotated[-1] + ".idx.sqlite").write_bytes(b"SQLite format 3\0")
    globbed = sorted(os.path.join(directory, name) for name in os.listdir(directory))  # a.jsonl, a.jsonl.1, …
    assert in_chain_order(globbed) == rotated
    assert verify_files(files_to_verify(globbed), KEY).ok


def test_a_missing_middle_file_is_named_at_the_file_after_it(rotated: list[str]) -> None:
    os.unlink(rotated[1])
    remaining = files_to_verify([rotated[-1]])
    verdict = verify_files(remaining, KEY)
    assert not verdict.ok
    assert verdict.file == rotated[2] and verdict.line == 1
    assert f"continues '{os.path.basename(rotated[1])}', not '{os.path.basename(rotated[0])}'" in str(verdict)


def test_a_missing_first_file_is_found(rotated: list[str]) -> None:
    os.unlink(rotated[0])
    verdict = verify_files(files_to_verify([rotated[-1]]), KEY)
    assert not verdict.ok
    assert verdict.file == rotated[1] and verdict.line == 1
    assert "which is missing" in str(verdict)


def test_swapped_files_break_the_link(rotated: list[str], tmp_path: Path) -> None:
    first, second = rotated[0], rotated[1]
    shutil.move(first, str(tmp_path / "swap"))
    shutil.move(second, first)
    shutil.move(str(tmp_path / "swap"), second)
    verdict = verify_files(files_to_verify([rotated[-1]]), KEY)
    assert not verdict.ok
    assert verdict.file == rotated[0] and verdict.line == 1


def test_a_change_inside_a_rotated_file_is_named_by_file_and_line(rotated: list[str]) -> None:
    lines = Path(rotated[1]).read_bytes().splitlines(keepends=True)
    lines[1] = lines[1].replace(b'"allow"', b'"deny!"')
    Path(rotated[1]).write_bytes(b"".join(lines))
    verdict = verify_files(files_to_verify([rotated[-1]]), KEY)
    assert (verdict.ok, verdict.file, verdict.line) == (False, rotated[1], 2)
    assert str(verdict).startswith(f"{rotated[1]}:2: MAC mismatch")


def test_a_rewritten_previous_hash_is_caught_even_without_the_key(rotated: list[str]) -> None:
    # Replacing the last record of a rotated file breaks the next file's link, which the chain alone shows.
    lines = Path(rotated[0]).read_bytes().splitlines(keepends=True)
    Path(rotated[0]).write_bytes(b"".join(lines[:-1]))
    verdict = verify_files(files_to_verify([rotated[-1]]), None)
    assert not verdict.ok
    assert verdict.file == rotated[1] and verdict.line == 1


def test_a_file_that_does_not_continue_the_one_before_is_refused(rotated: list[str], tmp_path: Path) -> None:
    stranger = tmp_path / "other.jsonl"
    audit = AuditFile(str(stranger), KEY, "never")
    audit.record({"event": "decision"})
    audit.close()
    verdict = verify_files([rotated[0], str(stranger)], KEY)
    assert not verdict.ok and verdict.file == str(stranger)
    assert "does not continue" in str(verdict)


@pytest.mark.parametrize(("text", "seconds"), [("90", 90), ("90s", 90), ("30m", 1800), ("1h", 3600), ("1d", 86400)])
def test_intervals(text: str, seconds: float) -> None:
    assert parse_interval(text) == seconds


@pytest.mark.parametrize("text", ["", "0", "0.5s", "1y", "-1h", "h"])
def test_bad_intervals(text: str) -> None:
    with pytest.raises(ValueError):
        parse_interval(text)


def test_only_a_logs_own_head_files_are_left_out_of_a_glob(tmp_path: Path) -> None:
    log = str(tmp_path / "x.tmp")  # a log may be named anything, .tmp included
    head = str(tmp_path / "a.jsonl.head")
    writing = str(tmp_path / "a.jsonl.head.0123456789ab.tmp")
    other = str(tmp_path / "notes.head")  # a log of its own: no notes file next to it
    named = [log, f"{log}.1", str(tmp_path / "a.jsonl"), head, writing, other]
    assert in_chain_order(named) == [f"{log}.1", log, str(tmp_path / "a.jsonl"), other]
