"""Operational logs: structured events on stderr, JSON or text, filtered by level.

Never stdout: in proxy mode stdout carries only MCP messages. A small writer rather than the logging
module or structlog: it is on the start-up path, where importing structlog alone costs ~150 ms here.
Values that look like secrets from configuration are never passed in; see ``mask``.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from typing import Any, TextIO

LEVELS = {"debug": 10, "info": 20, "warning": 30, "error": 40}


class StderrLog:
    def __init__(self, level: str = "info", fmt: str = "text", stream: TextIO | None = None) -> None:
        if level not in LEVELS:
            raise ValueError(f"unknown log level {level!r}")
        if fmt not in ("text", "json"):
            raise ValueError(f"unknown log format {fmt!r}")
        self._threshold = LEVELS[level]
        self._json = fmt == "json"
        self._stream = stream or sys.stderr
        self._lock = threading.Lock()
        self._pid = os.getpid()

    def enabled(self, level: str) -> bool:
        return LEVELS.get(level, 40) >= self._threshold

    def log(self, level: str, event: str, **fields: Any) -> None:
        if LEVELS.get(level, 40) < self._threshold:
            return
        import orjson  # not at module level: this module is imported before the server is started

        if self._json:
            record = {"ts": round(time.time(), 6), "level": level, "event": event, "pid": self._pid, **fields}
            text = orjson.dumps(record, default=str).decode() + "\n"
        else:
            detail = " ".join(f"{key}={_text_value(value)}" for key, value in fields.items())
            text = f"lilith {level.upper():7} {event}{' ' + detail if detail else ''}\n"
        with self._lock:
            try:
                self._stream.write(text)
                self._stream.flush()
            except (OSError, ValueError):
                pass  # stderr gone: nothing sensible left to tell anyone


def _text_value(value: Any) -> str:
    import orjson

    text = value if isinstance(value, str) else orjson.dumps(value, default=str).decode()
    return repr(text) if (" " in text or not text) else text


def mask(value: str) -> str:
    """Show that a secret is set without showing it."""
    return "****" if len(value) < 12 else f"{value[:2]}…{value[-2:]} ({len(value)} chars)"
