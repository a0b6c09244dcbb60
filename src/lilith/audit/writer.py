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
from typing import Any

from lilith.audit.chain import GENESIS, last_whole_line, line_hash, seal
from lilith.errors import AuditWriteError, ConfigError

SCHEMA_VERSION = 1


class AuditFile:
    def __init__(self, path: str, key: bytes) -> None:
        self.path = path
        self._key = key
        try:
            self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
            last, torn = last_whole_line(path)
        except OSError as exc:
            raise ConfigError(f"cannot open audit log {path!r}: {exc.strerror}") from None
        self._lock = threading.Lock()
        self._seq = 0
        self._prev = line_hash(last) if last is not None else GENESIS
        self.session_id = os.urandom(16).hex()  # not uuid: its import is slow, and only uniqueness matters
        if torn:
            # A crash tore the last record: end that line, and say so in a record chained to the last whole one.
            self._write_record({"event": "log_resumed", "torn_bytes": torn}, lead=b"\n")

    def record(self, record: dict[str, Any]) -> None:
        with self._lock:
            self._write_record(record)

    def _write_record(self, record: dict[str, Any], lead: bytes = b"") -> None:
        import orjson  # here, not at module level: the file is opened before the server starts, orjson after

        self._seq += 1
        head = {"v": SCHEMA_VERSION, "ts": time.time(), "session": self.session_id, "seq": self._seq}
        unsealed = orjson.dumps({**head, "prev": self._prev, **record}, default=str)
        line = seal(unsealed, self._key)
        data = lead + line + b"\n"
        try:
            written = os.write(self._fd, data)
        except OSError as exc:
            raise AuditWriteError(f"{self.path}: {exc.strerror}") from None
        if written != len(data):
            raise AuditWriteError(f"{self.path}: short write ({written} of {len(data)} bytes)")
        self._prev = line_hash(line)

    def close(self) -> None:
        with self._lock:
            if self._fd >= 0:
                with contextlib.suppress(OSError):
                    os.fsync(self._fd)
                os.close(self._fd)
                self._fd = -1


class NoAudit:
    """Used when no audit log was asked for."""

    def record(self, record: dict[str, Any]) -> None:
        return None

    def close(self) -> None:
        return None
