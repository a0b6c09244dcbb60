"""Tamper evidence for the audit log: a hash chain plus an HMAC on every record.

Every record carries ``prev``, the SHA-256 of the previous line (64 zeros for the first), and ends with
``"mac"``: HMAC-SHA256 under the audit key of the line's bytes up to that field. Changing, inserting,
deleting or reordering lines breaks the chain or a MAC at the first place it happened; without the key
nobody can forge a consistent replacement. A crash can leave a torn last line: the next writer ends it
with a ``log_resumed`` record that chains to the last whole line and names the fragment's size and hash, so a
crash is told apart from tampering.
(Cutting lines off the *end* of a log cannot be seen from the log alone: ``lilith.audit.head`` guards that.)
"""

from __future__ import annotations

import hashlib
import hmac
import re
from typing import Any

GENESIS = "0" * 64
# Records a writer puts right after a torn line it found or left: they end that line and explain it.
_RESUME_EVENTS = ("log_resumed", "records_lost")
_MAC_SUFFIX = re.compile(rb',"mac":"([0-9a-f]{64})"\}$')


def line_hash(line: bytes) -> str:
    return hashlib.sha256(line).hexdigest()


def seal(unsealed: bytes, key: bytes) -> bytes:
    """``unsealed`` is a JSON object's bytes (ending in ``}``, no newline); return it with its MAC appended."""
    mac = hmac.digest(key, unsealed, "sha256").hex().encode()  # one-shot: no HMAC object per record
    return b"".join((unsealed[:-1], b',"mac":"', mac, b'"}'))


class Sealer:
    """``seal`` and ``line_hash`` for one key, for a writer's hot path: each call copies a prepared
    OpenSSL context instead of looking the algorithm up again. In a threaded process that per-call lookup
    took OpenSSL's locks and cost ~10x the hashing itself."""

    __slots__ = ("_mac", "_sha")

    def __init__(self, key: bytes) -> None:
        self._mac = hmac.new(key, digestmod=hashlib.sha256)
        self._sha = hashlib.sha256()

    def seal(self, unsealed: bytes) -> bytes:
        mac = self._mac.copy()
        mac.update(unsealed)
        return b"".join((unsealed[:-1], b',"mac":"', mac.hexdigest().encode(), b'"}'))

    def line_hash(self, line: bytes) -> str:
        sha = self._sha.copy()
        sha.update(line)
        return sha.hexdigest()


def mac_ok(line: bytes, key: bytes) -> bool:
    found = _MAC_SUFFIX.search(line)
    if found is None:
        return False
    unsealed = line[: found.start()] + b"}"
    expected = hmac.new(key, unsealed, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode(), found.group(1))


class Verdict:
    """What ``verify`` found. A plain class, not a dataclass or NamedTuple: building either costs start-up
    time, and this module is imported before the server is started."""

    __slots__ = ("last_hash", "line", "ok", "problem", "records")

    def __init__(
        self, ok: bool, records: int, problem: str | None = None, line: int | None = None, last_hash: str = GENESIS
    ) -> None:
        self.ok = ok
        self.records = records
        self.problem = problem
        self.line = line
        self.last_hash = last_hash  # of the last whole record: where the next file of a rotated set chains on

    def __str__(self) -> str:
        if self.ok:
            return f"ok: {self.records} records, chain intact"
        return f"line {self.line}: {self.problem}"


