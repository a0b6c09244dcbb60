"""Start, supervise and stop the upstream MCP server.

``start_server`` launches ``reaper.py`` (a tiny stdlib-only process, see its docstring for the protocol),
which becomes a child subreaper, forks and execs the server and owns its whole process tree. A socketpair
between Lilith and the reaper is the control channel and the lifeline: if Lilith dies, for any reason, the
reaper sees EOF and SIGKILLs everything descended from it. The reaper also enforces the tree-wide caps
(resident memory, process count) by polling /proc, and reports how the server ended.

The server runs as our user and can SIGSTOP the reaper, its parent. We look at the reaper's state as often
as it polls the caps; a stopped reaper means the server attacked its supervision, so we SIGKILL the tree
ourselves, wake the reaper to collect it, and report the end as the ``supervisor`` limit.

The server's stdin and stdout are pipes held only by Lilith and the server; its stderr is Lilith's stderr.
"""

from __future__ import annotations

import _socket  # not `socket`: its enum set-up costs ~3 ms on every start-up, for one socketpair
import contextlib
import functools
import importlib.util
import os
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from typing import NamedTuple

from lilith.errors import ServerStartError

__all__ = ["ResourceLimits", "ServerExit", "ServerLauncher", "ServerProcess", "ServerSpec", "start_server"]

_REAPER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "reaper.py")
_START_TIMEOUT = 30.0  # seconds for the reaper to report that the server was exec'd (normally a few ms)
_KILL_TIMEOUT = 10.0  # seconds for the reaper to empty the tree after SIGKILL before we kill the reaper itself
_PATIENCE_POLL = 0.05  # how often a renewable grace looks at the progress it is given
_RENEWALS_MAX = 10  # how many graces a reading client may extend each shutdown wait to, at most
_REAPER_CHECK_MS = 200  # how often we look whether the server stopped its reaper (as often as the caps are polled)
_STOPPED_REASON = "killed by SIGKILL: the server stopped its supervisor (the reaper was sent SIGSTOP)"


class ResourceLimits(NamedTuple):
    """Caps on the server. ``None`` means no cap.

    max_memory_bytes: resident memory of the whole server process tree, polled every 200 ms.
    max_cpu_seconds: RLIMIT_CPU of each process (SIGXCPU, then SIGKILL one second later).
    max_open_files: RLIMIT_NOFILE of each process.
    max_processes: live processes in the server's tree, the server included, polled every 200 ms.
    """

    max_memory_bytes: int | None = None
    max_cpu_seconds: int | None = None
    max_open_files: int | None = None
    max_processes: int | None = None


class ServerSpec(NamedTuple):
    """What to run: ``argv[0]`` is looked up in ``env["PATH"]``; exactly ``env`` is the server's environment."""

    argv: tuple[str, ...]
    env: Mapping[str, str]
    cwd: str | None = None
    limits: ResourceLimits = ResourceLimits()


class ServerExit(NamedTuple):
    """How the server ended."""

    returncode: int | None
    signal: int | None
    reason: str
    limit: str | None


