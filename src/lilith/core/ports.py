"""The narrow interfaces through which the pure core reports to the shell (dependency inversion).

The core never opens a file or a socket; it calls these, and the shell supplies implementations.
"""

from __future__ import annotations

from typing import Any, Protocol


class AuditSink(Protocol):
    def record(self, record: dict[str, Any]) -> None:
        """Persist one audit record before returning; raise AuditWriteError if it could not be written."""


class EventLog(Protocol):
    def log(self, level: str, event: str, **fields: Any) -> None:
        """Emit one operational log event (never to stdout)."""
