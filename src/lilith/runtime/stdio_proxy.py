"""The stdio shell: moves bytes between the client, the session and the supervised server.

Threads with blocking reads, not asyncio: on these machines an event-loop wake-up per message costs more
than the whole 0.1 ms budget for added latency, while a blocked ``os.read`` in a dedicated thread wakes
directly. Each direction has one reader thread; the main thread only handles lifecycle events (client
gone, server gone, signals), so the hot path never waits on anything but its own pipe.
"""

from __future__ import annotations

import gc
import os
import queue
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import FrameType
from typing import Any

from lilith.audit.writer import AuditFile, NoAudit
from lilith.core.framing import LineFramer, OversizedLine
from lilith.core.session import Effects, Session
from lilith.errors import AuditWriteError, ServerStartError
from lilith.runtime.logs import StderrLog
from lilith.runtime.policy_holder import PolicyHolder
from lilith.runtime.supervisor import ServerExit, ServerProcess, ServerSpec, start_server

READ_CHUNK = 64 * 1024  # below glibc's mmap threshold: a bigger buffer costs an mmap + mremap + munmap per read
POLICY_POLL_SECONDS = 1.0
DEADLINE_POLL_SECONDS = 0.1  # how late a request timeout may be noticed, at worst (an idle wake-up costs ~20 µs)
GC_YOUNG_THRESHOLD = 50_000


@dataclass(frozen=True, slots=True)
class ProxyOptions:
    restart: str = "never"  # or "on-failure"
    max_restarts: int = 3
    restart_backoff_seconds: float = 0.5
    stdin_grace_seconds: float = 2.0
    term_grace_seconds: float = 2.0


@dataclass(frozen=True, slots=True)
class _Event:
    kind: str  # "client_eof" | "server_eof" | "signal" | "reload"
    detail: Any = None


