"""``lilith audit query``: find records by tool, decision, time, session or event, through the index.

The index is a cache, the log the truth: an index that fails its seal is rebuilt (see ``index_seal``), and
every hit is read back from the log and must be the record indexed there (same session and sequence number)
and match the query itself, judged on what the log says (a ``revoked`` decision only if a ``record_revoked``
record in the log names it). An index the log contradicts is rebuilt, said on stderr, and the query run
again. A file of the set that is not a regular file is skipped and named in the answer; an index SQLite
cannot use (a full disk, a damaged file) gives way to one in memory.
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

from lilith.audit.index import (
    AuditIndex,
    Hit,
    StaleIndexError,
    fields_of,
    index_path,
    open_log,
    record_key,
    revoked_key,
)
from lilith.audit.render import printable
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


class ContradictedError(StaleIndexError):
    """A hit read back from the log is not what the index says it is: the index was edited or damaged."""


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


def query(path: str, filters: Filters, key: bytes | None = None) -> Answer:
    """The matching records of ``path``'s set (or of ``path`` alone, for a rotated file). ``key``: the audit
    key, if at hand, to seal the index with."""
    where, params = where_clause(filters)
    in_memory = False
    for _ in range(_ATTEMPTS):
        paths = _files_of(path)  # again each time: the set may have rotated meanwhile
        index = _open_index(path, in_memory, key)
        try:
            index.update(paths)
            return Answer(list(_ReadBack(index, where, params).lines()), index.unreadable)
        except StaleIndexError as exc:
            if isinstance(exc, ContradictedError) and not index.in_memory:
                print(
                    f"lilith audit query: the index {index_path(path)!r} does not match the log ({exc}); rebuilding it",
                    file=sys.stderr,
                )
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


def _open_index(path: str, in_memory: bool, key: bytes | None) -> AuditIndex:
    if not in_memory:
        try:
            return AuditIndex(path, key=key)
        except sqlite3.Error as exc:  # a read-only directory, say: the query still works, only slower next time
            _say_in_memory(path, exc)
    return AuditIndex(path, in_memory=True, key=key)


def _say_in_memory(path: str, problem: sqlite3.Error) -> None:
    # SQLite's message can quote the damaged file (a table's name in it): escaped, like anything from a log.
    print(
        f"lilith audit query: index {index_path(path)!r} unavailable ({printable(str(problem))}); indexing in memory",
        file=sys.stderr,
    )


def _discard(index: AuditIndex, path: str) -> None:
    index.close()
    for suffix in ("", "-journal"):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(index_path(path) + suffix)


class _ReadBack:
    """The hits of a query, read back from the log and checked against it."""

    def __init__(self, index: AuditIndex, where: str, params: list[Any]) -> None:
        self._index = index
        self._where = where
        self._params = params
        self._filtered = where != "1"  # without a filter every record matches, revoked or not
        self._handles: dict[str, BinaryIO] = {}
        self._revocations: dict[str | None, set[int | None]] = {}  # session -> the seqs it revoked

    def lines(self) -> Iterator[bytes]:
        try:
            for hit in self._index.search(self._where, self._params):
                line = self._read(hit)
                if self._filtered:
                    self._check(hit, orjson.loads(line))
                yield line
        finally:
            for handle in self._handles.values():
                handle.close()

    def _check(self, hit: Hit, record: dict[str, Any]) -> None:
        """The query, asked again of the record as the log has it."""
        fields = list(fields_of(record))
        if hit.decision == "revoked":
            fields[4] = self._revoked(hit, record)
        if not self._index.matches(tuple(fields), self._where, self._params):
            raise ContradictedError(f"{_where(hit)} does not match the query")

    def _read(self, hit: Hit) -> bytes:
        """The line of the log at ``hit``, without its newline (see ``_checked``)."""
        handle = self._handles.get(hit.path)
        if handle is None:
            handle = self._handles[hit.path] = _reopen(hit.path)
        handle.seek(hit.pos)
        return _checked(handle.read(hit.length + 1), hit)

    def _revoked(self, hit: Hit, record: dict[str, Any]) -> str:
        """Returns "revoked" if the log says so: the hit is a decision that let something through, and a
        ``record_revoked`` record of its session names it (else ContradictedError)."""
        if fields_of(record)[3:5] in (("decision", "allow"), ("decision", "would-deny")):
            if hit.session not in self._revocations:
                self._revocations[hit.session] = self._revoked_in(hit.session)
            if hit.seq in self._revocations[hit.session]:
                return "revoked"
        raise ContradictedError(f"{_where(hit)} is not revoked in the log")

    def _revoked_in(self, session: str | None) -> set[int | None]:
        """The sequence numbers the ``record_revoked`` records of ``session`` name, as the log has them."""
        named: set[int | None] = set()
        for hit in self._index.search("event = 'record_revoked' AND session = ?", [session]):
            record = orjson.loads(self._read(hit))
            if fields_of(record)[3] == "record_revoked":
                named.add(revoked_key(record)[1])
        return named


def _where(hit: Hit) -> str:
    return f"the record at byte {hit.pos} of {hit.path!r}"


def _checked(line: bytes, hit: Hit) -> bytes:
    """``line`` without its newline, if it is the record indexed at ``hit`` (a JSON object with the same
    session and sequence number); else the log changed under the index (StaleIndexError)."""
    if not line.endswith(b"\n"):
        raise StaleIndexError(hit.path)
    try:
        record = orjson.loads(line)
    except orjson.JSONDecodeError:
        raise StaleIndexError(hit.path) from None
    if not isinstance(record, dict) or record_key(record) != (hit.session, hit.seq):
        raise StaleIndexError(hit.path)
    return line[:-1]


def _reopen(path: str) -> BinaryIO:
    """A file indexed a moment ago; gone or no longer a regular file means the set changed: look again."""
    try:
        return open_log(path)
    except (FileNotFoundError, AuditReadError):
        raise StaleIndexError(path) from None
