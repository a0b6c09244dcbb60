"""The SQLite index behind ``lilith audit query``: built incrementally, next to the log, never trusted alone.

``<log>.idx.sqlite`` holds, per file of the rotated set, how far it was indexed (byte offset) and the
SHA-256 of the last indexed line; and per record its file, offset and length plus the fields queries
filter on. On each query the index catches up with what was appended since. A file whose identity
(device, inode) moved to another name (rotation) keeps its rows; a file that was cut shorter, or whose
last indexed line no longer hashes the same (replaced or rewritten), is indexed again from the start.
The log stays the source of truth: results are read back from the log files themselves, and checked
against the query again (see ``lilith.audit.query``). The index is sealed (``lilith.audit.index_seal``): an
index whose rows or resume points were changed by anything but this class is rebuilt before it is used.

The logs read may be tampered with or made by hand (that is when they get read): a file that is not a
regular file is skipped (never waited on, as a FIFO would make a plain ``open`` do), and a field of the
wrong type, or a number SQLite cannot hold, is indexed as NULL, exactly as ``record_key`` reads it back.
"""

from __future__ import annotations

import errno
import hashlib
import math
import os
import sqlite3
import stat
from collections.abc import Iterator
from typing import Any, BinaryIO, NamedTuple

import orjson

from lilith.audit.index_seal import IndexSeal, SealBrokenError, stored_text
from lilith.audit.rotation import INDEX_SUFFIX
from lilith.errors import AuditReadError

FORMAT = 3  # PRAGMA user_version of the index; another value means rebuild (2: revoked records, 3: sealed)
_SCHEMA = """
CREATE TABLE IF NOT EXISTS files (
    id INTEGER PRIMARY KEY, name TEXT NOT NULL, dev INTEGER NOT NULL, ino INTEGER NOT NULL,
    indexed_to INTEGER NOT NULL, last_start INTEGER NOT NULL, last_hash TEXT NOT NULL, rows_digest TEXT);
CREATE TABLE IF NOT EXISTS records (
    file_id INTEGER NOT NULL, pos INTEGER NOT NULL, len INTEGER NOT NULL, ts REAL, session TEXT, seq INTEGER,
    event TEXT, decision TEXT, method TEXT, tool TEXT, PRIMARY KEY (file_id, pos)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS records_ts ON records (ts);
CREATE INDEX IF NOT EXISTS records_tool ON records (tool);
CREATE INDEX IF NOT EXISTS records_session ON records (session);
CREATE INDEX IF NOT EXISTS records_event ON records (event, decision);
CREATE TABLE IF NOT EXISTS seal (digest TEXT NOT NULL);
"""
_BATCH = 5000
_SQL_INT_MIN, _SQL_INT_MAX = -(1 << 63), (1 << 63) - 1  # SQLite INTEGER; orjson reads ints up to 2**64 - 1
NOT_REGULAR = "not a regular file (a log is never a FIFO, a device or a directory)"


class Hit(NamedTuple):
    path: str
    pos: int
    length: int
    session: str | None
    seq: int | None
    decision: str | None  # as indexed: "revoked" for a decision a later record revoked


class StaleIndexError(Exception):
    """The index does not match the log (or holds nonsense): rebuild it. Never shown to the user."""


def index_path(live: str) -> str:
    return live + INDEX_SUFFIX


