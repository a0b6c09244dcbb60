"""The audit key: from --audit-key-file, else $LILITH_AUDIT_KEY_FILE, else one Lilith creates (mode 0600)
under the user's config directory and keeps, so logs can be verified later by whoever holds the key."""

from __future__ import annotations

import contextlib
import errno
import os

from lilith.errors import ConfigError
from lilith.runtime.regular_files import read_regular_file

KEY_ENV = "LILITH_AUDIT_KEY_FILE"
# A key is 64 hex digits; anything near this size is not a key, and is not read into memory.
MAX_KEY_BYTES = 1 << 20


def default_key_path() -> str:
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return os.path.join(base, "lilith", "audit.key")


def key_path(explicit: str | None) -> tuple[str, bool]:
    """The key file to use, and whether it is the default one (which may be created)."""
    chosen = explicit or os.environ.get(KEY_ENV)
    return (chosen, False) if chosen else (default_key_path(), True)


def read_key(path: str) -> bytes:
    """The key in ``path``: a regular file, read without blocking (a FIFO named as the key file must not
    hang Lilith before it starts, nor ``lilith audit verify``)."""
    try:
        raw = read_regular_file(path, MAX_KEY_BYTES).strip()
    except OSError as exc:
        raise ConfigError(f"cannot read audit key {path!r}: {exc.strerror}") from None
    if len(raw) < 32:
        raise ConfigError(f"audit key {path!r} is too short (need at least 32 bytes)")
    return raw


def load_or_create_key(explicit: str | None) -> tuple[bytes, str, bool]:
    """(key, path, created). Only the default key file is ever created; a named one must exist."""
    path, is_default = key_path(explicit)
    if os.path.exists(path) or not is_default:
        return read_key(path), path, False
    directory = os.path.dirname(path)
    try:
        os.makedirs(directory, mode=0o700, exist_ok=True)
        _create(path)
    except FileExistsError:
        return read_key(path), path, False  # another Lilith created it first
    except OSError as exc:
        raise ConfigError(f"cannot create audit key {path!r}: {exc.strerror}") from None
    return read_key(path), path, True


def _create(path: str) -> None:
    """Write the key under a temporary name, flush it, then link it into place: a Lilith starting at the same
    moment sees either no key or the whole key (never an empty file), and a machine crash cannot leave a key
    file without its key — which would make every log written under it unverifiable."""
    directory = os.path.dirname(path)
    temporary = os.path.join(directory, f".audit.key.{os.getpid()}.{os.urandom(4).hex()}")
    key = os.urandom(32).hex().encode() + b"\n"
    _write_new(temporary, key)
    try:
        os.link(temporary, path)  # fails with FileExistsError if another Lilith got there first
    except FileExistsError:
        raise
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP):
            raise
        _write_new(path, key)  # a filesystem without hard links: create it in place (O_EXCL still decides)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
    directory_fd = os.open(directory, os.O_RDONLY | os.O_CLOEXEC)
    try:
        os.fsync(directory_fd)
    finally:
        os.close(directory_fd)


def _write_new(path: str, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
