"""The pin store: one JSON file (mode 0600) with the pinned tools of every server Lilith has fronted.

Servers are keyed by their command line (``shlex.join`` of the argv), so the same server started the same
way finds its pins again; a different command is a different server. The default file sits next to the
audit key (``~/.config/lilith/pins.json``, or under ``$XDG_CONFIG_HOME``). Every save rewrites the whole
file through a temporary file, ``fsync`` and ``rename``, so a crash leaves either the old file or the new
one, never half of one. The file is read once at start; ``lilith pin accept|reset`` edit it for later
sessions.

One store serves every server, and agents start their servers all at once, so writers take turns: each
save holds an exclusive ``flock`` on a sidecar file (``pins.json.lock``, created 0600, never through a
symlink, never removed: a removed lock file would let two writers lock two different files) while it
reads the store as it is on disk *now*, replaces its own server's entry and writes the result. A copy of
other servers' entries read earlier is never written back, so no session undoes another's pins. Readers
take no lock: the rename makes every read see a whole file.

Cost: one file keeps the format, the lock and ``lilith pin`` simple, at the price of reading it whole. So
what one server may keep is bounded (``lilith.policy.pins``: a listing beyond it is refused); at start every
entry is checked (a damaged store stops Lilith); a save re-reads the others without checking them and
writes one server per line with json's C encoder.

.. code-block:: json

    {"servers": {
    "python server.py": {"pending": {"echo": {"fields": {}, "sha256": "…"}}, "tools": {"echo": {"fields":
        {"description": "…", "inputSchema": "…"}, "sha256": "…"}}, "updated": "2026-01-01T00:00:00Z"}
    }, "version": 1}
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from lilith.audit.keys import default_key_path
from lilith.errors import ConfigError
from lilith.runtime.regular_files import kind_of, read_regular_file

if TYPE_CHECKING:  # pins and the gate are imported after the server has started
    from lilith.core.interceptor import Interceptor, PolicySource
    from lilith.core.ports import AuditSink, EventLog
    from lilith.policy.loader import Policy
    from lilith.policy.pins import PinReview, PinTable, ToolPin

FORMAT_VERSION = 1
STORE_ENV = "LILITH_PIN_STORE"
LOCK_SUFFIX = ".lock"
# A writer holds the lock for one read-merge-write (milliseconds); one that waits this long gives up, and
# the save fails closed (the listing gets an error) rather than hang the session behind a stuck process.
LOCK_TIMEOUT = 10.0
# Thousands of servers' pins fit in a few MiB; a bigger file is refused rather than read into memory.
MAX_STORE_BYTES = 64 << 20


def default_pin_store_path() -> str:
    return os.path.join(os.path.dirname(default_key_path()), "pins.json")


def choose_pin_store(explicit: str | None) -> str:
    """--pin-store, else $LILITH_PIN_STORE, else the default file next to the audit key."""
    return explicit or os.environ.get(STORE_ENV) or default_pin_store_path()


def server_key(argv: Sequence[str]) -> str:
    return shlex.join(argv)


class PinStore:
    """The store file. Used from one thread; ``locked`` may be entered again inside itself."""

    __slots__ = ("_lock_depth", "lock_timeout", "path")

    def __init__(self, path: str, lock_timeout: float = LOCK_TIMEOUT) -> None:
        self.path = path
        self.lock_timeout = lock_timeout
        self._lock_depth = 0

    def servers(self) -> dict[str, dict[str, Any]]:
        """Every server's raw entry, each validated (a damaged store stops Lilith at start, whichever
        server's entry is damaged); an absent file is an empty store, an unreadable one an error."""
        servers = self._read()
        for key, entry in servers.items():
            _table(self.path, key, entry)  # validate every entry now, not when it is first needed
        return servers

    def _read(self) -> dict[str, Any]:
        """The servers' entries as the file holds them, not validated one by one (a save writes other
        servers' entries back as it found them). Read without blocking: a FIFO or a device at the store's
        path is refused, never waited on."""
        import json  # this module is imported on the start-up path; json only when pinning is on

        try:
            data = json.loads(read_regular_file(self.path, MAX_STORE_BYTES).decode("utf-8"))
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise ConfigError(f"cannot read pin store {self.path!r}: {exc.strerror or exc}") from None
        except ValueError as exc:  # not UTF-8, not JSON, or a number beyond Python's digit limit
            raise ConfigError(f"cannot read pin store {self.path!r}: {exc}") from None
        except RecursionError:
            raise ConfigError(f"cannot read pin store {self.path!r}: it is nested too deeply to be one") from None
        version = data.get("version") if isinstance(data, dict) else None
        if (
            not isinstance(data, dict)
            or type(version) is not int  # true and 1.0 equal 1 in Python, but are not what a store holds
            or version != FORMAT_VERSION
            or not isinstance(data.get("servers"), dict)
        ):
            raise ConfigError(f"pin store {self.path!r} is not a version {FORMAT_VERSION} pin store")
        servers: dict[str, Any] = data["servers"]
        return servers

    def load(self, server: str) -> PinTable | None:
        entry = self.servers().get(server)
        return None if entry is None else _table(self.path, server, entry)

    def save(self, server: str, table: PinTable) -> None:
        """Make ``table`` this server's entry; every other server's entry stays as it is on disk now."""
        import time

        entry = {
            "updated": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "tools": {name: _pin_json(pin) for name, pin in sorted(table.pinned.items())},
            "pending": {name: _pin_json(pin) for name, pin in sorted(table.pending.items())},
        }
        with self.locked():
            servers = self._read()
            servers[server] = entry
            self._write(servers)

    def remove(self, server: str) -> bool:
        with self.locked():
            servers = self._read()
            if servers.pop(server, None) is None:
                return False
            self._write(servers)
            return True

    def check_lock_file(self) -> None:
        """Refuse at start a lock file no save could take (a FIFO, a directory or a symlink planted at its
        name), rather than start and then fail every save of the session."""
        import stat

        lock_path = self.path + LOCK_SUFFIX
        try:
            mode = os.lstat(lock_path).st_mode
        except FileNotFoundError:
            return  # the first save creates it
        except OSError as exc:
            raise ConfigError(f"cannot lock pin store {self.path!r}: {lock_path!r}: {exc.strerror or exc}") from None
        if not stat.S_ISREG(mode):
            raise ConfigError(
                f"cannot lock pin store {self.path!r}: {lock_path!r} is {kind_of(mode)}, not a regular file"
            )

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the store's write lock: no other process writes the store until the block ends, so what it
        read inside the block is still what is on disk when it writes."""
        if self._lock_depth:
            self._lock_depth += 1
            try:
                yield
            finally:
                self._lock_depth -= 1
            return
        descriptor = self._acquire()
        self._lock_depth = 1
        try:
            yield
        finally:
            self._lock_depth = 0
            os.close(descriptor)  # closing the last descriptor releases the flock

    def _acquire(self) -> int:
        import fcntl
        import stat
        import time

        lock_path = self.path + LOCK_SUFFIX
        flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
        try:
            os.makedirs(os.path.dirname(os.path.abspath(self.path)), mode=0o700, exist_ok=True)
            descriptor = os.open(lock_path, flags, 0o600)
        except OSError as exc:
            raise ConfigError(f"cannot lock pin store {self.path!r}: {lock_path!r}: {exc.strerror or exc}") from None
        try:
            mode = os.fstat(descriptor).st_mode
            if not stat.S_ISREG(mode):  # opened without blocking: a FIFO planted here is refused, not waited on
                raise ConfigError(
                    f"cannot lock pin store {self.path!r}: {lock_path!r} is {kind_of(mode)}, not a regular file"
                )
            deadline = time.monotonic() + self.lock_timeout
            pause = 0.001
            while True:
                try:
                    fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    return descriptor
                except BlockingIOError:  # held by another writer: wait for it, a little longer each time
                    if time.monotonic() >= deadline:
                        raise ConfigError(
                            f"cannot lock pin store {self.path!r}: another process has held {lock_path!r} "
                            f"for {self.lock_timeout:g} s"
                        ) from None
                    time.sleep(pause)
                    pause = min(pause * 2, 0.05)
                except OSError as exc:
                    raise ConfigError(f"cannot lock pin store {self.path!r}: {exc.strerror or exc}") from None
        except BaseException:
            os.close(descriptor)
            raise

    def _write(self, servers: dict[str, Any]) -> None:
        import json
        import tempfile

        directory = os.path.dirname(os.path.abspath(self.path))
        # One server per line, each written by json's C encoder (an indent would make json use its Python
        # one, ~3x slower): a save costs little even when other servers have many pins.
        entries = ",\n".join(
            f"{json.dumps(key)}: {json.dumps(servers[key], sort_keys=True, separators=(',', ':'))}"
            for key in sorted(servers)
        )
        data = f'{{"servers": {{\n{entries}\n}}, "version": {FORMAT_VERSION}}}'.encode()
        try:
            os.makedirs(directory, mode=0o700, exist_ok=True)
            fd, temporary = tempfile.mkstemp(prefix=".pins-", suffix=".tmp", dir=directory)  # created 0600
            try:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(data + b"\n")
                    handle.flush()
                    os.fsync(handle.fileno())
                os.replace(temporary, self.path)
            except BaseException:
                os.unlink(temporary)
                raise
        except OSError as exc:
            raise ConfigError(f"cannot write pin store {self.path!r}: {exc.strerror or exc}") from None


def _pin_json(pin: ToolPin) -> dict[str, Any]:
    return {"sha256": pin.digest, "fields": dict(sorted(pin.fields.items()))}


def _table(path: str, server: str, entry: Any) -> PinTable:
    from lilith.policy.pins import PinTable

    if not isinstance(entry, dict):
        raise ConfigError(f"pin store {path!r}: the entry for {server!r} is not an object")
    return PinTable(_pins(path, server, entry.get("tools", {})), _pins(path, server, entry.get("pending", {})))


def _pins(path: str, server: str, value: Any) -> dict[str, ToolPin]:
    if not isinstance(value, dict):
        raise ConfigError(f"pin store {path!r}: the pins of {server!r} are not an object")
    from lilith.policy.pins import ToolPin

    pins: dict[str, ToolPin] = {}
    for name, item in value.items():
        digest = item.get("sha256") if isinstance(item, dict) else None
        fields = item.get("fields", {}) if isinstance(item, dict) else None
        if (
            not isinstance(digest, str)
            or not isinstance(fields, dict)
            or not all(isinstance(v, str) for v in fields.values())
        ):
            raise ConfigError(f"pin store {path!r}: the pin of tool {name!r} of {server!r} is malformed")
        pins[name] = ToolPin(digest, dict(fields))
    return pins


class PinSetup:
    """Pinning for one run: which store and server key, the mode when the policy does not set one (enforce
    once a store is named, else off), and the server's pins, read before the server starts when pinning
    is on at start so that a damaged store stops Lilith instead of silently trusting everything."""

    __slots__ = ("default_mode", "preloaded", "server", "store")

    def __init__(
        self, store: PinStore, server: str, default_mode: str, preloaded: tuple[PinTable | None] | None
    ) -> None:
        self.store = store
        self.server = server
        self.default_mode = default_mode
        self.preloaded = preloaded

    @classmethod
    def prepare(cls, explicit: str | None, argv: Sequence[str], policy: Policy) -> PinSetup:
        named = explicit or os.environ.get(STORE_ENV)
        setup = cls(PinStore(choose_pin_store(explicit)), server_key(argv), "enforce" if named else "off", None)
        if (policy.pin_mode or setup.default_mode) != "off":
            setup.preloaded = (setup.store.load(setup.server),)
            setup.store.check_lock_file()
        return setup

    def review(self) -> PinReview:
        from lilith.policy.pins import PinReview

        # The preloaded table serves the first review only: a review that failed (a save, a refused listing)
        # may have changed it, and the next one must start from what the store holds.
        preloaded, self.preloaded = self.preloaded, None
        table = preloaded[0] if preloaded is not None else self.store.load(self.server)
        return PinReview(table, lambda changed: self.store.save(self.server, changed))

    def interceptor(self, audit: AuditSink, log: EventLog) -> Callable[[PolicySource], Interceptor]:
        from lilith.core.tool_pinning import ToolPinning

        return lambda policy: ToolPinning(policy, self.review, audit, log, self.default_mode)
