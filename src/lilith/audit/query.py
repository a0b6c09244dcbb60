"""``lilith audit query``: find records by tool, decision, time, session or event, through the index.

Every hit is read back from the log and checked against the index (same session and sequence number at
that offset); if the log changed under the index, the index is rebuilt and the query run again. A file of
the set that is not a regular file is skipped and named in the answer; an index SQLite cannot use (a full
disk, a damaged file) gives way to one in memory.
"""

from __future__ import annotations

import contextlib
import datetime
import os
import sqlite3
import sys
from collections.abc import Iterator
from typing import Any, BinaryIO, NamedTuple

import orjson

from lilith.audit.index import AuditIndex, Hit, StaleIndexError, index_path, open_log, record_key
from lilith.audit.rotation import log_set, rotated_numbers, rotation_number, seconds_of
from lilith.errors import AuditReadError

_GLOB_CHARS = frozenset("*?[")
_ATTEMPTS = 3  # a rebuild, then one more try with a fresh index, before saying the log keeps changing


class Filters(NamedTuple):
    tool: str | None = None
    decision: str | None = None
    since: float | None = None
    until: float | None = None
    session: str | None = None
    event: str | None = None


class Answer(NamedTuple):
    lines: list[bytes]  # the raw lines of the matching records, in log order
    unreadable: list[str]  # files of the set that were skipped: not regular files


def parse_time(text: str, now: float) -> float:
    """'30s', '15m', '1h', '2d', '1w' ago, or an ISO 8601 time (local time unless it names a zone)."""
    ago = seconds_of(text, unit_required=True)
    if ago is not None:
        return now - ago
    try:
        when = datetime.datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ValueError(f"not a time: {text!r} (examples: 30m, 1h, 2d, 2026-11-29T17:00:00)") from None
    return when.timestamp()


def where_clause(filters: Filters) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    params: list[Any] = []
    if filters.tool is not None:
        clauses.append("tool GLOB ?" if _GLOB_CHARS.intersection(filters.tool) else "tool = ?")
        params.append(filters.tool)
    for column in ("decision", "event"):
        value = getattr(filters, column)
        if value is not None:
            clauses.append(f"{column} = ?")
            params.append(value)
    if filters.since is not None:
        clauses.append("ts >= ?")
        params.append(filters.since)
    if filters.until is not None:
        clauses.append("ts <= ?")
        params.append(filters.until)
    if filters.session is not None:  # a prefix, as `tail` shows sessions by their first 8 characters
        clauses.append("substr(session, 1, ?) = ?")
        params.extend([len(filters.session), filters.session])
    return (" AND ".join(clauses) or "1"), params


def query(path: str, filters: Filters) -> Answer:
    """The matching records of ``path``'s set (or of ``path`` alone, for a rotated file)."""
    where, params = where_clause(filters)
    in_memory = False
    for _ in range(_ATTEMPTS):
        paths = _files_of(path)  # again each time: the set may have rotated meanwhile
        index = _open_index(path, in_memory)
        try:
            index.update(paths)
            return Answer(list(_read_back(index.search(where, params))), index.unreadable)
        except StaleIndexError:
            if not index.in_memory:
                _discard(index, path)
        except sqlite3.Error as exc:
            if index.in_memory:
                raise AuditReadError(f"cannot index {path!r}: {exc}") from None
            _say_in_memory(path, exc)
            in_memory = True
        finally:
            index.close()
    raise AuditReadError(f"{path!r} kept changing while it was read; run the query again")


def _files_of(path: str) -> list[str]:
    """A rotated file (FILE.N) alone; a live log with its rotated files, also one whose own name ends in a
    number (``audit.2026``, with ``audit.2026.1`` … next to it)."""
    if rotation_number(path) is not None and not rotated_numbers(path):
        return [path]
    return log_set(path)


def _open_index(path: str, in_memory: bool) -> AuditIndex:
    if not in_memory:
        try:
            return AuditIndex(path)
        except sqlite3.Error as exc:  # a read-only directory, say: the query still works, only slower next time
            _say_in_memory(path, exc)
    return AuditIndex(path, in_memory=True)


def _say_in_memory(path: str, problem: sqlite3.Error) -> None:
    print(
        f"lilith audit query: index {index_path(path)!r} unavailable ({problem}); indexing in memory", file=sys.stderr
    )


def _discard(index: AuditIndex, path: str) -> None:
    index.close()
    for suffix in ("", "-journal"):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(index_path(path) + suffix)


def _read_back(hits: list[Hit]) -> Iterator[bytes]:
    handles: dict[str, BinaryIO] = {}
    try:
        for hit in hits:
            handle = handles.get(hit.path)
            if handle is None:
                handle = handles[hit.path] = _reopen(hit.path)
            handle.seek(hit.pos)
            line = handle.read(hit.length + 1)
            yield _checked(line, hit)
    finally:
        for handle in handles.values():
            handle.close()


def _reopen(path: str) -> BinaryIO:
    """A file indexed a moment ago; gone or no longer a regular file means the set changed: look again."""
    try:
        return open_log(path)
    except (FileNotFoundError, AuditReadError):
        raise StaleIndexError(path) from None


def _checked(line: bytes, hit: Hit) -> bytes:
    if not line.endswith(b"\n"):
        raise StaleIndexError(hit.path)
    try:
        record = orjson.loads(line)
    except orjson.JSONDecodeError:
        raise StaleIndexError(hit.path) from None
    if not isinstance(record, dict) or record_key(record) != (hit.session, hit.seq):
        raise StaleIndexError(hit.path)
    return line[:-1]
