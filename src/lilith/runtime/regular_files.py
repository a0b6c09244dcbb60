"""Read a configuration file whole, only if it is a regular file of bounded size, without ever blocking.

A path Lilith reads (policy, audit key, pin store) can be replaced by something that is not a file: a FIFO
nobody writes makes a plain ``open()`` wait forever, ``/dev/zero`` never ends. So the path is opened once with
``O_NONBLOCK`` (a FIFO opens at once, and ``O_NOCTTY`` keeps a terminal from becoming ours), the opened
descriptor is checked with ``fstat`` — what was checked is what is read, whatever the path names a moment
later — and at most ``limit + 1`` bytes are read. A ``stat`` before the open spares devices the open itself.

Every refusal is an ``OSError`` carrying the path, whose ``strerror`` says what is wrong
("it is a FIFO, not a regular file"), so callers report it like any other unreadable file.
"""

from __future__ import annotations

import errno
import os
import stat

_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISLNK, "a symbolic link"),  # for an lstat; reading follows links
)


def read_regular_file(path: str, limit: int) -> bytes:
    """The whole content of ``path``. Raises OSError: whatever the open raises (FileNotFoundError …), or
    one that says the path is not a regular file, or is larger than ``limit`` bytes."""
    _require_regular(os.stat(path).st_mode, path)
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    try:
        info = os.fstat(fd)
        _require_regular(info.st_mode, path)  # the path may have been swapped since the stat above
        if info.st_size > limit:
            raise _too_large(path, limit)
        chunks: list[bytes] = []
        size = 0
        while size <= limit:  # it may have grown since the fstat: read one byte past the limit to know
            chunk = os.read(fd, min(1 << 20, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    finally:
        os.close(fd)
    if size > limit:
        raise _too_large(path, limit)
    return b"".join(chunks)


def describe_size(limit: int) -> str:
    """``16 MiB``, ``64 KiB``, ``100 bytes``: a limit as people write it."""
    for unit, name in ((1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")):
        if limit >= unit and limit % unit == 0:
            return f"{limit // unit} {name}"
    return f"{limit} bytes"


def kind_of(mode: int) -> str:
    """What an ``st_mode`` names, for a message: "a FIFO", "a directory" …"""
    if stat.S_ISREG(mode):
        return "a regular file"
    return next((name for test, name in _KINDS if test(mode)), "a special file")


def _require_regular(mode: int, path: str) -> None:
    if stat.S_ISREG(mode):
        return
    code = errno.EISDIR if stat.S_ISDIR(mode) else errno.EINVAL
    raise OSError(code, f"it is {kind_of(mode)}, not a regular file", path)


def _too_large(path: str, limit: int) -> OSError:
    return OSError(errno.EFBIG, f"it is larger than {describe_size(limit)}, the limit for this file", path)
