"""Append-only, hash-chained, HMAC-sealed JSON-lines audit file (see ``lilith.audit.chain``).

Each record is written with a single ``write`` on an ``O_APPEND`` descriptor before the decision it
records takes effect, so a crash after forwarding can never lose the record of what was forwarded.
Records are chained across runs (a new writer continues from the file's last whole record) and across
rotated files (the first record of a new file is ``log_rotated``, naming the file it continues).

Everything happens under one lock in ``record``: closing a gap left by failed writes, rotating, writing.
When a record cannot be written, ``--audit-failure`` decides: ``deny`` (the default) raises
``AuditWriteError`` and the session refuses the message; ``continue`` logs loudly and lets it go on.
Either way the lost records are counted, and the first record that can be written again is preceded by
``records_lost`` saying how many, so the gap shows in the chain.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import stat
import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from lilith.audit.chain import GENESIS, Sealer, first_record, last_whole_line, line_hash, opening_record, torn_fields
from lilith.audit.log_file import (
    DELETED,
    MOVED,
    TRUNCATED,
    adopt_empty,
    create_new,
    is_stream_name,
    moved_to,
    open_log,
    whereabouts,
)
from lilith.audit.rotation import Rotation, rotated_files, rotated_name, rotated_numbers, rotation_number
from lilith.errors import AuditWriteError, ConfigError, RedactionFailed

if TYPE_CHECKING:
    from lilith.audit.redact import Redactor
    from lilith.core.ports import EventLog

SCHEMA_VERSION = 1
# Fields that may carry personal data or secrets: redacted before anything reaches the disk. ``item`` and
# ``reason`` too: a sanitize finding names its item, a refusal may quote the URI, prompt or argument key it
# refused; ``error`` may quote a rejected policy file; the peers' ``client_info``/``server_info``, tool names
# and string request ids are whatever the client or server chose to put there.
REDACTED_FIELDS = (
    "arguments",
    "uri",
    "server_command",
    "preview",
    "item",
    "client_info",
    "server_info",
    "error",
    "tools",
)
# Texts that repeat (most calls carry one of a few reasons, and name one of a few tools): redacted once each.
_MEMO_FIELDS = ("reason", "tool")
_REDACTED = frozenset((*REDACTED_FIELDS, *_MEMO_FIELDS, "request_id"))
_MEMO_SIZE = 512
_MEMO_TEXT_CHARS = 1024  # longer reasons and tool names are not memoised
_NAME_CHARS = 128  # a tool name longer than MCP tools have (lilith.policy.names) is tagged whole, never scanned
_ID_CHARS = 256  # ... and so is a string request id longer than this
FSYNC_POLICIES = ("always", "interval", "never")
FAILURE_MODES = ("deny", "continue")
_HEAD_SCAN_BYTES = 64 << 20  # how far back start-up looks for the record a lagging head names
_CHAIN_FILES = 64  # and through how many rotated files at most
# Records whose writers refuse their message when the record fails (a call denied, an answer or a listing
# withheld, pins not saved): only these can be revoked. Lifecycle records describe what happens anyway.
_REFUSED_ON_FAILURE = frozenset({"decision", "result", "taints_changed", "sanitize", "tools_pinned", "pin_mismatch"})
_LOSS_LOG_SECONDS = 1.0  # under --audit-failure continue, repeat the loud log at most this often
# What stderr says when the log file is lost while written (see ``AuditFile._file_lost``).
_LOSS_DETAILS = {
    DELETED: "the audit log was deleted while Lilith wrote it: its records are gone, and those after seq {seen} "
    "(written since it was last seen, for messages already forwarded or answered) were never in any file anyone "
    "can read; a new log is started at its name, whose first record (log_replaced) says so",
    MOVED: "the audit log was moved away or its name given to another file while Lilith wrote it: its records "
    "are wherever it is now; a new log is started at its name, whose first record (log_replaced) says so",
    TRUNCATED: "the audit log was emptied or cut while Lilith wrote it: its records are gone, those after seq "
    "{seen} never seen in it; the log goes on with a log_replaced record that says so",
    "rotated": "the audit log was renamed to one of its rotated names while Lilith wrote it: the new log at its "
    "name continues it (log_rotated, reason moved)",
}
_FIRST_TS = rb'"ts":(-?[0-9.]+(?:[eE][-+]?[0-9]+)?)'  # compiled on use (only with interval rotation)


class AuditFile:
    """``fsync``: ``always`` after every record; ``interval`` when the proxy's once-a-second tick calls
    ``sync()`` and on close; ``never`` leaves it to the OS (a write that returned survives a Lilith crash
    either way; fsync is about surviving a machine crash). ``redaction``: custom ``(kind, regex)`` patterns,
    compiled now so a bad one refuses to start. ``clock``: wall-clock time for ``ts`` and interval rotation."""

    def __init__(
        self,
        path: str,
        key: bytes,
        fsync: str = "interval",
        *,
        rotation: Rotation | None = None,
        on_failure: str = "deny",
        log: EventLog | None = None,
        redaction: Sequence[tuple[str, str]] = (),
        clock: Callable[[], float] = time.time,
    ) -> None:
        if fsync not in FSYNC_POLICIES:
            raise ConfigError(f"--audit-fsync must be one of {', '.join(FSYNC_POLICIES)}")
        if on_failure not in FAILURE_MODES:
            raise ConfigError(f"--audit-failure must be one of {', '.join(FAILURE_MODES)}")
        self.path = path
        self._key = key
        self._sealer = Sealer(key)
        self._fsync = fsync
        self._on_failure = on_failure
        self._log = log
        self._clock = clock
        self._write: Callable[[int, bytes], int] = os.write  # the one call that puts records on disk (a test seam)
        self._dirty = False
        self._dumps: Callable[..., bytes] | None = None
        self._preview_chars = 0
        self._redactor: Redactor | None = None  # built on first use: it is not needed before the server starts
        self._reasons: dict[str, str] = {}  # a reason or tool name -> its redacted text
        if redaction:
            self._redactor = self._new_redactor(redaction)
        # Failed writes not yet accounted for in the log, and a gap record owed before the next record.
        self._failed = 0
        self._first_failure = 0.0
        self._last_error = ""
        self._reported = -math.inf
        self._torn = b""  # a partial record ending the file, not yet explained by a record after it
        self._rotated_from: tuple[str, str] | None = None  # (rotated file, reason) not yet announced
        self._gap = False
        # The file lost while written (deleted, moved away, emptied): what the next file's first record says
        # about it, whether a new file is still to be started, and the newest record last seen in it, when.
        self._announce: dict[str, Any] | None = None
        self._detached = False
        self._restart_failed = False
        self._seen = (0, 0.0)
        if rotation_number(path) is not None:
            raise ConfigError(
                f"audit log name {path!r} ends in .<number>, which names a rotated file (verify and query would "
                "take it for one): choose another name, such as audit-2026.jsonl"
            )
        self._fd, info = open_log(path)  # a FIFO or another non-file refuses to start, never blocks it
        try:
            regular = stat.S_ISREG(info.st_mode)
            if regular:
                _claim(self._fd, path)
            # Only a regular file has a tail to continue (a device such as /dev/full never ends).
            last, torn = last_whole_line(path) if regular else (None, b"")
            if torn and first_record(torn) is not None:
                # A whole record whose newline never made it (a short write that could not be cut off): end
                # its line and chain on it, instead of taking it for a torn one.
                os.write(self._fd, b"\n")
                last, torn = torn, b""
                info = os.fstat(self._fd)
        except OSError as exc:
            os.close(self._fd)
            raise ConfigError(f"cannot open audit log {path!r}: {exc.strerror}") from None
        except ConfigError:
            os.close(self._fd)
            raise
        self._lock = threading.Lock()
        self._seq = 0  # the last seq handed out (a failed write uses one up: the gap shows in the chain)
        self._last_seq = 0  # the seq of the newest record of this run actually in the file
        self._witnessed = 0  # the seq the head file names (see lilith.audit.head); 0: none of this run yet
        self._durable = (0, GENESIS)  # (seq, hash) of the newest record known to be on stable storage
        self._head_failed = False
        self._head_frozen = False  # a finding about the old head not yet written: keep that head
        # /dev/stderr and the like may be regular files behind the name, but are streams: no head, no rotation.
        regular = regular and not is_stream_name(path)
        self._regular = regular
        self._size = info.st_size if regular else 0
        self._prev = line_hash(last) if last is not None else GENESIS
        self.session_id = os.urandom(16).hex()  # not uuid: its import is slow, and only uniqueness matters
        self._setup_rotation(rotation if regular else None)
        if torn:
            # A crash tore the last record: end that line, and say so in a record chained to the last whole one
            # (or, in a file that has nothing else, to the rotated file it continues: found by the head check).
            self._torn = torn
            self._gap = True
        if regular:
            self._check_head(last)
        if self._gap:
            with contextlib.suppress(AuditWriteError):
                self._close_gap(clock())
        self._seen = (self._last_seq, clock())

    def _check_head(self, last: bytes | None) -> None:
        """Before this run's records bury it: does the head file still name a record of the log? If records
        were cut off the end while Lilith was stopped, the next head would name the new end and hide that;
        so it is said in the chain (``head_mismatch``, which ``verify`` reports) and on stderr. A new file
        where a log was gets ``log_started_over``; a log without a head, ``head_missing``; a live file that is
        new after a rotation (a crash right after it, or logrotate's ``FILE`` -> ``FILE.1``) continues the
        chain with ``log_rotated``. Whatever goes wrong here is said, and never stops Lilith from starting."""
        from lilith.audit.head import read_head, witnessed

        try:
            head = read_head(self.path, self._key)
            if head is None:
                if self._size:
                    self._note({"event": "head_missing"}, "warning")
                return
            if isinstance(head, str):
                self._note({"event": "head_mismatch", "problem": head}, "error")
                return
            if last is not None and line_hash(last) == head.hash:
                return
            rotated = self._rotated_chain(self._predecessor(last is None))
            if last is None and rotated and self._resumes(rotated, head.hash):
                return
            files = [*reversed(rotated), self.path]
            if last is not None and witnessed(files, head.hash, limit=_HEAD_SCAN_BYTES):
                return  # the head lags behind the end: a run was killed between two refreshes
            earlier = {"head_seq": head.seq, "head_session": head.session, "head_hash": head.hash}
            if last is None:
                self._note({"event": "log_started_over", **earlier}, "warning")
            else:
                problem = "the log ends before the record the head file names"
                self._note({"event": "head_mismatch", "problem": problem, **earlier}, "error")
        except (OSError, ConfigError) as exc:
            self._note({"event": "head_mismatch", "problem": f"the head could not be checked: {exc}"}, "error")

    def _resumes(self, rotated: list[str], head_hash: str) -> bool:
        """An empty live file whose head names the newest rotated file's last record, or (killed within a
        second of a rotation, before the head caught up) one a little before it: the chain goes on from there."""
        from lilith.audit.head import last_line_hash, witnessed

        end = last_line_hash(rotated[0])
        if end is None:
            return False
        if end != head_hash and not witnessed(rotated[::-1], head_hash, limit=_HEAD_SCAN_BYTES):
            return False
        self._prev = end
        self._rotated_from = (os.path.basename(rotated[0]), "resumed")
        self._gap = True
        return True

    def _rotated_chain(self, newest: str | None) -> list[str]:
        """``newest`` and the rotated files it continues, newest first: each file's first record
        (``log_rotated``) names the one before it, and is followed only while its ``previous_hash`` is that
        file's last line. A head can lag behind several rotations when a run that wrote fast was killed; a
        file outside these links is no witness. Bounded: start-up reads at most ``_HEAD_SCAN_BYTES``."""
        from lilith.audit.head import last_line_hash

        chain: list[str] = []
        budget = _HEAD_SCAN_BYTES
        current = newest
        while current is not None and len(chain) < _CHAIN_FILES and budget > 0:
            size = _regular_size(current)
            if size is None:
                break
            chain.append(current)
            budget -= size
            before = _continues(current)
            if before is None or last_line_hash(before[0]) != before[1]:
                break
            current = before[0]
        return chain

    def _predecessor(self, empty: bool) -> str | None:
        """The rotated file this log continues: the one its first record names (``log_rotated``), or for an
        empty live file the newest rotated file. Only these can hold the record a head names (a record in any
        other ``FILE.<N>`` is no witness: anyone who can write the directory can put one there)."""
        if empty:
            found = rotated_files(self.path)
            return found[-1][1] if found else None
        from lilith.audit.head import last_line_hash

        continued = _continues(self.path)
        return continued[0] if continued is not None and last_line_hash(continued[0]) == continued[1] else None

    def _note(self, record: dict[str, Any], level: str) -> None:
        """A finding about the log's past, chained first; until it is in the log the old head is kept, so the
        next run finds the same thing if this one cannot write it."""
        if self._log is not None:
            self._log.log(
                level, f"audit_{record['event']}", file=self.path, **{k: v for k, v in record.items() if k != "event"}
            )
        written = self._last_seq
        with contextlib.suppress(AuditWriteError):
            self.record(record)
        if self._last_seq == written:  # not in the log (under either --audit-failure)
            self._head_frozen = True

    def _setup_rotation(self, rotation: Rotation | None) -> None:
        rotation = rotation or Rotation()
        self._rotation = rotation
        self._rotate_bytes = rotation.max_bytes or math.inf
        self._rotate_due = math.inf
        existing = rotated_numbers(self.path) if rotation.enabled else []
        self._next_number = existing[-1] + 1 if existing else 1
        if rotation.interval_seconds is not None:
            started = _first_record_ts(self.path) if self._size else None
            now = self._clock()
            self._rotate_due = min(started or now, now) + rotation.interval_seconds

    # ------------------------------------------------------------------ the write path
    def record(self, record: dict[str, Any]) -> None:
        with self._lock:
            try:
                now = self._clock()
                if self._gap or self._detached:
                    self._resume(now)
                # Rotation is decided here, under the lock, between two records: never between a record and
                # the forward it precedes. The common case costs two comparisons.
                if self._size >= self._rotate_bytes or now >= self._rotate_due:
                    self._rotate(now)
                self._write_record(record, now)
            except RedactionFailed:
                raise  # denies under either --audit-failure: continuing would mean no record, or a raw one
            except AuditWriteError as exc:
                self._lost(exc)  # raises under --audit-failure deny
                return
            if self._fsync == "always":
                self._sync_or_report(_revocable(record))

    def _revoke_last(self, error: str) -> None:
        """Under ``always`` + ``deny`` a record whose flush failed is already in the file, but its message will
        be refused: say so in the chain, so the log never shows an ``allow`` for a call that was denied. (Best
        effort: if even this cannot be written, the failing log is what the operator sees.)"""
        try:
            self._write_record(
                {"event": "record_revoked", "revoked_seq": self._last_seq, "error": error}, self._clock()
            )
        except AuditWriteError as exc:
            with contextlib.suppress(AuditWriteError):
                self._lost(exc)  # counted: records_lost follows once the log can be written again

    def _write_record(self, record: dict[str, Any], now: float, lead: bytes = b"") -> None:
        dumps = self._dumps
        if dumps is None:  # orjson is imported on first use: the file is opened before the server starts
            import orjson

            dumps = self._dumps = orjson.dumps
        if not _REDACTED.isdisjoint(record.keys()):
            try:
                record = self._redacted(record)
            except Exception as exc:  # a redaction bug must deny the call, never write the raw value
                raise RedactionFailed(f"redaction failed: {type(exc).__name__}") from None
        self._seq += 1
        full = {"v": SCHEMA_VERSION, "ts": now, "session": self.session_id, "seq": self._seq}
        full["prev"] = self._prev
        full.update(record)
        try:
            unsealed = dumps(full, default=str)
        except TypeError:  # an integer beyond 64 bits (ids and arguments may carry one): keep it exact
            unsealed = exact_json(full)
        line = self._sealer.seal(unsealed)
        data = lead + line + b"\n"
        try:
            written = self._write(self._fd, data)
        except OSError as exc:
            raise AuditWriteError(f"{self.path}: {exc.strerror}") from None
        if written != len(data):
            written = self._complete_short_write(data, written)
        self._size += written
        self._prev = self._sealer.line_hash(line)
        self._last_seq = self._seq
        self._dirty = True

    def _complete_short_write(self, data: bytes, written: int) -> int:
        """A short write (a signal, or the disk filling up mid-record): write the rest, or learn why not."""
        try:
            while written < len(data):
                more = self._write(self._fd, data[written:])
                if more <= 0:
                    raise OSError(0, "the write made no progress")
                written += more
        except OSError as exc:
            self._undo_short_write(data[:written])
            raise AuditWriteError(f"{self.path}: {exc.strerror} ({written} of {len(data)} bytes written)") from None
        return written

    def _undo_short_write(self, partial: bytes) -> None:
        """Cut a partial record off again; if that fails, the next record starts a new line and says so."""
        try:
            os.ftruncate(self._fd, self._size)
        except OSError:
            # What is on the last line now: the earlier fragment, this one, or (if this one began with the
            # newline that ends a torn line) only this one.
            self._torn = (self._torn + partial).rsplit(b"\n", 1)[-1]
            self._size += len(partial)
            self._gap = True

    # ------------------------------------------------------------------ failures and the gaps they leave
    def _lost(self, exc: AuditWriteError) -> None:
        if not self._failed:
            self._first_failure = self._clock()
        self._failed += 1
        self._last_error = str(exc)
        self._gap = True
        if self._on_failure == "deny":
            raise exc
        now = time.monotonic()
        if self._log is not None and now - self._reported >= _LOSS_LOG_SECONDS:
            self._reported = now
            self._log.log(
                "error",
                "audit_record_lost",
                error=str(exc),
                lost=self._failed,
                detail="--audit-failure continue: messages go on without their audit records",
            )

    def _close_gap(self, now: float) -> None:
        """Before the next record: announce a rotation that could not be, end a torn line, count the lost."""
        lead = b"\n" if self._torn else b""
        if self._announce is not None:  # the first record of a file started after the last one was lost
            self._write_record(self._announce, now, lead)
            self._announce, lead = None, b""
        if self._rotated_from is not None:
            previous, reason = self._rotated_from
            rotated = {"event": "log_rotated", "previous_file": previous, "previous_hash": self._prev, "reason": reason}
            if self._torn:  # the new file's first record was torn: this one ends that line and explains it
                rotated.update(torn_fields(self._torn))
            self._write_record(rotated, now, lead)
            self._rotated_from = None
            self._torn, lead = b"", b""
        if self._failed:
            lost: dict[str, Any] = {
                "event": "records_lost",
                "count": self._failed,
                "failure_mode": self._on_failure,
                "error": self._last_error,
                "since": self._first_failure,
            }
            if self._torn:
                lost.update(torn_fields(self._torn))
            self._write_record(lost, now, lead)
            if self._log is not None:
                self._log.log("warning", "audit_log_recovered", lost=self._failed, file=self.path)
        elif self._torn:
            self._write_record({"event": "log_resumed", **torn_fields(self._torn)}, now, lead)
        self._failed = 0
        self._torn = b""
        self._gap = False

    # ------------------------------------------------------------------ rotation
    def _rotate(self, now: float) -> None:
        rotation = self._rotation
        reason = "size" if self._size >= self._rotate_bytes else "interval"
        if rotation.interval_seconds is not None:
            self._rotate_due = now + rotation.interval_seconds
        if self._size == 0:
            return  # nothing written yet: an empty file is not worth a new name
        if not self._in_place(now):
            self._resume(now)  # a new file was started instead: the lost one is not ours to rename
            return
        if self._fsync != "never":
            self._sync_locked()
        number = self._next_number
        while os.path.lexists(rotated_name(self.path, number)):
            number += 1
        target = rotated_name(self.path, number)
        try:
            os.rename(self.path, target)
        except OSError as exc:
            raise AuditWriteError(f"{self.path}: cannot rotate to {target!r}: {exc.strerror}") from None
        try:
            fd = create_new(self.path)  # the name was just freed: anything there now was planted
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.rename(target, self.path)
            raise AuditWriteError(f"{self.path}: cannot start a new file after rotation: {exc.strerror}") from None
        with contextlib.suppress(ConfigError):
            _claim(fd, self.path)  # a new file nobody else has opened yet: this cannot be refused
        os.close(self._fd)
        self._fd, self._size, self._dirty, self._next_number = fd, 0, False, number + 1
        self._rotated_from = (os.path.basename(target), reason)
        self._gap = True
        self._close_gap(now)

    # ------------------------------------------------------------------ a log file lost while written
    def _resume(self, now: float) -> None:
        """Before a record: a new file if the last one was lost, then the records that explain any gap."""
        if self._detached:
            self._start_new_file(now)
        if self._gap:
            self._close_gap(now)

    def _in_place(self, now: float) -> bool:
        """Is the file records go into still the log at its name? Asked once a second (``sync``), before a
        rotation renames it and at close; if not, ``_file_lost``. Two ``stat`` calls, under the lock."""
        if not self._regular or self._detached or self._fd < 0:
            return not self._detached
        try:
            where = whereabouts(self.path, self._fd, self._size)
        except OSError:
            return True  # our own descriptor cannot be examined: the next write says what is wrong
        if where is None:
            self._seen = (self._last_seq, now)
            return True
        self._file_lost(where, now)
        return False

    def _file_lost(self, where: str, now: float) -> None:
        """The file was deleted, moved away or emptied while written. Its records went with it, including
        those written after it was last seen in place (up to a second's worth, whose messages have taken
        effect, under either --audit-failure): nothing can take those back, so the new file's first record says
        exactly which ones (``log_replaced``, which ``verify`` reports) — or, when the file was only renamed
        to one of the log's rotated names, continues from it (``log_rotated``, reason ``moved``). Nothing is
        written into the lost file again; stderr says what happened."""
        seen_seq, seen_ts = self._seen
        announce: dict[str, Any] = {
            "event": "log_replaced",
            "reason": where,
            "previous_seq": self._last_seq,
            "previous_hash": self._prev,
            "seen_seq": seen_seq,
            "seen_ts": seen_ts,
        }
        found = self._moved_to() if where == MOVED else None
        if found is not None:
            announce = {"event": "log_rotated", "previous_file": os.path.basename(found)}
            announce.update(previous_hash=self._prev, reason="moved")
            self._next_number = max(self._next_number, (rotation_number(found) or 0) + 1)
        if where == TRUNCATED:
            with contextlib.suppress(OSError):
                self._size = os.fstat(self._fd).st_size  # appends go on at the new end of the same file
        else:
            os.close(self._fd)
            self._fd, self._size, self._dirty, self._detached = -1, 0, False, True
        self._durable = (0, GENESIS)  # the head may name no record of the lost file any more
        self._torn = b""
        if self._announce is None and self._rotated_from is None:  # else the lost file held nothing of ours
            self._announce = announce
        self._gap = True
        if self._log is not None:
            self._log.log(
                "warning" if found is not None else "error",
                "audit_log_replaced",
                file=self.path,
                reason=where,
                last_seq=self._last_seq,
                seen_seq=seen_seq,
                **({"moved_to": os.path.basename(found)} if found is not None else {}),
                detail=_LOSS_DETAILS[where if found is None else "rotated"].format(seen=seen_seq),
            )

    def _moved_to(self) -> str | None:
        try:
            return moved_to([path for _, path in rotated_files(self.path)], self._fd)
        except (OSError, ConfigError):  # the directory cannot be listed (gone, or renamed with the file)
            return None

    def _start_new_file(self, now: float) -> None:
        """A new file at the log's name (or the empty one someone put there). Raises AuditWriteError while
        that cannot be (the directory is gone, another file holds the name): records fail meanwhile and are
        counted, as on a full disk, and the first one written again is preceded by ``records_lost``."""
        try:
            try:
                fd = create_new(self.path)
            except FileExistsError:
                fd = adopt_empty(self.path)
            except OSError as exc:
                gone = f"{self.path}: the audit log is gone and cannot be started again: {exc.strerror}"
                raise AuditWriteError(gone) from None
            try:
                _claim(fd, self.path)
            except ConfigError as exc:
                os.close(fd)
                raise AuditWriteError(str(exc)) from None
        except AuditWriteError as exc:
            if not self._restart_failed and self._log is not None:
                self._log.log("error", "audit_log_not_restarted", file=self.path, error=str(exc))
            self._restart_failed = True
            raise
        self._fd, self._size, self._dirty, self._detached, self._restart_failed = fd, 0, False, False, False
        self._seen = (self._last_seq, now)
        if self._log is not None:
            self._log.log("warning", "audit_log_restarted", file=self.path)

    # ------------------------------------------------------------------ flushing
    def sync(self) -> None:
        """Once a second: check that the log is still the file at its name (else start a new one and say why),
        flush to stable storage if anything was written since the last sync (the ``interval`` policy), then
        point the head file at the newest flushed record."""
        if self._regular:
            with self._lock:
                now = self._clock()
                if not self._in_place(now):
                    with contextlib.suppress(AuditWriteError):
                        self._resume(now)
        if self._fsync == "interval":
            self._flush_outside_lock()
        with self._lock:
            head = self._head_snapshot()
        if head is not None:
            self._witness(head)

    def _flush_outside_lock(self) -> None:
        """fsync a duplicate of the descriptor without holding the lock: calls go on being recorded meanwhile
        instead of all waiting for the disk (a flush takes from half a millisecond here to tens of
        milliseconds on network storage). Only what was written before it began counts as flushed."""
        with self._lock:
            if not self._dirty or self._fd < 0:
                return
            try:
                fd = os.dup(self._fd)  # stays valid if a rotation closes the original meanwhile
            except OSError as exc:
                raise AuditWriteError(f"{self.path}: fsync failed: {exc.strerror}") from None
            flushing = (self._last_seq, self._prev)
        try:
            os.fsync(fd)
        except OSError as exc:
            raise AuditWriteError(f"{self.path}: fsync failed: {exc.strerror}") from None
        finally:
            os.close(fd)
        with self._lock:
            self._durable = flushing
            if self._last_seq == flushing[0]:
                self._dirty = False

    def _head_snapshot(self) -> bytes | None:
        """The head line for the newest record on stable storage (any record under ``never``), if it was
        written by this run and is not witnessed yet: the witness never names a record the disk may lose."""
        seq, prev = (self._last_seq, self._prev) if self._fsync == "never" or not self._dirty else self._durable
        if self._head_frozen or self._detached or not self._regular or seq in (0, self._witnessed):
            return None
        from lilith.audit.head import head_line

        self._witnessed = seq
        return head_line(self.path, self.session_id, seq, prev, ts=self._clock(), key=self._key)

    def _witness(self, line: bytes) -> None:
        """Write the head file; a failure is logged (once until it works again), never fatal: the log is the
        record, the head only guards its end."""
        from lilith.audit.head import write_head

        try:
            write_head(self.path, line, durable=self._fsync != "never")
        except OSError as exc:
            if not self._head_failed and self._log is not None:
                self._log.log("error", "audit_head_write_failed", file=self.path, error=exc.strerror)
            self._head_failed = True
            self._witnessed = 0  # try again on the next tick
            return
        if self._head_failed and self._log is not None:
            self._log.log("info", "audit_head_write_recovered", file=self.path)
        self._head_failed = False

    def _sync_or_report(self, revocable: bool) -> None:
        """fsync after a record under ``always``: a failure denies under ``deny`` (and revokes the record when its
        message is refused for it); under ``continue`` the record is in the file (only not yet on stable
        storage), so it is reported, not counted as lost."""
        try:
            self._sync_locked()
        except AuditWriteError as exc:
            if self._on_failure == "deny":
                if revocable:
                    self._revoke_last(str(exc))
                raise
            if self._log is not None:
                self._log.log("error", "audit_sync_failed", error=str(exc))

    def _sync_locked(self) -> None:
        if not self._dirty or self._fd < 0:
            return
        try:
            os.fsync(self._fd)
        except OSError as exc:
            raise AuditWriteError(f"{self.path}: fsync failed: {exc.strerror}") from None
        self._dirty = False
        self._durable = (self._last_seq, self._prev)

    # ------------------------------------------------------------------ redaction
    def _new_redactor(self, custom: Sequence[tuple[str, str]] = ()) -> Redactor:
        import hashlib
        import hmac

        from lilith.audit.redact import Redactor
        from lilith.audit.results import PREVIEW_CHARS

        self._preview_chars = PREVIEW_CHARS
        # Tags are keyed by a key derived from the audit key, so the same value correlates across records
        # (and runs with the same key) without being recoverable from the log.
        return Redactor(hmac.new(self._key, b"lilith redaction tags", hashlib.sha256).digest(), custom)

    def _redacted(self, record: dict[str, Any]) -> dict[str, Any]:
        redactor = self._redactor
        if redactor is None:
            redactor = self._redactor = self._new_redactor()
        redacted = dict(record)
        for field in REDACTED_FIELDS:
            if field in redacted:
                value = redacted[field]
                if field == "server_command" and isinstance(value, list):  # a value may follow its flag: --api-key X
                    redacted[field] = redactor.redact_command(value)
                else:
                    redacted[field] = redactor.redact_value(value)
        for field in _MEMO_FIELDS:
            text = record.get(field)
            if type(text) is str:
                if field == "tool" and len(text) > _NAME_CHARS:  # no tool is named like that: tagged whole
                    redacted[field] = redactor.truncated_tag(text)
                else:
                    redacted[field] = self._reasons.get(text) or self._remember(text, redactor)
        request_id = record.get("request_id")
        if type(request_id) is str:  # a number stays a number: ids keep their JSON type
            too_long = len(request_id) > _ID_CHARS
            redacted["request_id"] = (
                redactor.truncated_tag(request_id) if too_long else redactor.redact_text(request_id)
            )
        preview = redacted.get("preview")
        if isinstance(preview, str) and len(preview) > self._preview_chars:
            # Cut after redacting: a secret straddling the cut was still seen whole by the redactor.
            redacted["preview"] = preview[: self._preview_chars]
        return redacted

    def _remember(self, text: str, redactor: Redactor) -> str:
        redacted = redactor.redact_text(text)
        if len(text) > _MEMO_TEXT_CHARS:  # memory per entry stays small: long texts are redacted each time
            return redacted
        if len(self._reasons) >= _MEMO_SIZE:
            self._reasons.clear()  # a flood of distinct texts (reasons quote what was refused) costs no memory
        self._reasons[text] = redacted
        return redacted

    def close(self) -> None:
        head = None
        with self._lock:
            if self._regular and not self._in_place(self._clock()):  # lost within the last second, too
                with contextlib.suppress(AuditWriteError):
                    self._resume(self._clock())
            if self._fd >= 0:
                if self._gap:
                    with contextlib.suppress(AuditWriteError):
                        self._close_gap(self._clock())
                if self._fsync != "never":
                    with contextlib.suppress(AuditWriteError):
                        self._sync_locked()
                head = self._head_snapshot()
                os.close(self._fd)
                self._fd = -1
        if head is not None:
            self._witness(head)
        if self._detached and self._log is not None:  # never name a record that no file holds as the end
            self._log.log(
                "error",
                "audit_log_lost_at_exit",
                file=self.path,
                last_seq=self._last_seq,
                detail="the audit log was lost and no new file could be started: the records after the last one "
                "seen in it are in no file",
            )
        elif self._last_seq and self._log is not None:  # the same witness through another channel (stderr)
            self._log.log("info", "audit_log_closed", file=self.path, last_seq=self._last_seq, last_hash=self._prev)


def _claim(fd: int, path: str) -> None:
    """One writer per log: a second Lilith appending to the same file would fork its hash chain at once (and
    race the head file and rotation). The lock is advisory and held until the descriptor is closed."""
    import fcntl

    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise ConfigError(
            f"audit log {path!r} is being written by another running Lilith: give each Lilith its own --audit-log"
        ) from None


def _first_record(path: str) -> dict[str, Any] | None:
    """A log's first record, or None (no such regular file, or not a record). Never waits on a FIFO."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        line = handle.readline(1 << 20)
        if first_record(line) is None:  # perhaps a torn first record, explained by the next line
            line += handle.readline(1 << 20)
    return opening_record(line)


