"""Rotation of the audit log: when to rotate, what the rotated files are called, how to find them again.

A rotated file is renamed to ``<log>.<N>`` with N counting up from 1 (``audit.jsonl.1`` is the oldest)
and is never renamed again, so the ``previous_file`` named by the next file's ``log_rotated`` record stays
true. N is ASCII digits only: ``str.isdigit`` also takes ``²`` and ``١``, which ``int`` refuses or reads as
another file's number, so a planted ``FILE.²`` could stop Lilith or make an honest set fail to verify. Files
are always named as they were found, never rebuilt from their number (``FILE.01`` is not ``FILE.1``). Only
``os`` and ``re`` are imported here: the writer is built before the server is started.
"""

from __future__ import annotations

import os
import re

from lilith.errors import ConfigError

INDEX_SUFFIX = ".idx.sqlite"  # the query index kept next to a log (see lilith.audit.index)
HEAD_SUFFIX = ".head"  # the head witness kept next to a log (see lilith.audit.head)
_INTERVAL = r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$"  # compiled on use: this module is on the start-up path
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_MIN_INTERVAL = 1.0


class Rotation:
    """Rotate once the file holds ``max_bytes`` or more, or once it is ``interval_seconds`` old (by the
    ``ts`` of its first record). Either may be None; both None means never. (A plain class: building a
    NamedTuple class costs start-up time, and this module is imported before the server starts.)"""

    __slots__ = ("interval_seconds", "max_bytes")

    def __init__(self, max_bytes: int | None = None, interval_seconds: float | None = None) -> None:
        self.max_bytes = max_bytes
        self.interval_seconds = interval_seconds

    @property
    def enabled(self) -> bool:
        return self.max_bytes is not None or self.interval_seconds is not None


def seconds_of(text: str, *, unit_required: bool = False) -> float | None:
    """'90s', '30m', '1h', '1d', '1w' (and a bare '3600' unless ``unit_required``) -> seconds; None otherwise."""
    match = re.match(_INTERVAL, text, re.IGNORECASE)
    if match is None or (unit_required and not match.group(2)):
        return None
    return float(match.group(1)) * _UNIT_SECONDS[match.group(2).lower()]


def parse_interval(text: str) -> float:
    """'3600', '90s', '30m', '1h', '1d', '1w' -> seconds (at least one second)."""
    seconds = seconds_of(text)
    if seconds is None:
        raise ValueError(f"not an interval: {text!r} (examples: 3600, 30m, 1h, 1d)")
    if seconds < _MIN_INTERVAL:
        raise ValueError(f"interval too short: {text!r} (at least 1 second)")
    return seconds


def rotated_name(live: str, number: int) -> str:
    return f"{live}.{number}"


def _number(text: str) -> int | None:
    """``text`` as a rotation number if it is ASCII digits and nothing else (no sign, space or other script)."""
    return int(text) if text.isascii() and text.isdigit() else None


def rotated_files(live: str) -> list[tuple[int, str]]:
    """``(N, path)`` of every ``<live>.<N>`` next to ``live``, oldest first (ties by name)."""
    directory = os.path.dirname(live)
    prefix = os.path.basename(live) + "."
    try:
        names = os.listdir(directory or ".")
    except OSError as exc:
        raise ConfigError(f"cannot list {directory or '.'!r}: {exc.strerror}") from None
    found: list[tuple[int, str]] = []
    for name in names:
        suffix = name[len(prefix) :] if name.startswith(prefix) else ""
        number = _number(suffix)
        if number is not None:
            found.append((number, f"{live}.{suffix}"))  # as found, and spelled like ``live``
    return sorted(found)


def rotated_numbers(live: str) -> list[int]:
    """The N of every ``<live>.<N>`` next to ``live``, oldest first."""
    return [number for number, _ in rotated_files(live)]


def log_set(live: str) -> list[str]:
    """``live``'s rotated files, oldest first, then ``live`` itself (if it exists)."""
    files = [path for _, path in rotated_files(live)]
    if os.path.exists(live) or not files:
        files.append(live)
    return files


def rotation_number(path: str) -> int | None:
    """N for a path named ``<something>.<N>``, else None (a live log)."""
    head, _, tail = path.rpartition(".")
    return _number(tail) if head else None


def in_chain_order(paths: list[str]) -> list[str]:
    """Files as a shell glob lists them (``a.jsonl a.jsonl.1 a.jsonl.10 a.jsonl.2``) in chain order:
    rotated files by N, then live files; query indexes (and their journals) and head files are left out."""
    named = set(paths)
    logs = [path for path in paths if INDEX_SUFFIX not in os.path.basename(path) and not _head_of(path, named)]
    return sorted(logs, key=_chain_position)


def _head_of(path: str, named: set[str]) -> bool:
    """Is ``path`` the head file of a log (``<log>.head``, or its ``<log>.head.<12 hex>.tmp`` while written)?"""
    stem = re.sub(r"\.[0-9a-f]{12}\.tmp$", "", path)
    if not stem.endswith(HEAD_SUFFIX):
        return False
    log = stem[: -len(HEAD_SUFFIX)]
    return (
        log in named
        or os.path.exists(log)
        or any(rotation_number(other) is not None and other.rpartition(".")[0] == log for other in named)
    )


def _chain_position(path: str) -> tuple[bool, int]:
    number = rotation_number(path)
    return (number is None, number or 0)