def open_log(path: str) -> BinaryIO:
    """``path`` opened for reading, if it is a regular file; AuditReadError if not. Opened without blocking,
    so a FIFO planted at a log's name cannot stall the reader. Raises OSError (FileNotFoundError included)."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise AuditReadError(f"{path!r} is {NOT_REGULAR}")
    except BaseException:
        os.close(fd)
        raise
    return os.fdopen(fd, "rb")


def fields_of(record: dict[str, Any]) -> tuple[Any, ...]:
    """(ts, session, seq, event, decision, method, tool) of a record, as the index stores them."""
    return _fields(record)


def record_key(record: dict[str, Any]) -> tuple[str | None, int | None]:
    """(session, seq) as the index stores them: what a hit is checked against when read back."""
    return _text(record.get("session")), _sql_int(record.get("seq"))


def revoked_key(record: dict[str, Any]) -> tuple[str | None, int | None]:
    """(session, seq) of the record a ``record_revoked`` record names."""
    return _text(record.get("session")), _sql_int(record.get("revoked_seq"))


class AuditIndex:
    """Open (or create) the index for a log set; ``in_memory`` when the directory is not writable. ``key``:
    the audit key, if at hand, to seal the index with (see ``lilith.audit.index_seal``)."""

    def __init__(self, live: str, *, in_memory: bool = False, key: bytes | None = None) -> None:
        if not in_memory:
            _private_file(index_path(live))
        self._db = sqlite3.connect(":memory:" if in_memory else index_path(live), isolation_level=None)
        # Connecting writes nothing; before anything is: a link is not ours, and SQLite would follow it and
        # rewrite whatever database it points at.
        if not in_memory and os.path.islink(index_path(live)):
            self._db.close()
            raise sqlite3.OperationalError(f"{index_path(live)!r} is a symbolic link")
        self._db.text_factory = stored_text
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        if version != FORMAT:
            self._db.executescript(
                "DROP TABLE IF EXISTS records; DROP TABLE IF EXISTS files; DROP TABLE IF EXISTS seal;"
            )
        self._db.executescript(_SCHEMA)
        self._db.execute(f"PRAGMA user_version={FORMAT}")
        self._names: dict[int, str] = {}  # file id -> current path, after update()
        self.in_memory = in_memory
        self.unreadable: list[str] = []  # files of the set skipped by the last update(): not regular files
        self._seal = IndexSeal(key)
        self._digests: dict[int, Any] = {}  # file id -> digest of its rows so far, during update()
        self._rows_changed = False  # a row was changed in place (revoked) during update(): digest again

    def close(self) -> None:
        self._db.close()

    def update(self, paths: list[str]) -> int:
        """Catch up with ``paths`` (the set, oldest first); return how many records were added."""
        db = self._db
        added = 0
        db.execute("BEGIN IMMEDIATE")
        try:
            try:
                self._digests = self._seal.check(db)
            except SealBrokenError as exc:
                raise StaleIndexError(str(exc)) from None
            self._rows_changed = False
            known = {(row[2], row[3]): row for row in db.execute("SELECT * FROM files")}
            current: set[int] = set()
            self._names = {}
            self.unreadable = []
            for path in paths:
                try:
                    handle = open_log(path)
                except AuditReadError:
                    self.unreadable.append(path)
                    continue
                with handle:
                    info = os.fstat(handle.fileno())
                    row = known.get((info.st_dev, info.st_ino))
                    file_id, start, last_start, last_hash = self._resume_point(handle, path, info, row)
                    if start == 0:  # new, or indexed again from its start: its rows so far are gone
                        self._digests[file_id] = self._seal.fresh()
                    current.add(file_id)
                    self._names[file_id] = path
                    added += self._index_from(file_id, handle, start, last_start, last_hash)
            for row in known.values():
                if row[0] not in current:  # gone, or replaced by a file with another identity
                    db.execute("DELETE FROM records WHERE file_id = ?", (row[0],))
                    db.execute("DELETE FROM files WHERE id = ?", (row[0],))
            self._seal.store(db, self._seal.rescan(db) if self._rows_changed else self._digests)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return added

    def _resume_point(
        self, handle: BinaryIO, path: str, info: os.stat_result, row: tuple[Any, ...] | None
    ) -> tuple[int, int, int, str]:
        """(file id, offset to index from, start of the last indexed line, its hash)."""
        db = self._db
        if row is None:
            cursor = db.execute(
                "INSERT INTO files (name, dev, ino, indexed_to, last_start, last_hash) VALUES (?, ?, ?, 0, 0, '')",
                (path, info.st_dev, info.st_ino),
            )
            return int(cursor.lastrowid or 0), 0, 0, ""
        file_id, _, _, _, indexed_to, last_start, last_hash, _ = row
        db.execute("UPDATE files SET name = ? WHERE id = ?", (path, file_id))
        if (
            _offsets(last_start, indexed_to)  # anything else is a damaged index
            and indexed_to <= info.st_size
            and _line_hash(handle, last_start, indexed_to) == last_hash
        ):
            return file_id, indexed_to, last_start, last_hash
        db.execute("DELETE FROM records WHERE file_id = ?", (file_id,))  # cut shorter or rewritten: start over
        return file_id, 0, 0, ""

    def _index_from(self, file_id: int, handle: BinaryIO, start: int, last_start: int, last_hash: str) -> int:
        db = self._db
        added = 0
        pos = start
        last: bytes | None = None
        batch: list[tuple[Any, ...]] = []
        for line_start, line in _whole_lines(handle, start):
            pos = line_start + len(line) + 1
            last_start, last = line_start, line
            record = _record(line)
            if record is None:
                continue  # a torn line: nothing to find by
            row = _fields(record)
            batch.append((file_id, line_start, len(line), *row))
            if row[3] == "record_revoked":
                added += self._insert(batch)
                self._revoke(record)
            elif len(batch) >= _BATCH:
                added += self._insert(batch)
        added += self._insert(batch)
        if last is not None:
            last_hash = hashlib.sha256(last).hexdigest()
        db.execute(
            "UPDATE files SET indexed_to = ?, last_start = ?, last_hash = ? WHERE id = ?",
            (pos, last_start, last_hash, file_id),
        )
        return added

    def _insert(self, batch: list[tuple[Any, ...]]) -> int:
        count = len(batch)
        if batch:
            self._seal.add(self._digests[batch[0][0]], batch)  # one file's rows, in log order
            self._db.executemany("INSERT OR REPLACE INTO records VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", batch)
            batch.clear()
        return count

    def _revoke(self, record: dict[str, Any]) -> None:
        """A ``record_revoked`` record: the record it names did not take effect (its flush failed and its
        call was refused), so it is indexed as decision ``revoked``, never found as an ``allow``."""
        session, seq = revoked_key(record)
        if seq is not None and session is not None:
            changed = self._db.execute(
                "UPDATE records SET decision = 'revoked' WHERE session = ? AND seq = ? AND event = 'decision'"
                " AND decision IN ('allow', 'would-deny')",
                (session, seq),
            ).rowcount
            self._rows_changed = self._rows_changed or changed > 0

    def search(self, where: str, params: list[Any]) -> list[Hit]:
        """Records matching ``where`` (SQL over the records table's columns), in log order."""
        rows = self._db.execute(f"SELECT file_id, pos, len, session, seq, decision FROM records WHERE {where}", params)  # noqa: S608 - where is built from fixed clauses, values are bound
        found = [row for row in rows if row[0] in self._names]
        if not all(_is_count(row[1]) and _is_count(row[2]) for row in found):
            raise StaleIndexError("an offset or a length in the index is not one")
        order = {file_id: n for n, file_id in enumerate(self._names)}
        hits = sorted(found, key=lambda row: (order[row[0]], row[1]))
        return [Hit(self._names[row[0]], *row[1:]) for row in hits]

    def matches(self, fields: tuple[Any, ...], where: str, params: list[Any]) -> bool:
        """Do a record's ``fields`` (as ``fields_of`` gives them) satisfy ``where``? Asked of SQLite itself,
        so a record read back from the log is judged exactly as its row was."""
        row = f"SELECT {', '.join(f'? AS {name}' for name in _FIELD_NAMES)}"
        found = self._db.execute(f"SELECT 1 FROM ({row}) WHERE {where}", [*fields, *params])  # noqa: S608 - as in search
        return found.fetchone() is not None


def _offsets(start: Any, end: Any) -> bool:
    """Could these be where the last indexed line starts and where indexing stopped? (An index can be
    damaged or edited by hand: SQLite keeps whatever type it is given.)"""
    return _is_count(start) and _is_count(end) and (start < end or start == end == 0)


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _line_hash(handle: BinaryIO, start: int, end: int) -> str:
    if end == 0:
        return ""
    handle.seek(start)
    line = handle.read(end - start)
    return hashlib.sha256(line[:-1]).hexdigest() if line.endswith(b"\n") else "?"


def _whole_lines(handle: BinaryIO, start: int) -> Iterator[tuple[int, bytes]]:
    """(offset, line without its newline) for every whole line from ``start``; a line still being written
    (no newline yet) is left for the next update."""
    handle.seek(start)
    offset = start
    pending = b""
    while chunk := handle.read(1 << 20):
        pending += chunk
        lines = pending.split(b"\n")
        pending = lines.pop()
        for line in lines:
            yield offset, line
            offset += len(line) + 1


def _record(line: bytes) -> dict[str, Any] | None:
    try:
        record = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    return record if isinstance(record, dict) else None


def _fields(record: dict[str, Any]) -> tuple[Any, ...]:
    session, seq = record_key(record)
    return (
        _sql_real(record.get("ts")),
        session,
        seq,
        _text(record.get("event")),
        _text(record.get("decision")),
        _text(record.get("method")),
        _text(record.get("tool")),
    )


_FIELD_NAMES = ("ts", "session", "seq", "event", "decision", "method", "tool")  # the order of _fields


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _sql_int(value: Any) -> int | None:
    """An int SQLite can store (a bool is not a number here, a float is not a sequence number)."""
    if isinstance(value, int) and not isinstance(value, bool) and _SQL_INT_MIN <= value <= _SQL_INT_MAX:
        return value
    return None


def _sql_real(value: Any) -> float | None:
    if not isinstance(value, int | float) or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except OverflowError:  # an int beyond any double
        return None
    return number if math.isfinite(number) else None


def _private_file(path: str) -> None:
    """The index names tools, sessions and decisions: readable by the log's owner only, like the log (SQLite
    would create it under the umask, and gives its journal the same mode). Never through a link, and never
    waiting on a FIFO planted in its place."""
    flags = os.O_RDONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    try:
        fd = os.open(path, flags, 0o600)
    except OSError as exc:
        problem = "is a symbolic link" if exc.errno == errno.ELOOP else f"cannot be opened: {exc.strerror}"
        raise sqlite3.OperationalError(f"{path!r} {problem}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise sqlite3.OperationalError(f"{path!r} is not a regular file")
        if info.st_mode & 0o077:
            os.fchmod(fd, 0o600)
    except OSError as exc:
        raise sqlite3.OperationalError(f"{path!r}: {exc.strerror}") from None
    finally:
        os.close(fd)