def _continues(path: str) -> tuple[str, str] | None:
    """The rotated file ``path`` continues and the hash it names for that file's last line, from its first
    record (``log_rotated``); None if it continues nothing."""
    first = _first_record(path)
    if first is None or first.get("event") != "log_rotated":
        return None
    named, previous_hash = first.get("previous_file"), first.get("previous_hash")
    if not isinstance(named, str) or "/" in named or not isinstance(previous_hash, str):
        return None
    return os.path.join(os.path.dirname(path), named), previous_hash


def _regular_size(path: str) -> int | None:
    try:
        info = os.lstat(path)
    except OSError:
        return None
    return info.st_size if stat.S_ISREG(info.st_mode) else None


def _revocable(record: dict[str, Any]) -> bool:
    """Is this a record whose message is refused when it fails? (A denial stays a denial either way.)"""
    return record.get("event") in _REFUSED_ON_FAILURE and record.get("decision") != "deny"


def _first_record_ts(path: str) -> float | None:
    """The ``ts`` of a log's first record (when the file was started), without parsing JSON."""
    try:
        with open(path, "rb") as handle:
            head = handle.readline(65536)
    except OSError:
        return None
    found = re.search(_FIRST_TS, head)
    return float(found.group(1)) if found is not None else None


class NoAudit:
    """Used when no audit log was asked for."""

    def record(self, record: dict[str, Any]) -> None:
        return None

    def sync(self) -> None:
        return None

    def close(self) -> None:
        return None


def exact_json(record: dict[str, Any]) -> bytes:
    """The slow path for what orjson cannot encode: the stdlib writes integers of any size exactly."""
    import json

    return json.dumps(record, ensure_ascii=False, separators=(",", ":"), default=str, allow_nan=False).encode()