class _Pipe:
    """A blocking fd with a lock so whole lines from several threads never interleave."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self._lock = threading.Lock()
        self.broken = False

    def write_lines(self, lines: list[bytes]) -> bool:
        if not lines:
            return True
        data = lines[0] if len(lines) == 1 else b"".join(lines)
        with self._lock:
            if self.broken:
                return False
            try:
                written = os.write(self.fd, data)
                if written < len(data):
                    view = memoryview(data)[written:]
                    while view:
                        view = view[os.write(self.fd, view) :]
            except OSError:
                self.broken = True
                return False
        return True


class StdioProxy:
    def __init__(
        self,
        session: Session,
        spec: ServerSpec,
        log: StderrLog,
        options: ProxyOptions | None = None,
        *,
        client_in: int = 0,
        client_out: int = 1,
        start: Callable[[ServerSpec], ServerProcess] = start_server,
        first_server: ServerProcess | None = None,
        policy: PolicyHolder | None = None,
        audit: AuditFile | NoAudit | None = None,
    ) -> None:
        self._session = session
        self._spec = spec
        self._log = log
        self._options = options or ProxyOptions()
        self._client_in = client_in
        self._client = _Pipe(client_out)
        self._start = start
        self._first_server = first_server
        self._policy = policy
        self._audit = audit
        self._events: queue.SimpleQueue[_Event] = queue.SimpleQueue()
        self._session_lock = threading.Lock()
        self._server_ready = threading.Event()
        self._server: ServerProcess | None = None
        self._server_pipe: _Pipe | None = None
        self._generation = 0
        self._stopping = False

    # ------------------------------------------------------------------ lifecycle (main thread)
    def run(self) -> int:
        """Serve until the client leaves or the server is gone for good; return the exit code."""
        try:
            return self._serve()
        finally:
            if self._audit is not None:
                self._audit.close()

    def _serve(self) -> int:
        self._install_signal_handlers()
        # Per-message objects are acyclic and freed by reference counting; the cyclic collector only adds
        # pauses on the hot path. Freeze what start-up allocated and collect young objects rarely.
        gc.freeze()
        gc.set_threshold(GC_YOUNG_THRESHOLD, 20, 20)
        try:
            self._launch(replay=False)
        except ServerStartError as exc:
            self._log.log("error", "server_start_failed", error=str(exc))
            return 1
        threading.Thread(target=self._client_loop, name="lilith-client-reader", daemon=True).start()
        restarts = 0
        next_tick = time.monotonic() + POLICY_POLL_SECONDS
        while True:
            try:
                event = self._events.get(timeout=self._wait_seconds(next_tick))
            except queue.Empty:
                event = None
            now = time.monotonic()
            if now >= next_tick:
                next_tick = now + POLICY_POLL_SECONDS
                self._tick()
            self._expire_requests()
            if event is None:
                continue
            if event.kind == "reload":
                if self._policy is not None:
                    self._policy.reload("SIGHUP")
                continue
            if event.kind == "client_eof":
                self._log.log("info", "client_closed")
                self._shutdown()
                return self._ended("client_closed", 0)
            if event.kind == "signal":
                self._log.log("info", "signal_received", signal=signal.Signals(event.detail).name)
                self._shutdown()
                return self._ended("signal", 128 + int(event.detail))
            if event.kind == "server_eof" and event.detail == self._generation:
                ended = self._reap_server()
                if self._options.restart == "on-failure" and restarts < self._options.max_restarts and _failed(ended):
                    restarts += 1
                    delay = self._options.restart_backoff_seconds * (2 ** (restarts - 1))
                    self._log.log("warning", "server_restarting", attempt=restarts, delay_seconds=delay)
                    time.sleep(delay)
                    try:
                        self._launch(replay=True)
                        self._record({"event": "server_restart", "attempt": restarts, "pid": self._pid()})
                        continue
                    except ServerStartError as exc:
                        self._log.log("error", "server_restart_failed", error=str(exc))
                return self._ended("server_exit", 0 if ended.returncode == 0 and ended.limit is None else 1)

    @staticmethod
    def _wait_seconds(next_tick: float) -> float:
        """Until the next tick, but never longer than the deadline poll: a request that arrives while this
        thread sleeps must not wait a whole tick to be timed out (waking the loop per request costs more)."""
        return max(0.0, min(next_tick - time.monotonic(), DEADLINE_POLL_SECONDS))

    def _expire_requests(self) -> None:
        with self._session_lock:
            deadline = self._session.next_deadline()
            if deadline is None or deadline > time.monotonic():
                return
            expired = self._session.expire()
        self._execute(expired.effects)
        server = self._server
        if expired.startup_failed and server is not None:
            # A server that cannot answer its first request in time is not coming up: treat it as failed
            # (the reader sees its stdout close; restart policy and exit code follow as for a crash).
            self._log.log("error", "server_start_timed_out", pid=server.pid)
            server.kill()

    def _ended(self, reason: str, exit_code: int) -> int:
        counts = self._session.counts
        self._record({"event": "session_end", "reason": reason, "exit_code": exit_code, **counts})
        return exit_code

    def _record(self, record: dict[str, Any]) -> None:
        """Lifecycle records: written when possible; nothing waits on them, so a failure is only logged."""
        if self._audit is None:
            return
        try:
            self._audit.record(record)
        except AuditWriteError as exc:
            self._log.log("error", "audit_write_failed", error=str(exc))

    def _pid(self) -> int | None:
        return self._server.pid if self._server is not None else None

    def _launch(self, *, replay: bool) -> None:
        server, self._first_server = self._first_server or self._start(self._spec), None
        self._generation += 1
        pipe = _Pipe(server.stdin_fd)
        self._server, self._server_pipe = server, pipe
        self._log.log("info", "server_started", pid=server.pid, argv=list(self._spec.argv))
        if replay:
            with self._session_lock:
                effects = self._session.handshake_replay()
            pipe.write_lines(effects.to_server)
        generation = self._generation
        threading.Thread(
            target=self._server_loop, args=(server, generation), name=f"lilith-server-reader-{generation}", daemon=True
        ).start()
        self._server_ready.set()

    def _reap_server(self) -> ServerExit:
        """The server's stdout ended: collect its exit, then fail every request still waiting on it."""
        self._server_ready.clear()
        server = self._server
        if server is None:  # pragma: no cover - the loop only runs with a server
            raise RuntimeError("no server to reap")
        server.wait(timeout=0.5)
        ended = server.kill()  # also closes our ends of its pipes (when it is gone already, only that)
        self._log.log(
            "error" if _failed(ended) else "info",
            "server_exited",
            reason=ended.reason,
            returncode=ended.returncode,
            signal=ended.signal,
            limit=ended.limit,
        )
        with self._session_lock:
            failed = self._session.in_flight
            effects = self._session.server_lost(_describe(ended))
        self._client.write_lines(effects.to_client)
        self._record(
            {
                "event": "server_exit",
                "pid": server.pid,
                "returncode": ended.returncode,
                "signal": ended.signal,
                "reason": ended.reason,
                "limit": ended.limit,
                "pending_failed": failed,
            }
        )
        return ended

    def _tick(self) -> None:
        """Once a second when idle: pick up a changed policy file; flush the audit log (fsync interval)."""
        if self._policy is not None:
            self._policy.reload_if_changed()
        if self._audit is not None:
            try:
                self._audit.sync()
            except AuditWriteError as exc:
                self._log.log("error", "audit_sync_failed", error=str(exc))

    def _shutdown(self) -> None:
        self._stopping = True
        server = self._server
        if server is not None:
            ended = server.shutdown(self._options.stdin_grace_seconds, self._options.term_grace_seconds)
            self._log.log("info", "server_stopped", reason=ended.reason)

    def _install_signal_handlers(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return

        def handler(signum: int, _frame: FrameType | None) -> None:
            self._events.put(_Event("signal", signum))

        def reload(_signum: int, _frame: FrameType | None) -> None:
            self._events.put(_Event("reload"))

        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, handler)
        signal.signal(signal.SIGHUP, reload)

    # ------------------------------------------------------------------ data paths (reader threads)
    def _client_loop(self) -> None:
        framer = LineFramer(self._session.limits.max_client_line_bytes)
        try:
            while True:
                try:
                    chunk = os.read(self._client_in, READ_CHUNK)
                except OSError as exc:
                    self._log.log("error", "client_read_failed", error=str(exc))
                    break
                if not chunk:
                    break
                self._handle_chunk(framer.feed(chunk), self._session.from_client)
        finally:
            self._events.put(_Event("client_eof"))

    def _server_loop(self, server: ServerProcess, generation: int) -> None:
        framer = LineFramer(self._session.limits.max_server_line_bytes)
        try:
            while True:
                try:
                    chunk = os.read(server.stdout_fd, READ_CHUNK)
                except OSError as exc:
                    self._log.log("error", "server_read_failed", error=str(exc))
                    break
                if not chunk:
                    break
                self._handle_chunk(framer.feed(chunk), self._session.from_server)
        finally:
            self._events.put(_Event("server_eof", generation))

    def _handle_chunk(
        self, lines: list[bytes | OversizedLine], handle: Callable[[bytes | OversizedLine], Effects]
    ) -> None:
        """Handle every line of one read, then write each direction once: under pipelined load this turns
        a write per message into a write per read, while a lone message still goes out at once."""
        if len(lines) == 1:
            with self._session_lock:
                effects = handle(lines[0])
            self._execute(effects)
            return
        combined = Effects()
        # One lock hold per read, not per line: per-line hand-offs between the two reader threads were a
        # third of Lilith's CPU time under pipelined load.
        with self._session_lock:
            for line in lines:
                effects = handle(line)
                combined.to_server += effects.to_server
                combined.to_client += effects.to_client
        self._execute(combined)

    def _execute(self, effects: Effects) -> None:
        if effects.to_server:
            if not self._server_ready.is_set():
                self._server_ready.wait()
            pipe = self._server_pipe
            if pipe is not None and not pipe.write_lines(effects.to_server) and not self._stopping:
                self._log.log("warning", "server_write_failed")
        if effects.to_client and not self._client.write_lines(effects.to_client):
            self._log.log("info", "client_write_failed")
            self._events.put(_Event("client_eof"))


def _failed(ended: ServerExit) -> bool:
    return ended.returncode != 0 or ended.limit is not None


def _describe(ended: ServerExit) -> str:
    return "exited unexpectedly" if not ended.reason else f"is gone ({ended.reason})"
