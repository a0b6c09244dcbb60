"""The head witness: a small sealed file next to the log naming its newest record, so cutting records off
the end of the log — which the hash chain alone cannot reveal — is found by ``lilith audit verify``.

``<log>.head`` holds one sealed JSON line ``{"v", "log", "session", "seq", "hash", "ts", "mac"}``: ``hash``
is the SHA-256 of the newest record's line (what the next record's ``prev`` will be). The writer replaces it
through a temporary file and ``rename`` once a second when records were written (after the log itself was
flushed, so the witness never runs ahead of what is on disk) and when the log is closed. Verifying looks for
that line in the log set, newest first: if it is gone, records were removed from the end.

What it cannot see: records cut off that were written after the last refresh (up to a second), and an
attacker who truncates the log *and* puts back an older copy of the head file. Keeping the head file
elsewhere (or the ``audit_log_closed`` line Lilith logs on exit, which carries the same hash) closes that.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
from collections.abc import Iterator
from typing import Any

from lilith.audit.chain import mac_ok, seal
from lilith.audit.rotation import HEAD_SUFFIX

HEAD_VERSION = 1
_MAX_HEAD_BYTES = 4096


def head_path(live: str) -> str:
    return live + HEAD_SUFFIX


def head_line(live: str, session: str, seq: int, last_hash: str, *, ts: float, key: bytes) -> bytes:
    import json

    body = {"v": HEAD_VERSION, "log": os.path.basename(live), "session": session, "seq": seq, "hash": last_hash}
    body["ts"] = ts
    return seal(json.dumps(body, separators=(",", ":")).encode(), key)


def write_head(live: str, line: bytes, *, durable: bool) -> None:
    """Replace ``<live>.head`` with ``line`` atomically (mode 0600). Raises OSError."""
    target = head_path(live)
    # An unguessable name, created exclusively and never through a symlink: the log may sit in a shared
    # directory, where a planted link at a predictable name would make us overwrite its target.
    temporary = f"{target}.{os.urandom(6).hex()}.tmp"
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        try:
            data = line + b"\n"
            if os.write(fd, data) != len(data):  # a nearly full disk: never put half a head in place
                raise OSError(28, "short write")
            if durable:
                os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temporary, target)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


class Head:
    __slots__ = ("hash", "seq", "session")

    def __init__(self, session: str, seq: int, last_hash: str) -> None:
        self.session = session
        self.seq = seq
        self.hash = last_hash


def read_head(live: str, key: bytes | None, path: str | None = None) -> Head | str | None:
    """The witness of ``live``: a Head, None when there is no head file, or what is wrong with it. The head
    next to the log must be a regular file (never a link or a FIFO someone planted, never waited on); a copy
    the operator names with ``path`` (a link, ``<(ssh … cat FILE.head)``) is read as given."""
    try:
        data = _read_named(path) if path is not None else _read_adjacent(head_path(live))
    except FileNotFoundError:
        return None
    except OSError as exc:
        return f"head file unreadable: {exc.strerror or exc}"
    return _parsed(data.rstrip(b"\n"), key)


def _read_named(path: str) -> bytes:
    """A head file named with --head-file: a FIFO or a device there is refused, never waited on."""
    from lilith.runtime.regular_files import read_regular_file

    return read_regular_file(path, _MAX_HEAD_BYTES + 1)


def _read_adjacent(path: str) -> bytes:
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(0, "not a regular file")
        return os.read(fd, _MAX_HEAD_BYTES + 1)
    finally:
        os.close(fd)


def _parsed(line: bytes, key: bytes | None) -> Head | str:
    import json

    try:
        record: Any = json.loads(line)
    except (ValueError, RecursionError):
        return "head file is not a sealed head record"
    if not isinstance(record, dict) or record.get("v") != HEAD_VERSION:
        return "head file is not a sealed head record"
    if key is not None and not mac_ok(line, key):
        return "head file: MAC mismatch (changed, or written with another key)"
    session, seq, last_hash = record.get("session"), record.get("seq"), record.get("hash")
    # (Its "log" name is informational: a log renamed together with its head is still the same log.)
    if (
        not isinstance(session, str)
        or not isinstance(seq, int)
        or not isinstance(last_hash, str)
        or len(last_hash) != 64
    ):
        return "head file is not a sealed head record"
    return Head(session, seq, last_hash)


def witnessed(files: list[str], last_hash: str, limit: int | None = None) -> bool:
    """Is the record whose line hashes to ``last_hash`` still in ``files`` (oldest first)? Searched from the
    end backwards, a block at a time: the witness is at most a second behind the end unless a run was killed,
    so this usually reads a few kilobytes even of a huge log. ``limit``: read at most that many bytes of each
    file (what start-up can afford); files that are not regular (a FIFO planted at a rotated name) are
    skipped, never waited on."""
    return any(hashlib.sha256(line).hexdigest() == last_hash for line in _lines_newest_first(files, limit=limit))


def last_line_hash(path: str) -> str | None:
    """The SHA-256 of ``path``'s last non-empty line, or None (no such regular file, or empty)."""
    for line in _lines_newest_first([path]):
        return hashlib.sha256(line).hexdigest()
    return None


def _lines_newest_first(files: list[str], block: int = 1 << 16, limit: int | None = None) -> Iterator[bytes]:
    for path in reversed(files):
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError:
            continue
        with os.fdopen(fd, "rb") as handle:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                continue
            end = handle.seek(0, os.SEEK_END)
            floor = 0 if limit is None else max(0, end - limit)
            carry = b""
            while end > floor:
                start = max(floor, end - block)
                handle.seek(start)
                chunk = handle.read(end - start) + carry
                end = start
                lines = chunk.split(b"\n")
                carry = lines.pop(0) if start > 0 else b""  # may continue in the block before
                for line in reversed(lines):
                    if line:
                        yield line