class ServerProcess:
    """A running server. ``stdin_fd``/``stdout_fd`` are blocking pipe fds owned by this object.

    ``shutdown()`` and ``kill()`` close both fds once nothing of the server's tree is left, so a reader
    should stop at EOF (which it gets when the tree is gone) and not touch ``stdout_fd`` after that; unless
    the caller took them with ``take_pipes()``: then they are the caller's to close.
    """

    def __init__(
        self,
        *,
        pid: int,
        stdin_fd: int,
        stdout_fd: int,
        reaper: subprocess.Popen[bytes],
        control: _socket.socket,
        pending: bytes,
    ) -> None:
        self.pid = pid
        self.stdin_fd = stdin_fd
        self.stdout_fd = stdout_fd
        self._reaper = reaper
        self._control = control
        self._control_open = True
        self._control_lock = threading.Lock()
        self._fd_lock = threading.Lock()
        self._stdin_open = True
        self._stdout_open = True
        self._shutdown_lock = threading.Lock()
        self._done = threading.Event()
        self._exit: ServerExit | None = None
        self._reaper_was_stopped = False
        self._watcher = threading.Thread(
            target=self._watch, args=(pending,), name=f"lilith-server-{pid}-watch", daemon=True
        )
        self._watcher.start()

    def __repr__(self) -> str:
        state = "running" if self._exit is None else self._exit.reason
        return f"<ServerProcess pid={self.pid} {state}>"

    # -- public API ------------------------------------------------------------------------------------------
    def take_pipes(self) -> tuple[int, int]:
        """Hand ``(stdin_fd, stdout_fd)`` over to the caller, who closes them from now on.

        For a caller with threads on the pipes: what the server wrote before it ended is still in the stdout
        pipe when the tree is gone, and only the thread reading it knows when it has all of it (EOF); a
        thread may be blocked writing to stdin, and closing an fd under it would let the number be reused.
        ``shutdown()`` then no longer closes stdin: the caller closes it to tell the server to stop.
        """
        with self._fd_lock:
            self._stdin_open = self._stdout_open = False
        return self.stdin_fd, self.stdout_fd

    def close_stdin(self) -> None:
        """Close our end of the server's stdin (the server sees EOF). Idempotent."""
        with self._fd_lock:
            if self._stdin_open:
                self._stdin_open = False
                os.close(self.stdin_fd)

    def wait(self, timeout: float | None) -> ServerExit | None:
        """The server's exit once nothing of its tree is left, or None after ``timeout`` seconds."""
        if self._done.wait(timeout):
            return self._exit
        return None

    def shutdown(
        self,
        stdin_grace: float = 2.0,
        term_grace: float = 2.0,
        *,
        progress: Callable[[], object] | None = None,
        interrupted: Callable[[], bool] | None = None,
        owed: Callable[[], bool] | None = None,
    ) -> ServerExit:
        """Stop the server the MCP way: close stdin, then SIGTERM the tree, then SIGKILL it. Idempotent.
        The kill needs nothing of the pipes, so it ends a write blocked on a server that stopped reading.

        Each grace starts again whenever ``progress()`` changes (say, the server's last answers are still
        being read by a slow client: it is only blocked by back-pressure, not stuck); ``interrupted()``
        (say, a second signal) ends the waiting at once. While ``owed()`` says True (say, a client that
        closed its input still waits for answers, which may still come in time), the tree is not signalled
        at all; the stdin grace starts when it turns False. ``owed()`` must itself turn False in time: it
        is polled every ``_PATIENCE_POLL`` seconds from this thread, which it may use to time requests out."""
        with self._shutdown_lock:
            if not self._done.is_set():
                self.close_stdin()
                if not self._wait_patiently(stdin_grace, progress, interrupted, owed):
                    self._command(b"term\n")
                    if not self._wait_patiently(term_grace, progress, interrupted):
                        self._kill_and_wait()
            return self._finish()

    def kill(self) -> ServerExit:
        """SIGKILL the whole tree now and wait until it is gone."""
        if not self._done.is_set():
            self._kill_and_wait()
        return self._finish()

    # -- internals -----------------------------------------------------------------------------------------
    def _wait_patiently(
        self,
        grace: float,
        progress: Callable[[], object] | None,
        interrupted: Callable[[], bool] | None,
        owed: Callable[[], bool] | None = None,
    ) -> bool:
        """Wait for the tree to be gone: first as long as ``owed()`` says so (its own bounds apply), then
        ``grace`` seconds, renewed while ``progress()`` changes, but never past ``_RENEWALS_MAX`` graces in
        all: a server that ignores EOF and goes on talking to a client that goes on reading would otherwise
        be waited for forever."""
        if progress is None and interrupted is None and owed is None:
            return self.wait(grace) is not None
        while owed is not None and not self._done.is_set():
            if interrupted is not None and interrupted():
                return False
            if not owed():
                break
            self._done.wait(_PATIENCE_POLL)
        seen = progress() if progress is not None else None
        started = time.monotonic()
        deadline = started + grace
        ceiling = started + grace * _RENEWALS_MAX
        while not self._done.is_set():
            if interrupted is not None and interrupted():
                return False
            now = time.monotonic()
            mark = progress() if progress is not None else None
            if mark != seen:
                seen, deadline = mark, min(now + grace, ceiling)
            if now >= deadline:
                return False
            self._done.wait(min(deadline - now, _PATIENCE_POLL))
        return True

    def _finish(self) -> ServerExit:
        self._done.wait()
        self.close_stdin()
        with self._fd_lock:
            if self._stdout_open:
                self._stdout_open = False
                os.close(self.stdout_fd)
        result = self._exit
        if result is None:  # pragma: no cover - _watch always sets it before _done
            raise RuntimeError("server exit not recorded")
        return result

    def _kill_and_wait(self) -> None:
        self._command(b"kill\n")
        if self.wait(_KILL_TIMEOUT) is None:  # the reaper is stuck: we kill its tree, then the reaper
            _kill_tree_of(self._reaper.pid)
            with contextlib.suppress(OSError):
                self._reaper.kill()
            self._done.wait()

    def _reaper_stays_stopped(self) -> bool:
        """Is the reaper stopped, and still so a moment later? (A SIGCONT to a whole process group that
        stopped with us may reach us a moment before it reaches the reaper.)"""
        if _process_state(self._reaper.pid) != b"T":
            return False
        time.sleep(0.02)
        return _process_state(self._reaper.pid) == b"T"

    def _stop_after_reaper_stopped(self) -> None:
        """The server stopped its reaper: kill the tree from here, then wake the reaper to collect it."""
        self._reaper_was_stopped = True
        _kill_tree_of(self._reaper.pid)
        with contextlib.suppress(OSError):
            os.kill(self._reaper.pid, signal.SIGCONT)
        self._command(b"kill\n")

    def _command(self, line: bytes) -> None:
        with self._control_lock:
            if not self._control_open:
                return
            with contextlib.suppress(OSError):  # the reaper is already gone; _watch reports that
                self._control.sendall(line)

    def _watch(self, pending: bytes) -> None:
        buffer = pending
        result: ServerExit | None = None
        poller = select.poll()
        poller.register(self._control.fileno(), select.POLLIN)
        while True:
            while b"\n" in buffer:
                line, _, buffer = buffer.partition(b"\n")
                parsed = _parse_exit(line)
                if parsed is not None:
                    result = parsed
            if not poller.poll(_REAPER_CHECK_MS):
                if self._reaper_stays_stopped():
                    self._stop_after_reaper_stopped()
                continue
            try:
                chunk = self._control.recv(4096)
            except OSError:
                chunk = b""
            if not chunk:
                break
            buffer += chunk
        status = self._reaper.wait()
        with self._control_lock:
            self._control_open = False
            self._control.close()
        if result is None:
            result = ServerExit(None, None, f"server supervisor (reaper) died unexpectedly ({_describe(status)})", None)
        if self._reaper_was_stopped:
            result = ServerExit(result.returncode, result.signal, _STOPPED_REASON, "supervisor")
        self._exit = result
        self._done.set()


