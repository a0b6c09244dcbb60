"""The parts of the second readers review that are pure logic: ``last_lines`` does linear work, the index
seal catches every edit of the index, a ``revoked`` hit needs the log's word, verify's notes show only
validated values, and a policy test file that tests nothing or holds a wrong type is an error in the file."""

from __future__ import annotations

import io
import random
import sqlite3
from pathlib import Path
from typing import Any

import orjson
import pytest

from lilith.audit import tail as tail_module
from lilith.audit.index import AuditIndex
from lilith.audit.index_seal import IndexSeal, SealBrokenError, stored_text
from lilith.audit.query import Filters, query
from lilith.audit.tail import last_lines
from lilith.audit.verify_set import _note, _said
from lilith.errors import PolicyError
from lilith.policy.loader import parse_policy
from lilith.policy_testing import run_cases


class _Scanned:
    def __init__(self) -> None:
        self.bytes = 0


class _Tracked(bytes):
    """A block as read from the file; counts the bytes that counting and joining on it go through."""

    scanned: _Scanned

    def __new__(cls, data: bytes, scanned: _Scanned) -> _Tracked:
        block = super().__new__(cls, data)
        block.scanned = scanned
        return block

    def count(self, *args: Any) -> int:
        self.scanned.bytes += len(self)
        return super().count(*args)

    def __add__(self, other: bytes) -> _Tracked:  # type: ignore[override]
        self.scanned.bytes += len(self) + len(other)
        return _Tracked(bytes(self) + other, self.scanned)


