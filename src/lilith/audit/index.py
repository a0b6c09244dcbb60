"""The SQLite index behind ``lilith audit query``: built incrementally, next to the log, never trusted alone.

``<log>.idx.sqlite`` holds, per file of the rotated set, how far it was indexed (byte offset) and the
SHA-256 of the last indexed line; and per record its file, offset and length plus the fields queries
filter on. On each query the index catches up with what was appended since. A file whose identity
(device, inode) moved to another name (rotation) keeps its rows; a file that was cut shorter, or whose
last indexed line no longer hashes the same (replaced or rewritten), is indexed again from the start.
The log stays the source of truth: results are read back from the log files themselves.
"""

from __future__ import annotations

import errno
import hashlib
import os
import sqlite3
import stat
from collections.abc import Iterator
from typing import Any, NamedTuple

import orjson

from lilith.audit.rotation import INDEX_SUFFIX

FORMAT = 2  # PRAGMA user_version of the index; another value means rebuild (2: revoked records)
_SCHEMA = """
CREATE TABLE IF NOT EXISTS files (
    id INTEGER PRIMARY KEY, name TEXT NOT NULL, dev INTEGER NOT NULL, ino INTEGER NOT NULL,
    indexed_to INTEGER NOT NULL, last_start INTEGER NOT NULL, last_hash TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS records (
    file_id INTEGER NOT NULL, pos INTEGER NOT NULL, len INTEGER NOT NULL, ts REAL, session TEXT, seq INTEGER,
    event TEXT, decision TEXT, method TEXT, tool TEXT, PRIMARY KEY (file_id, pos)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS records_ts ON records (ts);
CREATE INDEX IF NOT EXISTS records_tool ON records (tool);
CREATE INDEX IF NOT EXISTS records_session ON records (session);
CREATE INDEX IF NOT EXISTS records_event ON records (event, decision);
"""
_BATCH = 5000


class Hit(NamedTuple):
    path: str
    pos: int
    length: int
    session: str | None
    seq: int | None


def index_path(live: str) -> str:
    return live + INDEX_SUFFIX