def _process_state(pid: int) -> bytes:
    """The state letter of /proc/PID/stat (``T`` is stopped), or b"" if it cannot be read."""
    try:
        fd = os.open(f"/proc/{pid}/stat", os.O_RDONLY)
    except OSError:
        return b""
    try:
        data = os.read(fd, 4096)
    except OSError:
        return b""
    finally:
        os.close(fd)
    return data.rpartition(b")")[2][1:2]


def _kill_tree_of(reaper_pid: int) -> None:
    """SIGKILL everything descended from a reaper that cannot do it (stopped or stuck), until none lives.

    Its zombies stay for the reaper to collect. The reaper module holds the /proc scan; imported only here,
    on this rare path."""
    from lilith.runtime import reaper

    deadline = time.monotonic() + _KILL_TIMEOUT
    while (live := reaper.live_processes(reaper_pid)) and time.monotonic() < deadline:
        for pid in live:
            reaper.send_signal(pid, signal.SIGKILL)
        time.sleep(0.01)


def _describe(status: int) -> str:
    return f"killed by signal {-status}" if status < 0 else f"status {status}"


def _parse_exit(line: bytes) -> ServerExit | None:
    parts = line.decode(errors="replace").split(" ", 4)
    if len(parts) != 5 or parts[0] != "exit":
        return None
    _, code, signum, limit, reason = parts
    return ServerExit(
        returncode=None if code == "-" else int(code),
        signal=None if signum == "-" else int(signum),
        reason=reason,
        limit=None if limit == "-" else limit,
    )


