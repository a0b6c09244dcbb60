"""Append-only, hash-chained, HMAC-sealed JSON-lines audit file (see ``lilith.audit.chain``).

Each record is written with a single ``write`` on an ``O_APPEND`` descriptor before the decision it
records takes effect, so a crash after forwarding can never lose the record of what was forwarded.
A failed write raises ``AuditWriteError``; the session then denies the message (fail closed). Records
are chained across runs: a new writer continues from the file's last whole record.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from lilith.audit.chain import GENESIS, Sealer, last_whole_line, line_hash
from lilith.errors import AuditWriteError, ConfigError

if TYPE_CHECKING:
    from lilith.audit.redact import Redactor

SCHEMA_VERSION = 1
# Fields that may carry personal data or secrets: redacted before anything reaches the disk.
REDACTED_FIELDS = ("arguments", "uri", "server_command", "preview")
_REDACTED = frozenset(REDACTED_FIELDS)


FSYNC_POLICIES = ("always", "interval", "never")


class AuditFile:
    """``fsync``: ``always`` after every record; ``interval`` when the proxy's once-a-second tick calls
    ``sync()`` and on close; ``never`` leaves it to the OS (a write that returned survives a Lilith crash
    either way; fsync is about surviving a machine crash)."""

    def __init__(self, path: str, key: bytes, fsync: str = "interval") -> None:
        if fsync not in FSYNC_POLICIES:
            raise ConfigError(f"--audit-fsync must be one of {', '.join(FSYNC_POLICIES)}")
        self.path = path
        self._key = key
        self._sealer = Sealer(key)
        self._fsync = fsync
        self._dirty = False
        try:
            self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
            last, torn = last_whole_line(path)
        except OSError as exc:
            raise ConfigError(f"cannot open audit log {path!r}: {exc.strerror}") from None
        self._lock = threading.Lock()
        self._seq = 0
        self._prev = line_hash(last) if last is not None else GENESIS
        self._dumps: Callable[..., bytes] | None = None
        self._redactor: Redactor | None = None  # built on first use: it is not needed before the server starts
        self.session_id = os.urandom(16).hex()  # not uuid: its import is slow, and only uniqueness matters
        if torn:
            # A crash tore the last record: end that line, and say so in a record chained to the last whole one.
            self._write_record({"event": "log_resumed", "torn_bytes": torn}, lead=b"\n")

    def record(self, record: dict[str, Any]) -> None:
        with self._lock:
            self._write_record(record)

    def _write_record(self, record: dict[str, Any], lead: bytes = b"") -> None:
        dumps = self._dumps
        if dumps is None:  # orjson is imported on first use: the file is opened before the server starts
            import orjson

            dumps = self._dumps = orjson.dumps
        if not _REDACTED.isdisjoint(record.keys()):
            try:
                record = self._redacted(record)
            except Exception as exc:  # a redaction bug must deny the call, never write the raw value
                raise AuditWriteError(f"redaction failed: {type(exc).__name__}") from None
        self._seq += 1
        full = {"v": SCHEMA_VERSION, "ts": time.time(), "session": self.session_id, "seq": self._seq}
        full["prev"] = self._prev
        full.update(record)
        line = self._sealer.seal(dumps(full, default=str))
        data = lead + line + b"\n"
        try:
            written = os.write(self._fd, data)
        except OSError as exc:
            raise AuditWriteError(f"{self.path}: {exc.strerror}") from None
        if written != len(data):
            raise AuditWriteError(f"{self.path}: short write ({written} of {len(data)} bytes)")
        self._prev = self._sealer.line_hash(line)
        self._dirty = True
        if self._fsync == "always":
            self._sync_locked()

    def sync(self) -> None:
        """Flush to stable storage if anything was written since the last sync (the ``interval`` policy)."""
        with self._lock:
            if self._fsync == "interval":
                self._sync_locked()

    def _sync_locked(self) -> None:
        if not self._dirty or self._fd < 0:
            return
        try:
            os.fsync(self._fd)
        except OSError as exc:
            raise AuditWriteError(f"{self.path}: fsync failed: {exc.strerror}") from None
        self._dirty = False

    def _redacted(self, record: dict[str, Any]) -> dict[str, Any]:
        if self._redactor is None:
            import hashlib
            import hmac

            from lilith.audit.redact import Redactor

            # Tags are keyed by a key derived from the audit key, so the same value correlates across records
            # (and runs with the same key) without being recoverable from the log.
            self._redactor = Redactor(hmac.new(self._key, b"lilith redaction tags", hashlib.sha256).digest())
        redactor = self._redactor
        redacted = dict(record)
        for field in REDACTED_FIELDS:
            if field in redacted:
                redacted[field] = redactor.redact_value(redacted[field])
        return redacted

    def close(self) -> None:
        with self._lock:
            if self._fd >= 0:
                if self._fsync != "never":
                    with contextlib.suppress(AuditWriteError):
                        self._sync_locked()
                os.close(self._fd)
                self._fd = -1


class NoAudit:
    """Used when no audit log was asked for."""

    def record(self, record: dict[str, Any]) -> None:
        return None

    def sync(self) -> None:
        return None

    def close(self) -> None:
        return None
