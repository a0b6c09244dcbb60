"""The live audit log file itself: opening it without ever waiting, and noticing when it stops being the file
at its name (deleted, moved away, emptied) while Lilith writes it.

Only ``os`` and ``stat`` are imported: the writer opens the log before the server is started.
"""

from __future__ import annotations

import errno
import os
import stat

from lilith.errors import AuditWriteError, ConfigError

_APPEND = os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC
# What a ``lilith run --audit-log`` may name besides a regular file: a stream such as /dev/stderr (which is
# a pipe or a terminal as often as a file), never rotated and without a head file.
_STREAM_DIRS = ("/dev/", "/proc/")

DELETED, MOVED, TRUNCATED = "deleted", "moved", "truncated"


def is_stream_name(path: str) -> bool:
    return os.path.abspath(path).startswith(_STREAM_DIRS)


def open_log(path: str) -> tuple[int, os.stat_result]:
    """Open (creating, mode 0600) the log for appending; its descriptor and what it is. O_NONBLOCK for the
    open only: a FIFO without a reader then fails at once (ENXIO) instead of blocking Lilith's start for
    ever. Only a regular file is a log, unless the path is (or links to) one under /dev or /proc. Raises
    ConfigError (exit 2)."""
    try:
        fd = os.open(path, _APPEND | os.O_CREAT | os.O_NONBLOCK | os.O_NOCTTY, 0o600)
    except OSError as exc:
        if exc.errno == errno.ENXIO:
            raise ConfigError(
                f"cannot open audit log {path!r}: it is a FIFO (or socket) nobody reads; "
                "an audit log is a regular file (or a stream such as /dev/stderr)"
            ) from None
        raise ConfigError(f"cannot open audit log {path!r}: {exc.strerror}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) and not (is_stream_name(path) or is_stream_name(os.path.realpath(path))):
            raise ConfigError(
                f"audit log {path!r} is not a regular file (a FIFO, a socket or a device): "
                "name a file, or a stream under /dev such as /dev/stderr"
            )
        os.set_blocking(fd, True)  # records are written whole: a stream that is slow to read holds them up
    except OSError as exc:
        os.close(fd)
        raise ConfigError(f"cannot open audit log {path!r}: {exc.strerror}") from None
    except ConfigError:
        os.close(fd)
        raise
    return fd, info


def create_new(path: str) -> int:
    """A new file at ``path`` (mode 0600), exclusively and never through a link: the name was just freed (a
    rotation) or found free (the log was deleted), so anything there now was planted. Raises OSError."""
    return os.open(path, _APPEND | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)


def adopt_empty(path: str) -> int:
    """The empty regular file someone left at the log's name after moving or deleting the log (logrotate's
    ``create``, a ``touch``): it is taken over. Anything else there (a file with content, a FIFO, a link) is
    never written into. Raises AuditWriteError saying why."""
    try:
        fd = os.open(path, _APPEND | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as exc:
        raise AuditWriteError(f"{path}: the audit log's name holds another file: {exc.strerror}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size:
            what = "is not a regular file" if not stat.S_ISREG(info.st_mode) else f"has {info.st_size} bytes"
            raise AuditWriteError(
                f"{path}: the audit log was replaced by another file, which {what}: Lilith does not write "
                "into it (move it away and Lilith starts a new log there)"
            )
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd


def whereabouts(path: str, fd: int, size: int) -> str | None:
    """What became of the file Lilith writes through ``fd``, believed to hold ``size`` bytes: None while it
    is still the file at ``path``; else ``deleted`` (no name holds it any more), ``moved`` (renamed, or its
    name now holds another file; it lives on elsewhere) or ``truncated`` (emptied or cut in place). Two
    ``stat`` calls: cheap enough for the once-a-second tick. Raises OSError only if ``fd`` is unusable."""
    mine = os.fstat(fd)
    if mine.st_nlink == 0:
        return DELETED
    try:
        named = os.stat(path)
    except OSError:  # gone, or its directory is (renamed, or replaced by a file)
        return MOVED
    if (named.st_dev, named.st_ino) != (mine.st_dev, mine.st_ino):
        return MOVED
    return TRUNCATED if mine.st_size < size else None


def moved_to(candidates: list[str], fd: int) -> str | None:
    """Which of ``candidates`` (the log's rotated names) is now the file open at ``fd``, if any."""
    mine = os.fstat(fd)
    for candidate in candidates:
        try:
            info = os.lstat(candidate)
        except OSError:
            continue
        if (info.st_dev, info.st_ino) == (mine.st_dev, mine.st_ino):
            return candidate
    return None
