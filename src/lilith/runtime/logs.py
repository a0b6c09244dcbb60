"""Operational logs: structured events on stderr, JSON or text, filtered by level.

Never stdout: in proxy mode stdout carries only MCP messages. A small writer rather than the logging
module or structlog: it is on the start-up path, where importing structlog alone costs ~150 ms here.

Never a secret either. Every field is scrubbed before it is formatted: the value of any environment
variable with a secret-looking name (``*TOKEN*``, ``*KEY*``, ``*SECRET*``, ``*PASS*``, ``*PWD*`` …) is
masked wherever it appears, a URL's password is masked in any string, and a command line (``argv``) has the
values of secret-looking ``--flag=value`` / ``--flag value`` options and ``NAME=value`` environment
assignments masked. Then every field goes through the audit redactor's detectors (tokens, keys, emails,
cards, ``Authorization: Bearer …``, ``{"apiKey": …}`` …; command lines as the audit's ``server_command``),
with fixed masks such as ``<github_token>`` instead of keyed hashes. Their ~15 ms of compiled patterns are
loaded only for a value that could hold something they find (``_plain_text``), so the lines logged before
the server starts (a policy's path) do not delay it. The server's environment itself is never logged.

A log call never raises: a value that cannot be formatted (orjson refuses integers beyond 64 bits, such as
a client's request id) is written by the standard library or as its ``repr``.

A log call never waits for stderr either: nobody may be reading it (an agent that captures Lilith's stderr
and never drains it), and a blocked write there would stop whoever logs, with whatever lock it holds. Lines
go to a bounded queue that a thread of its own writes (``StderrQueue``); see there for drops and the exit.
"""

from __future__ import annotations

import atexit
import os
import re
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from lilith.audit.redact import Masker

LEVELS = {"debug": 10, "info": 20, "warning": 30, "error": 40}
SECRET_NAME = re.compile(r"token|key|secret|pass|pwd|credential|auth|cookie|private|signature", re.IGNORECASE)
_NOT_SECRET_NAMES = frozenset({"PWD", "OLDPWD"})  # the shell's working directories: paths, not passwords
MIN_SECRET_CHARS = 6  # shorter environment values ("1", "true", "info") are too common to scrub everywhere
_ARGV_FIELDS = frozenset({"argv", "command", "server_command"})
_URL_PASSWORD = re.compile(r"(?<=://)([^\s/:@]*):([^\s/@]+)@")  # the user may be empty: redis://:pw@cache
QUEUE_BYTES = 1 << 20  # log text that may wait for stderr; lines beyond it are dropped and counted
_ATOMIC = 4096  # PIPE_BUF on Linux: a pipe write up to this size is never interleaved with another writer's
EXIT_FLUSH_SECONDS = 1.0  # how long the exit waits for queued lines to reach a stderr that does not take them
# What a text needs for one of the audit redactor's detectors to find something in it, beyond the characters
# of a path or a word (tests/unit/test_redact_review5.py holds this to the redactor): seven digits (cards,
# phones, IBANs), four digits in three dots (IPv4), or a token's prefix.
_NOT_PLAIN = str.maketrans("", "", "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_./-")
_NO_DIGITS = str.maketrans("", "", "0123456789")
_TOKEN_PREFIXES = (
    "eyJ", "AKIA", "ASIA", "ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_", "xox", "xapp-", "k_live_",
    "k_test_", "whsec_", "AIza", "sk-",
)  # fmt: skip
_CARD_RANGE = range(10**11, 10**19)  # integers that may be a card number (12 to 19 digits)


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
        self._masker: Masker | None = None  # the audit redactor's detectors, loaded when a value needs them
        # A stream handed in (tests, in memory) is written at once; the process's stderr through the queue.
        self._queue = StderrQueue(_fileno(self._stream), self._drop_notice) if stream is None else None

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
        if self._queue is not None:
            self._queue.put(text)
            return
        with self._lock:
            try:
                self._stream.write(text)
                self._stream.flush()
            except (OSError, ValueError):
                pass  # stderr gone: nothing sensible left to tell anyone

    def flush(self, timeout: float = EXIT_FLUSH_SECONDS) -> bool:
        """Wait (at most ``timeout`` seconds) until every queued line is written; False if some are not."""
        return self._queue is None or self._queue.flush(timeout)

    def _drop_notice(self, dropped: int) -> str:
        detail = "stderr was not being read; those lines are lost"
        return self._formatted("warning", "log_lines_dropped", {"lines": dropped, "detail": detail})

    def _formatted(self, level: str, event: str, fields: dict[str, Any]) -> str:
        fields = {key: self._scrubbed(key, value) for key, value in fields.items()}
        if self._json:
            record = {"ts": round(time.time(), 6), "level": level, "event": event, "pid": self._pid, **fields}
            return _json_record(record) + "\n"
        detail = " ".join(f"{key}={_text_value(value)}" for key, value in fields.items())
        return f"lilith {level.upper():7} {event}{' ' + detail if detail else ''}\n"

    def _scrubbed(self, key: str, value: Any) -> Any:
        if key in _ARGV_FIELDS and isinstance(value, list | tuple):
            argv = scrub(mask_argv([str(item) for item in value]), self._secrets)
            return self._detectors().redact_command(argv)
        value = scrub(value, self._secrets)
        return value if _plain(value) else self._detectors().redact_value(value)

    def _detectors(self) -> Masker:
        masker = self._masker
        if masker is None:  # two threads may both build one: harmless, they are alike
            from lilith.audit.redact import Masker

            masker = self._masker = Masker()
        return masker