class AuditIndex:
    """Open (or create) the index for a log set; ``in_memory`` when the directory is not writable."""

    def __init__(self, live: str, *, in_memory: bool = False) -> None:
        if not in_memory:
            _private_file(index_path(live))
        self._db = sqlite3.connect(":memory:" if in_memory else index_path(live), isolation_level=None)
        # Connecting writes nothing; before anything is: a link is not ours, and SQLite would follow it and
        # rewrite whatever database it points at.
        if not in_memory and os.path.islink(index_path(live)):
            self._db.close()
            raise sqlite3.OperationalError(f"{index_path(live)!r} is a symbolic link")
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        if version != FORMAT:
            self._db.executescript("DROP TABLE IF EXISTS records; DROP TABLE IF EXISTS files;")
        self._db.executescript(_SCHEMA)
        self._db.execute(f"PRAGMA user_version={FORMAT}")
        self._names: dict[int, str] = {}  # file id -> current path, after update()

    def close(self) -> None:
        self._db.close()

    def update(self, paths: list[str]) -> int:
        """Catch up with ``paths`` (the set, oldest first); return how many records were added."""
        db = self._db
        added = 0
        db.execute("BEGIN IMMEDIATE")
        try:
            known = {(row[2], row[3]): row for row in db.execute("SELECT * FROM files")}
            current: set[int] = set()
            self._names = {}
            for path in paths:
                info = os.stat(path)
                row = known.get((info.st_dev, info.st_ino))
                file_id, start, last_start, last_hash = self._resume_point(path, info, row)
                current.add(file_id)
                self._names[file_id] = path
                added += self._index_from(file_id, path, start, last_start, last_hash)
            for row in known.values():
                if row[0] not in current:  # gone, or replaced by a file with another identity
                    db.execute("DELETE FROM records WHERE file_id = ?", (row[0],))
                    db.execute("DELETE FROM files WHERE id = ?", (row[0],))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return added

    def _resume_point(self, path: str, info: os.stat_result, row: tuple[Any, ...] | None) -> tuple[int, int, int, str]:
        """(file id, offset to index from, start of the last indexed line, its hash)."""
        db = self._db
        if row is None:
            cursor = db.execute(
                "INSERT INTO files (name, dev, ino, indexed_to, last_start, last_hash) VALUES (?, ?, ?, 0, 0, '')",
                (path, info.st_dev, info.st_ino),
            )
            return int(cursor.lastrowid or 0), 0, 0, ""
        file_id, _, _, _, indexed_to, last_start, last_hash = row
        db.execute("UPDATE files SET name = ? WHERE id = ?", (path, file_id))
        if indexed_to <= info.st_size and _line_hash(path, last_start, indexed_to) == last_hash:
            return file_id, indexed_to, last_start, last_hash
        db.execute("DELETE FROM records WHERE file_id = ?", (file_id,))  # cut shorter or rewritten: start over
        return file_id, 0, 0, ""

    def _index_from(self, file_id: int, path: str, start: int, last_start: int, last_hash: str) -> int:
        db = self._db
        added = 0
        pos = start
        last: bytes | None = None
        batch: list[tuple[Any, ...]] = []
        for line_start, line in _whole_lines(path, start):
            pos = line_start + len(line) + 1
            last_start, last = line_start, line
            row = _fields(line)
            if row is None:
                continue  # a torn line: nothing to find by
            batch.append((file_id, line_start, len(line), *row))
            if row[3] == "record_revoked":
                added += self._insert(batch)
                self._revoke(row[1], line)
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
            self._db.executemany("INSERT OR REPLACE INTO records VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", batch)
            batch.clear()
        return count

    def _revoke(self, session: str | None, line: bytes) -> None:
        """A ``record_revoked`` record: the record it names did not take effect (its flush failed and its
        call was refused), so it is indexed as decision ``revoked``, never found as an ``allow``."""
        seq = orjson.loads(line).get("revoked_seq")
        if isinstance(seq, int) and session is not None:
            self._db.execute(
                "UPDATE records SET decision = 'revoked' WHERE session = ? AND seq = ? AND event = 'decision'"
                " AND decision IN ('allow', 'would-deny')",
                (session, seq),
            )

    def search(self, where: str, params: list[Any]) -> list[Hit]:
        """Records matching ``where`` (SQL over the records table's columns), in log order."""
        rows = self._db.execute(f"SELECT file_id, pos, len, session, seq FROM records WHERE {where}", params)  # noqa: S608 - where is built from fixed clauses, values are bound
        order = {file_id: n for n, file_id in enumerate(self._names)}
        hits = sorted(rows, key=lambda row: (order.get(row[0], -1), row[1]))
        return [Hit(self._names[row[0]], row[1], row[2], row[3], row[4]) for row in hits if row[0] in self._names]


def _line_hash(path: str, start: int, end: int) -> str:
    if end == 0:
        return ""
    with open(path, "rb") as handle:
        handle.seek(start)
        line = handle.read(end - start)
    return hashlib.sha256(line[:-1]).hexdigest() if line.endswith(b"\n") else "?"


def _whole_lines(path: str, start: int) -> Iterator[tuple[int, bytes]]:
    """(offset, line without its newline) for every whole line from ``start``; a line still being written
    (no newline yet) is left for the next update."""
    with open(path, "rb") as handle:
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


def _fields(line: bytes) -> tuple[Any, ...] | None:
    try:
        record = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(record, dict):
        return None
    ts = record.get("ts")
    return (
        ts if isinstance(ts, int | float) and not isinstance(ts, bool) else None,
        _text(record.get("session")),
        record.get("seq") if isinstance(record.get("seq"), int) else None,
        _text(record.get("event")),
        _text(record.get("decision")),
        _text(record.get("method")),
        _text(record.get("tool")),
    )


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


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