def _encode_spec(spec: ServerSpec) -> bytes:
    if not spec.argv or not spec.argv[0]:
        raise ServerStartError("cannot start the server: empty command")
    limits = spec.limits
    numbers: list[bytes] = []
    for name, value in (
        ("max_memory_bytes", limits.max_memory_bytes),
        ("max_cpu_seconds", limits.max_cpu_seconds),
        ("max_open_files", limits.max_open_files),
        ("max_processes", limits.max_processes),
    ):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value <= 0):
            raise ServerStartError(f"cannot start {spec.argv[0]!r}: {name} must be a positive integer, not {value!r}")
        numbers.append(b"" if value is None else str(value).encode())
    fields = [os.fsencode(spec.cwd or ""), *numbers, str(len(spec.argv)).encode()]
    fields.extend(os.fsencode(arg) for arg in spec.argv)
    for key, text in spec.env.items():
        if not key or "=" in key:
            raise ServerStartError(f"cannot start {spec.argv[0]!r}: invalid environment variable name {key!r}")
        fields.append(os.fsencode(key) + b"=" + os.fsencode(text))
    if any(b"\0" in item for item in fields):
        raise ServerStartError(f"cannot start {spec.argv[0]!r}: NUL byte in command, environment or cwd")
    payload = b"\0".join(fields)
    return str(len(payload)).encode() + b"\n" + payload


def _fresh_bytecode(source: str, cached: str) -> bool:
    """True when ``cached`` is a .pyc of exactly ``source`` for this interpreter."""
    try:
        with open(cached, "rb") as fh:
            header = fh.read(16)
        with open(source, "rb") as fh:
            source_bytes = fh.read()
        st = os.stat(source)
    except OSError:
        return False
    if len(header) != 16 or header[:4] != importlib.util.MAGIC_NUMBER:
        return False
    flags = int.from_bytes(header[4:8], "little")
    if flags & 1:  # hash-based pyc
        return header[8:16] == importlib.util.source_hash(source_bytes)
    return (
        flags == 0
        and int.from_bytes(header[8:12], "little") == int(st.st_mtime) & 0xFFFFFFFF
        and int.from_bytes(header[12:16], "little") == len(source_bytes) & 0xFFFFFFFF
    )


@functools.cache
def reaper_program() -> str:
    """The file to run the reaper from: its compiled bytecode when we can have it.

    Compiling reaper.py costs ~9 ms at every start when run as a script, which is most of our overhead; so
    we run the .pyc that Python's import system would use (compiling it once if we may write it), checked
    against the source like an import would, and fall back to the source.
    """
    try:
        cached = importlib.util.cache_from_source(_REAPER)
    except NotImplementedError:  # an interpreter without bytecode caching
        return _REAPER
    if _fresh_bytecode(_REAPER, cached):
        return cached
    import py_compile  # only for stale bytecode, so not on every start-up

    try:
        py_compile.compile(_REAPER, cfile=cached, doraise=True)
    except (OSError, py_compile.PyCompileError):
        return _REAPER
    return cached if _fresh_bytecode(_REAPER, cached) else _REAPER


