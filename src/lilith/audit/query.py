"""``lilith audit query``: find records by tool, decision, time, session or event, through the index.

Every hit is read back from the log and checked against the index (same session and sequence number at
that offset); if the log changed under the index, the index is rebuilt and the query run again.
"""

from __future__ import annotations

import contextlib
import datetime
import os
import sqlite3
import sys
from collections.abc import Iterator
from typing import Any, NamedTuple

import orjson

from lilith.audit.index import AuditIndex, Hit, index_path
from lilith.audit.rotation import log_set, rotation_number, seconds_of

_GLOB_CHARS = frozenset("*?[")


class Filters(NamedTuple):
    tool: str | None = None
    decision: str | None = None
    since: float | None = None
    until: float | None = None
    session: str | None = None
    event: str | None = None


class StaleIndexError(Exception):
    """A hit no longer matches the log at its offset."""


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


def query(path: str, filters: Filters) -> Iterator[bytes]:
    """The raw lines of the matching records, in log order."""
    paths = [path] if rotation_number(path) is not None else log_set(path)
    where, params = where_clause(filters)
    for attempt in (1, 2):
        index = _open_index(path)
        try:
            index.update(paths)
            hits = index.search(where, params)
            lines = list(_read_back(hits))
        except StaleIndexError:
            if attempt == 2:
                raise
            _discard(index, path)
            continue
        finally:
            index.close()
        yield from lines
        return


def _open_index(path: str) -> AuditIndex:
    try:
        return AuditIndex(path)
    except sqlite3.Error as exc:  # a read-only directory, say: the query still works, only slower next time
        print(
            f"lilith audit query: index {index_path(path)!r} unavailable ({exc}); indexing in memory", file=sys.stderr
        )
        return AuditIndex(path, in_memory=True)


def _discard(index: AuditIndex, path: str) -> None:
    index.close()
    for suffix in ("", "-journal"):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(index_path(path) + suffix)


def _read_back(hits: list[Hit]) -> Iterator[bytes]:
    handles: dict[str, Any] = {}
    try:
        for hit in hits:
            handle = handles.get(hit.path)
            if handle is None:
                handle = handles[hit.path] = open(hit.path, "rb")  # noqa: SIM115 - closed below
            handle.seek(hit.pos)
            line = handle.read(hit.length + 1)
            yield _checked(line, hit)
    finally:
        for handle in handles.values():
            handle.close()


def _checked(line: bytes, hit: Hit) -> bytes:
    if not line.endswith(b"\n"):
        raise StaleIndexError(hit.path)
    try:
        record = orjson.loads(line)
    except orjson.JSONDecodeError:
        raise StaleIndexError(hit.path) from None
    if not isinstance(record, dict) or record.get("session") != hit.session or record.get("seq") != hit.seq:
        raise StaleIndexError(hit.path)
    return line[:-1]
