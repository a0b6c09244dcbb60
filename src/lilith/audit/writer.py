"""Append-only JSON-lines audit file.

Each record is written with a single ``write`` on an ``O_APPEND`` descriptor before the decision it
records takes effect, so a crash after forwarding can never lose the record of what was forwarded.
A failed write raises ``AuditWriteError``; the session then denies the message (fail closed).
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from typing import Any

from lilith.errors import AuditWriteError, ConfigError

SCHEMA_VERSION = 1


class AuditFile:
    def __init__(self, path: str) -> None:
        self.path = path
        try:
            self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            raise ConfigError(f"cannot open audit log {path!r}: {exc.strerror}") from None
        self._lock = threading.Lock()
        self._seq = 0
        self.session_id = os.urandom(16).hex()  # not uuid: its import is slow, and only uniqueness matters

    def record(self, record: dict[str, Any]) -> None:
        import orjson  # here, not at module level: the file is opened before the server starts, orjson after

        with self._lock:
            self._seq += 1
            line = orjson.dumps(
                {"v": SCHEMA_VERSION, "ts": time.time(), "session": self.session_id, "seq": self._seq, **record},
                option=orjson.OPT_APPEND_NEWLINE,
                default=str,
            )
            try:
                written = os.write(self._fd, line)
            except OSError as exc:
                raise AuditWriteError(f"{self.path}: {exc.strerror}") from None
            if written != len(line):
                raise AuditWriteError(f"{self.path}: short write ({written} of {len(line)} bytes)")

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
