"""Operational logs: structured events on stderr, JSON or text, filtered by level.

Never stdout: in proxy mode stdout carries only MCP messages. A small writer rather than the logging
module or structlog: it is on the start-up path, where importing structlog alone costs ~150 ms here.

Never a secret either. Every field is scrubbed before it is formatted: the value of any environment
variable with a secret-looking name (``*TOKEN*``, ``*KEY*``, ``*SECRET*``, ``*PASS*``, ``*PWD*`` …) is
masked wherever it appears, a URL's password is masked in any string, and a command line (``argv``) has the
values of secret-looking ``--flag=value`` / ``--flag value`` options and ``NAME=value`` environment
assignments masked. The server's environment itself is never logged.

A log call never raises: a value that cannot be formatted (orjson refuses integers beyond 64 bits, such as
a client's request id) is written by the standard library or as its ``repr``.
"""

from __future__ import annotations

import os
import re
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any, TextIO

LEVELS = {"debug": 10, "info": 20, "warning": 30, "error": 40}
SECRET_NAME = re.compile(r"token|key|secret|pass|pwd|credential|auth|cookie|private|signature", re.IGNORECASE)
_NOT_SECRET_NAMES = frozenset({"PWD", "OLDPWD"})  # the shell's working directories: paths, not passwords
MIN_SECRET_CHARS = 6  # shorter environment values ("1", "true", "info") are too common to scrub everywhere
_ARGV_FIELDS = frozenset({"argv", "command", "server_command"})
_URL_PASSWORD = re.compile(r"(?<=://)([^\s/:@]*):([^\s/@]+)@")  # the user may be empty: redis://:pw@cache


class StderrLog:
    def __init__(
        self,
        level: str = "info",
        fmt: str = "text",
        stream: TextIO | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        if level not in LEVELS:
            raise ValueError(f"unknown log level {level!r}")
        if fmt not in ("text", "json"):
            raise ValueError(f"unknown log format {fmt!r}")
        self._threshold = LEVELS[level]
        self._json = fmt == "json"
        self._stream = stream or sys.stderr
        self._lock = threading.Lock()
        self._pid = os.getpid()
        self._secrets = secret_values(os.environ if environ is None else environ)

    def enabled(self, level: str) -> bool:
        return LEVELS.get(level, 40) >= self._threshold

    def log(self, level: str, event: str, **fields: Any) -> None:
        if LEVELS.get(level, 40) < self._threshold:
            return
        try:
            text = self._formatted(level, event, fields)
        except Exception as exc:  # a log call must never take Lilith down: say what could not be logged
            problem = f"{type(exc).__name__} while formatting the event"
            if self._json:
                import json

                record = {"ts": round(time.time(), 6), "level": level, "event": event, "pid": self._pid}
                text = json.dumps({**record, "log_error": problem}) + "\n"
            else:
                text = f"lilith {level.upper():7} {event} log_error={problem!r}\n"
        with self._lock:
            try:
                self._stream.write(text)
                self._stream.flush()
            except (OSError, ValueError):
                pass  # stderr gone: nothing sensible left to tell anyone

    def _formatted(self, level: str, event: str, fields: dict[str, Any]) -> str:
        fields = {key: self._scrubbed(key, value) for key, value in fields.items()}
        if self._json:
            record = {"ts": round(time.time(), 6), "level": level, "event": event, "pid": self._pid, **fields}
            return _json_record(record) + "\n"
        detail = " ".join(f"{key}={_text_value(value)}" for key, value in fields.items())
        return f"lilith {level.upper():7} {event}{' ' + detail if detail else ''}\n"

    def _scrubbed(self, key: str, value: Any) -> Any:
        if key in _ARGV_FIELDS and isinstance(value, list | tuple):
            value = mask_argv([str(item) for item in value])
        return scrub(value, self._secrets)


def secret_values(environ: Mapping[str, str]) -> tuple[str, ...]:
    """Values of environment variables whose names look secret, longest first (so a value that contains
    another is masked whole)."""
    found = {value for name, value in environ.items() if looks_secret(name) and len(value) >= MIN_SECRET_CHARS}
    return tuple(sorted(found, key=len, reverse=True))


def looks_secret(name: str) -> bool:
    """Whether an environment variable or option name looks like it holds a secret."""
    return SECRET_NAME.search(name) is not None and name.upper() not in _NOT_SECRET_NAMES


def scrub(value: Any, secrets: Sequence[str]) -> Any:
    """``value`` with every occurrence of a secret and every URL password masked, in strings, lists and
    mappings."""
    if isinstance(value, str):
        for secret in secrets:
            if secret in value:
                value = value.replace(secret, mask(secret))
        return _mask_url_passwords(value) if "://" in value else value
    if isinstance(value, list | tuple):
        return [scrub(item, secrets) for item in value]
    if isinstance(value, Mapping):
        return {key: scrub(item, secrets) for key, item in value.items()}
    return value


def mask_argv(argv: Sequence[str]) -> list[str]:
    """A command line fit for a log: values of secret-looking options and assignments masked."""
    out: list[str] = []
    mask_next = False
    for arg in argv:
        if mask_next:
            out.append(mask(arg))
            mask_next = False
            continue
        name, sep, value = arg.partition("=")
        if sep and value and looks_secret(name):  # --api-key=…, -p=…, API_TOKEN=… (as given to `env`)
            out.append(f"{name}={mask(value)}")
            continue
        if arg.startswith("-") and not sep and looks_secret(arg):  # --api-key … : the value follows
            mask_next = True
        out.append(_mask_url_passwords(arg))
    return out


def _mask_url_passwords(text: str) -> str:
    return _URL_PASSWORD.sub(lambda m: f"{m.group(1)}:{mask(m.group(2))}@", text)


def _text_value(value: Any) -> str:
    text = value if isinstance(value, str) else _json(value)
    return repr(text) if (" " in text or not text) else text


def _json(value: Any) -> str:
    """JSON of ``value``; never raises."""
    import orjson  # not at module level: this module is imported before the server is started

    try:
        return orjson.dumps(value, default=str).decode()
    except TypeError:  # orjson refuses integers beyond 64 bits even with default=; the stdlib writes them
        pass
    import json

    try:
        return json.dumps(value, default=str, ensure_ascii=False)
    except (TypeError, ValueError, RecursionError):  # keys that are not strings, cycles, too deep
        return json.dumps(repr(value), ensure_ascii=False)


def _json_record(record: dict[str, Any]) -> str:
    """A JSON log line; a field that cannot be written as JSON is written as its text, the others as they are."""
    import orjson

    try:
        return orjson.dumps(record, default=str).decode()
    except TypeError:
        import json

        return "{" + ",".join(f"{json.dumps(str(key))}:{_json(value)}" for key, value in record.items()) + "}"


def mask(value: str) -> str:
    """Show that a secret is set without showing it."""
    return "****" if len(value) < 12 else f"{value[:2]}…{value[-2:]} ({len(value)} chars)"