def verify(data: bytes, key: bytes | None, previous: str = GENESIS) -> Verdict:
    """Check a whole log whose first record must chain on ``previous`` (the last line of the file before it,
    for a rotated set). Without a key only the chain is checked (anyone can recompute hashes)."""
    import orjson

    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    torn_at: int | None = None
    torn = b""
    count = 0
    for number, line in enumerate(lines, start=1):
        try:
            record = orjson.loads(line)
        except orjson.JSONDecodeError:
            record = None
        if not isinstance(record, dict):
            if number == len(lines) and not data.endswith(b"\n"):
                return Verdict(False, count, "torn last record (the writer was killed mid-write)", number)
            if torn_at is not None:
                return Verdict(False, count, "not a record", number)
            torn_at, torn = number, line
            continue
        # The record that ends a torn line names the fragment's size and hash: any other line there was put in
        # (a stray first line included), or the fragment was changed.
        if torn_at is not None and (not _ends_torn(record, torn_at) or not _explains(record, torn)):
            return Verdict(False, count, "not a record", torn_at)
        if key is not None and not mac_ok(line, key):
            return Verdict(False, count, "MAC mismatch: the record was changed, or written with another key", number)
        if record.get("prev") != previous:
            return Verdict(False, count, "chain broken: a record before this one was changed, removed or moved", number)
        torn_at = None
        previous = line_hash(line)
        count += 1
    if torn_at is not None:
        return Verdict(False, count, "not a record", torn_at)
    return Verdict(True, count, last_hash=previous)


def _ends_torn(record: dict[str, Any], torn_at: int) -> bool:
    """May this record end the torn line at ``torn_at``? A resume does; so does the ``log_rotated`` that opens
    a file whose first record was torn (a crash right after a rotation), and only there."""
    event = record.get("event")
    return event in _RESUME_EVENTS or (event == "log_rotated" and torn_at == 1)


def _explains(record: dict[str, Any], fragment: bytes) -> bool:
    return all(record.get(name) == value for name, value in torn_fields(fragment).items())


def first_record(data: bytes) -> dict[str, Any] | None:
    """The record on the first line of ``data`` (a log's start), or None. The stdlib parser: the writer calls
    this before the server is started, where orjson's imports would cost start-up time."""
    import json

    try:
        record = json.loads(data.split(b"\n", 1)[0])
    except (ValueError, RecursionError):
        return None
    return record if isinstance(record, dict) else None


def opening_record(data: bytes) -> dict[str, Any] | None:
    """The record a log opens with: its first line; or, when that line is a fragment a crash tore (the new
    file's first record, right after a rotation), the record after it, if that one names the fragment's size
    and hash (so nothing else can be slipped in front of a file)."""
    first, _, rest = data.partition(b"\n")
    record = first_record(first)
    if record is not None or not first or not rest:
        return record
    following = first_record(rest)
    return following if following is not None and _explains(following, first) else None


def last_whole_line(path: str, probe: int = 1 << 20, limit: int = 64 << 20) -> tuple[bytes | None, bytes]:
    """The last complete, parseable line of ``path`` (or None) and any torn fragment after it (the bytes after
    the last newline; looked for up to ``limit`` bytes back, so a file without newlines cannot stall start-up).

    The stdlib parser, not orjson: this runs before the server is started, and importing orjson pulls in
    dataclasses, uuid and inspect (~15 ms); the proxy imports it later, while the server boots."""
    import json

    try:
        with open(path, "rb") as handle:
            size = handle.seek(0, 2)
            start = max(0, size - probe)
            handle.seek(start)
            tail = handle.read()
            while start > 0 and b"\n" not in tail and size - start < limit:  # a fragment longer than the probe
                step = min(probe, start)
                start -= step
                handle.seek(start)
                tail = handle.read(step) + tail
    except FileNotFoundError:
        return None, b""
    fragment = b""
    if tail and not tail.endswith(b"\n"):
        cut = tail.rfind(b"\n")
        fragment = tail[cut + 1 :]
        tail = tail[: cut + 1]
    for line in reversed(tail.split(b"\n")):
        if not line:
            continue
        try:
            if isinstance(json.loads(line), dict):
                return line, fragment
        except (ValueError, RecursionError):  # not JSON, not UTF-8, or nested past the parser's depth
            pass
        return None, fragment  # the last whole line is not a record: let verify say so
    return None, fragment


def torn_fields(fragment: bytes) -> dict[str, Any]:
    """What the record that ends a torn line says about it: its size and SHA-256, so ``verify`` can tell
    the crash's own debris from a line put in its place."""
    return {"torn_bytes": len(fragment), "torn_sha256": hashlib.sha256(fragment).hexdigest()}