class StderrQueue:
    """Log lines on their way to an fd, written by a thread of their own: whoever logs never waits.

    The queue holds at most ``limit`` bytes; a line that does not fit is dropped and counted, and once the fd
    takes lines again the count is written after them (``log_lines_dropped``). Lines are written in the
    order they were logged. At exit (``atexit``, or ``flush``) the queue gets ``EXIT_FLUSH_SECONDS`` to
    empty: every line reaches a stderr that reads, and one that does not cannot hold the exit. ``fd`` None
    (no stderr) drops everything silently.
    """

    def __init__(self, fd: int | None, notice: Callable[[int], str], limit: int = QUEUE_BYTES) -> None:
        self._fd = fd
        self._notice = notice
        self._limit = limit
        self._lines: deque[bytes] = deque()
        self._bytes = 0
        self._dropped = 0
        self._busy = False  # the thread is writing
        self._dead = fd is None  # the fd failed (closed, EPIPE): nothing more is written
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None

    def put(self, text: str) -> None:
        data = text.encode("utf-8", "backslashreplace")
        with self._cond:
            if self._dead:
                return
            if self._bytes + len(data) > self._limit:
                self._dropped += 1
                return
            self._lines.append(data)
            self._bytes += len(data)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="lilith-stderr", daemon=True)
                self._thread.start()
                atexit.register(self.flush)
            self._cond.notify()

    def flush(self, timeout: float = EXIT_FLUSH_SECONDS) -> bool:
        deadline = time.monotonic() + timeout
        with self._cond:
            while (self._lines or self._busy) and not self._dead:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
        return True

    def _run(self) -> None:
        while True:
            with self._cond:
                self._busy = False
                self._cond.notify_all()
                while not self._lines:
                    self._cond.wait()
                batch = b"".join(self._lines)
                self._lines.clear()
                self._bytes = 0
                dropped, self._dropped = self._dropped, 0
                self._busy = True
            if dropped:  # the drops came after these lines: said after them, when they are written
                batch += self._notice(dropped).encode("utf-8", "backslashreplace")
            if not self._write(batch):
                with self._cond:
                    self._dead = True
                    self._busy = False
                    self._lines.clear()
                    self._cond.notify_all()
                return

    def _write(self, data: bytes) -> bool:
        """Write ``data`` in pieces cut at line ends, each at most PIPE_BUF bytes when it can be: a pipe
        write that size is atomic, so the server's own stderr (the same pipe) never lands inside a line."""
        while len(data) > _ATOMIC:
            cut = data.rfind(b"\n", 0, _ATOMIC) + 1 or data.find(b"\n") + 1 or len(data)
            if not self._write_all(data[:cut]):
                return False
            data = data[cut:]
        return self._write_all(data)

    def _write_all(self, data: bytes) -> bool:
        fd = self._fd
        if fd is None:  # pragma: no cover - a queue without an fd is dead from the start
            return False
        view = memoryview(data)
        while view:
            try:
                view = view[os.write(fd, view) :]
            except BlockingIOError:  # someone made the shared stderr non-blocking: wait for room
                import select

                poller = select.poll()
                poller.register(fd, select.POLLOUT)
                poller.poll()
            except OSError:
                return False
        return True


def _fileno(stream: TextIO) -> int | None:
    try:
        return stream.fileno()
    except (AttributeError, OSError, ValueError):
        return None


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


def _plain(value: Any, depth: int = 0) -> bool:
    """Whether no detector could find anything in ``value``: plain texts, numbers that cannot be a card,
    lists of them."""
    if isinstance(value, str):
        return _plain_text(value)
    if value is None or isinstance(value, bool | float):
        return True
    if isinstance(value, int):
        return abs(value) not in _CARD_RANGE
    if isinstance(value, list | tuple):
        return depth < 8 and all(_plain(item, depth + 1) for item in value)
    return False  # a mapping (its keys say what its values are: {"password": "x"}), or an object shown as text


def _plain_text(text: str) -> bool:
    """Whether ``text`` is only letters, digits and ``_./-`` (a path, a word, a number), with fewer than seven
    digits, not four digits and three dots (an IPv4 address), and no token prefix: nothing the audit's
    detectors find."""
    if text.translate(_NOT_PLAIN):
        return False
    digits = len(text) - len(text.translate(_NO_DIGITS))
    if digits >= 7 or (digits >= 4 and text.count(".") >= 3):
        return False
    return not any(prefix in text for prefix in _TOKEN_PREFIXES)


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