class ServerLauncher:
    """Boots the reaper ahead of time, so its interpreter start-up overlaps Lilith's own.

    ``ServerLauncher()`` starts the reaper, which waits for a spec; ``begin(spec)`` hands it over (only now is
    the server started); ``finish()`` waits for the report and returns the running server. ``cancel()``
    before ``begin`` means no server is ever started: the reaper sees EOF and exits.
    """

    def __init__(self) -> None:
        self._ours, theirs = _socket.socketpair(_socket.AF_UNIX, _socket.SOCK_STREAM)
        stdin_r, self._stdin_w = os.pipe()
        self._stdout_r, stdout_w = os.pipe()
        self._what = "cannot start the server"
        try:
            self._reaper = subprocess.Popen(
                [sys.executable, "-I", "-S", reaper_program(), str(theirs.fileno()), str(os.getpid())],
                stdin=stdin_r,
                stdout=stdout_w,
                pass_fds=(theirs.fileno(),),
                close_fds=True,
            )
        except OSError as exc:
            for fd in (self._stdin_w, self._stdout_r):
                os.close(fd)
            self._ours.close()
            raise ServerStartError(f"cannot start the supervisor process: {exc}") from exc
        finally:
            for fd in (stdin_r, stdout_w):
                os.close(fd)
            theirs.close()

    def begin(self, spec: ServerSpec) -> None:
        self._what = f"cannot start {spec.argv[0]!r}"
        try:
            self._ours.sendall(_encode_spec(spec))
        except OSError as exc:
            raise self._fail(f"{self._what}: lost the supervisor process: {exc}") from exc

    def cancel(self) -> None:
        self._fail("cancelled")

    def _fail(self, reason: str) -> ServerStartError:
        self._ours.close()  # the lifeline: the reaper kills whatever it started
        self._reaper.wait()
        for fd in (self._stdin_w, self._stdout_r):
            with contextlib.suppress(OSError):
                os.close(fd)
        return ServerStartError(reason)

    def finish(self) -> ServerProcess:
        """Wait until the server has been exec'd; raise ServerStartError if it could not be."""
        what, ours = self._what, self._ours
        buffer = b""
        try:
            deadline = time.monotonic() + _START_TIMEOUT
            while b"\n" not in buffer:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise self._fail(f"{what}: the supervisor process did not report within {_START_TIMEOUT:.0f} s")
                ours.settimeout(remaining)
                chunk = ours.recv(4096)
                if not chunk:
                    raise self._fail(f"{what}: the supervisor process exited before starting it")
                buffer += chunk
        except TimeoutError:
            raise self._fail(f"{what}: the supervisor process did not report within {_START_TIMEOUT:.0f} s") from None
        except OSError as exc:
            raise self._fail(f"{what}: lost the supervisor process: {exc}") from exc
        ours.settimeout(None)
        line, _, rest = buffer.partition(b"\n")
        kind, _, detail = line.decode(errors="replace").partition(" ")
        if kind == "error":
            raise self._fail(detail)
        if kind != "started" or not detail.isdigit():
            raise self._fail(f"{what}: unexpected report from the supervisor process: {line[:200]!r}")
        return ServerProcess(
            pid=int(detail),
            stdin_fd=self._stdin_w,
            stdout_fd=self._stdout_r,
            reaper=self._reaper,
            control=ours,
            pending=rest,
        )


def start_server(spec: ServerSpec) -> ServerProcess:
    """Start the server under a reaper. Returns once the server has been exec'd.

    Raises ServerStartError if it could not be (executable not found, bad cwd, ...).
    """
    launcher = ServerLauncher()
    launcher.begin(spec)
    return launcher.finish()