class _Reader(io.BytesIO):
    """A file whose reads are counted and handed out as _Tracked blocks."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.read_bytes = 0
        self.scanned = _Scanned()

    def read(self, size: int | None = -1) -> bytes:
        block = super().read(size)
        self.read_bytes += len(block)
        return _Tracked(block, self.scanned)


def _file(lines: int) -> bytes:
    return b"".join(b'{"n":%d,"pad":"%s"}\n' % (n, b"x" * (n % 50)) for n in range(lines))


def test_last_lines_scans_each_byte_it_reads_once() -> None:
    data = _file(200_000)  # ~7 MB: over 100 blocks; prepending and recounting would scan ~50 times as much
    reader = _Reader(data)
    lines = last_lines(reader, 190_000)
    assert lines == data.splitlines()[-190_000:]
    assert reader.read_bytes <= len(data)
    assert reader.scanned.bytes <= 2 * reader.read_bytes


def test_last_lines_reads_only_the_blocks_it_needs() -> None:
    data = _file(200_000)
    reader = _Reader(data)
    assert last_lines(reader, 10) == data.splitlines()[-10:]
    assert reader.read_bytes == tail_module._BLOCK


@pytest.mark.parametrize("block", [1, 2, 3, 7, 64])
def test_last_lines_at_every_block_boundary(monkeypatch: pytest.MonkeyPatch, block: int) -> None:
    monkeypatch.setattr(tail_module, "_BLOCK", block)
    chance = random.Random(block)
    for _ in range(60):
        lines = [b"x" * chance.randrange(0, 9) for _ in range(chance.randrange(0, 12))]
        torn = b"t" * chance.randrange(0, 4)  # a last line still being written, or none
        data = b"".join(line + b"\n" for line in lines) + torn
        for count in range(len(lines) + 3):
            handle = io.BytesIO(data)
            assert last_lines(handle, count) == (lines[-count:] if count else []), (data, count)
            assert handle.tell() == len(data) - len(torn)  # -f goes on after the last whole line


def _index(tmp_path: Path, records: list[dict[str, Any]], key: bytes | None = None) -> tuple[Path, AuditIndex]:
    log = tmp_path / "audit.jsonl"
    log.write_bytes(b"".join(orjson.dumps(record) + b"\n" for record in records))
    index = AuditIndex(str(log), key=key)
    index.update([str(log)])
    return log, index


_RECORDS = [
    {"ts": 1.5, "session": "s", "seq": n, "event": "decision", "decision": d, "tool": t}
    for n, (d, t) in enumerate([("allow", "echo"), ("deny", "rm"), ("allow", "echo"), ("deny", "rm")] * 3)
]


def _db(log: Path) -> sqlite3.Connection:
    db = sqlite3.connect(f"{log}.idx.sqlite", isolation_level=None)
    db.text_factory = stored_text  # as the index reads it
    return db


def test_the_seal_does_not_depend_on_how_rows_were_batched(tmp_path: Path) -> None:
    log, index = _index(tmp_path, _RECORDS[:5])
    with log.open("ab") as more:  # the rest appended later: indexed in a second update
        more.write(b"".join(orjson.dumps(record) + b"\n" for record in _RECORDS[5:]))
    index.update([str(log)])
    index.close()
    db = _db(log)
    seal = IndexSeal(None)
    stored = db.execute("SELECT digest FROM seal").fetchone()[0]
    digests = seal.check(db)  # what was continued row by row is what a full scan gives
    seal.store(db, seal.rescan(db))
    assert db.execute("SELECT digest FROM seal").fetchone()[0] == stored
    assert set(digests) == {row[0] for row in db.execute("SELECT id FROM files")}


@pytest.mark.parametrize(
    "edit",
    [
        "UPDATE records SET decision = 'allow' WHERE decision = 'deny'",
        "DELETE FROM records WHERE seq = 3",
        "UPDATE records SET ts = ts + 0.001 WHERE seq = 2",
        "UPDATE records SET seq = 'five' WHERE seq = 5",
        "UPDATE records SET tool = CAST('rm' AS BLOB) WHERE tool = 'rm'",
        "UPDATE records SET tool = CAST(x'ff' AS TEXT) WHERE seq = 1",  # not UTF-8
        "INSERT INTO records (file_id, pos, len) VALUES (99, 0, 1)",
        "UPDATE files SET indexed_to = indexed_to - 1",
        "DELETE FROM seal",
        "INSERT INTO seal VALUES ('0')",
    ],
)
def test_any_edit_of_the_index_breaks_its_seal(tmp_path: Path, edit: str) -> None:
    log, index = _index(tmp_path, _RECORDS)
    index.close()
    db = _db(log)
    IndexSeal(None).check(db)
    db.execute(edit)
    with pytest.raises(SealBrokenError):
        IndexSeal(None).check(db)


def test_a_seal_made_with_another_key_or_none_is_refused(tmp_path: Path) -> None:
    key = b"k" * 32
    log, index = _index(tmp_path, _RECORDS, key=key)
    index.close()
    db = _db(log)
    IndexSeal(key).check(db)
    for other in (None, b"j" * 32):
        with pytest.raises(SealBrokenError):
            IndexSeal(other).check(db)


def _revoked_log(tmp_path: Path, revoked_seq: int) -> Path:
    log = tmp_path / "audit.jsonl"
    records = [
        {"session": "s", "seq": 1, "event": "decision", "decision": "allow", "tool": "echo"},
        {"session": "s", "seq": 2, "event": "record_revoked", "revoked_seq": revoked_seq},
        {"session": "s", "seq": 3, "event": "decision", "decision": "allow", "tool": "echo"},
    ]
    log.write_bytes(b"".join(orjson.dumps(record) + b"\n" for record in records))
    return log


def test_a_revoked_hit_needs_the_logs_word(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log = _revoked_log(tmp_path, 1)
    [revoked] = query(str(log), Filters(decision="revoked")).lines
    assert orjson.loads(revoked)["seq"] == 1
    assert [orjson.loads(line)["seq"] for line in query(str(log), Filters(decision="allow")).lines] == [3]
    # The revocation rewritten in place (same length) to name another record: the log no longer says so.
    log.write_bytes(log.read_bytes().replace(b'"revoked_seq":1}', b'"revoked_seq":7}'))
    assert query(str(log), Filters(decision="revoked")).lines == []
    assert "does not match the log" in capsys.readouterr().err
    assert [orjson.loads(line)["seq"] for line in query(str(log), Filters(decision="allow")).lines] == [1, 3]


def test_a_started_over_note_shows_validated_values_only() -> None:
    session, last = "ab" * 16, "cd" * 32
    fine = {"event": "log_started_over", "head_seq": 5, "head_session": session, "head_hash": last}
    assert _note(fine) == (
        f"the log was started over after an earlier one ended at session {session[:8]} seq 5 "
        f"(check that file with --last-hash {last})"
    )
    for field, bad in [
        ("head_session", "\x1b]0;x\x07" + "a" * 25),
        ("head_session", "AB" * 16),
        ("head_hash", "\x1b[1A" + "c" * 60),
        ("head_hash", ["c" * 64]),
        ("head_seq", "5\x1b[2J"),
        ("head_seq", True),
        ("head_seq", -1),
    ]:
        note = _note({**fine, field: bad})
        assert "<invalid>" in note and note.isprintable(), (field, bad)


def test_a_head_mismatch_problem_is_escaped_and_cut() -> None:
    assert _said("the log ends before the record the head file names") == (
        "the log ends before the record the head file names"
    )
    assert _said("\x1b[2Jok\n\u202e") == "\\u001b[2Jok\\u000a\\u202e"
    assert _said({"problem": "x"}) == "<invalid>"
    long = _said("\x07" * 10_000)
    assert long.isprintable() and len(long) < 2000


_POLICY = parse_policy("version: 1\nstatic_rules:\n  echo: ALLOW\n", "p.yaml")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("cases: []\n", "'cases' is empty"),
        ("cases:\n  - calls: []\n", "'calls' is empty"),
        ("cases:\n  - name: ''\n    calls:\n      - {tool: echo, expect: allow}\n", "name must be text"),
        ("cases:\n  - name: 3\n    calls:\n      - {tool: echo, expect: allow}\n", "name must be text"),
        ("cases:\n  - cwd: [/tmp]\n    calls:\n      - {tool: echo, expect: allow}\n", "cwd must be"),
        ("cases:\n  - calls:\n      - {prompt: [x], expect: deny}\n", "prompt must be text"),
        ("cases:\n  - calls:\n      - {resource: 'file:///x', answer: ok, expect: deny}\n", "belong to a tool call"),
        ("cases:\n  - calls:\n      - {tool: echo, args: null, expect: allow}\n", "args must be a mapping"),
        ("cases:\n  - calls:\n      - {tool: echo, expect: allow, at: -1}\n", "at must be a number"),
        ("cases:\n  - calls:\n      - {tool: echo, expect: allow, at: .nan}\n", "at must be a number"),
        ("cases:\n  - calls:\n      - {tool: echo}\n", "expect must be one of"),
    ],
)
def test_a_test_file_that_tests_nothing_or_holds_a_wrong_type_is_refused(
    tmp_path: Path, text: str, message: str
) -> None:
    cases = tmp_path / "cases.yaml"
    cases.write_text(text)
    with pytest.raises(PolicyError, match=message) as raised:
        run_cases(_POLICY, str(cases))
    assert raised.value.file == str(cases) and raised.value.line is not None


def test_a_test_file_that_is_not_text_is_refused(tmp_path: Path) -> None:
    cases = tmp_path / "cases.yaml"
    cases.write_bytes(b"\xff\xfecases: []\n")
    with pytest.raises(PolicyError, match="not UTF-8"):
        run_cases(_POLICY, str(cases))


def test_a_table_that_keeps_to_the_types_runs_and_its_failures_are_failures(tmp_path: Path) -> None:
    cases = tmp_path / "cases.yaml"
    cases.write_text(
        "cases:\n  - name: in order\n    cwd: /srv\n    calls:\n"
        "      - {tool: echo, args: {}, expect: allow, at: 0}\n"
        "      - {tool: echo, expect: allow, at: 0}\n"  # the same moment again is not going back
        "      - {tool: rm, expect: allow, at: 2.5, rule: static_rules.rm}\n"
        "      - {resource: 'file:///x', expect: allow}\n"
    )
    [result] = run_cases(_POLICY, str(cases))
    assert result.name == "in order"
    assert result.failures == ["line 7: expected allow, got deny by default-deny"]
