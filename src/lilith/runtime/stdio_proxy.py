"""The stdio shell: moves bytes between the client, the session and the supervised server.

Each direction has one reader thread (``message_pump``); the main thread only handles lifecycle events
(client gone, server gone, signals), so the hot path never waits on anything but its own pipe.

The main thread never blocks on a peer: a server that stopped reading or a client that stopped reading
must not keep it from timing requests out, from handling signals or from stopping the server. What it has
for either peer goes through a courier thread: answers for the client (timeouts, a lost server's requests)
and cancellations for the server (advisory, so their queue is bounded: beyond it they are dropped, and
said). Logging never blocks either (see ``logs.StderrQueue``).

Ending: the server reader owns the server's stdout and reads it to EOF, so answers the server wrote before
it ended reach the client; whatever is still pending then is answered with an error; then the client pipe
is shut after the write under way, so a client that reads never sees half a line. Every wait is bounded by
the shutdown grace, renewed while answers still flow: the client takes what was written to it, or the
server's output is still being read (see ``Patience``); the server is not signalled while it is only held
up by a slow client. A client that hung up is noticed even while its reader is stuck on the server.
A client that only closed its input (a one-shot pipeline) and still reads gets the answers it is owed: the
server sees EOF at once, but is signalled only once they came or their own deadlines ran out.
"""

from __future__ import annotations

import gc
import math
import queue
import select
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import FrameType
from typing import Any

from lilith.audit.writer import AuditFile, NoAudit
from lilith.core.session import Session
from lilith.errors import AuditWriteError, ServerStartError
from lilith.runtime.client_hangup import ClientHangup
from lilith.runtime.logs import StderrLog
from lilith.runtime.message_pump import MessagePump
from lilith.runtime.pipes import Courier, Patience, Pipe
from lilith.runtime.policy_holder import PolicyHolder
from lilith.runtime.supervisor import ServerExit, ServerProcess, ServerSpec, start_server

POLICY_POLL_SECONDS = 1.0
DEADLINE_POLL_SECONDS = 0.1  # how late a request timeout may be noticed, at worst (an idle wake-up costs ~20 µs)
GC_YOUNG_THRESHOLD = 50_000
SERVER_NOTICE_LIMIT = 1000  # cancellations that may wait for a server that does not read; more are dropped


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
        self._client = Pipe.watched(client_out)
        self._courier = Courier(self._client, self._client_lost, "lilith-client-courier")
        self._pump = MessagePump(
            session,
            self._client,
            log,
            answers=self._courier,
            on_client_eof=self._client_gone,
            on_client_lost=self._client_lost,
            on_server_eof=lambda generation: self._events.put(_Event("server_eof", generation)),
        )
        self._hangup = ClientHangup(client_in, self._options.stdin_grace_seconds)
        self._start = start
        self._first_server = first_server
        self._policy = policy
        self._audit = audit
        self._events: queue.SimpleQueue[_Event] = queue.SimpleQueue()
        self._server: ServerProcess | None = None
        self._server_courier: Courier | None = None
        self._server_reader: threading.Thread | None = None
        self._client_reader: threading.Thread | None = None
        self._client_closed = threading.Event()  # the client's stdin ended, or its stdout broke
        self._generation = 0
        self._signals = 0

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
        self._client_reader = threading.Thread(
            target=self._pump.client_loop, args=(self._client_in,), name="lilith-client-reader", daemon=True
        )
        self._client_reader.start()
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
                self._tick(now)
            self._expire_requests()
            if event is None:
                continue
            if event.kind == "reload":
                if self._policy is not None:
                    self._policy.reload("SIGHUP")
                continue
            if event.kind == "client_eof":
                self._log.log("info", "client_closed")
                return self._stop("client_closed")
            if event.kind == "signal":
                self._log.log("info", "signal_received", signal=signal.Signals(event.detail).name)
                return self._stop("signal", 128 + int(event.detail))
            if event.kind == "server_eof" and event.detail == self._generation:
                if self._client_closed.is_set():  # the client left as the server ended: an ordinary end
                    ended = self._reap_server(failed=False)
                    return self._finish("client_closed", 0 if ended.returncode == 0 and ended.limit is None else 1)
                # The client still talks to it, so any end of the server is a failure, even status 0.
                self._reap_server(failed=True)
                if self._options.restart == "on-failure" and restarts < self._options.max_restarts:
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
                        self._fail_pending("could not be restarted")  # requests sent during the back-off
                return self._finish("server_exit", 1)

    @staticmethod
    def _wait_seconds(next_tick: float) -> float:
        """Until the next tick, but never longer than the deadline poll: a request that arrives while this
        thread sleeps must not wait a whole tick to be timed out (waking the loop per request costs more)."""
        return max(0.0, min(next_tick - time.monotonic(), DEADLINE_POLL_SECONDS))

    def _expire_requests(self) -> None:
        with self._pump.session_lock:
            deadline = self._session.next_deadline()
            if deadline is None or deadline > time.monotonic():
                return
            expired = self._session.expire()
        # The client's answers first; a server that does not read its stdin (the likely reason for the
        # timeout) must not block this thread either: both go by courier.
        self._pump.deliver_answers(expired.effects.to_client)
        self._advise_server(expired.effects.to_server)
        server = self._server
        if expired.startup_failed and server is not None:
            # A server that cannot answer its first request in time is not coming up: treat it as failed
            # (the reader sees its stdout close; restart policy and exit code follow as for a crash).
            self._log.log("error", "server_start_timed_out", pid=server.pid)
            server.kill()

    def _advise_server(self, lines: list[bytes]) -> None:
        """Advisory lines for the server (cancellations): queued unless the queue is full."""
        if self._pump.stopping:  # its stdin is closed: nothing reaches it any more
            return
        courier = self._server_courier
        dropped = len(lines) - (courier.deliver(lines) if courier is not None else 0)
        if dropped and courier is not None:
            detail = f"queue full: {courier.waiting()} notices are still waiting for the server to read its stdin"
            self._log.log("warning", "server_notice_dropped", lines=dropped, detail=detail)

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
        stdin_fd, stdout_fd = server.take_pipes()  # our threads close them: see _server_loop and Pipe.close
        self._generation += 1
        pipe = Pipe(stdin_fd, owned=True)
        courier = Courier(pipe, _ignore, f"lilith-server-courier-{self._generation}", limit=SERVER_NOTICE_LIMIT)
        self._log.log("info", "server_started", pid=server.pid, argv=list(self._spec.argv))
        if replay:
            with self._pump.session_lock:
                effects = self._session.handshake_replay()
            if effects.to_server:
                # The handshake must reach the new server before anything else; holding the pipe's lock
                # until it is written orders it first without this thread waiting for the server to read.
                pipe.hold()
                threading.Thread(
                    target=pipe.write_held, args=(effects.to_server,), name="lilith-handshake-replay", daemon=True
                ).start()
        self._server, self._pump.server_pipe, self._server_courier = server, pipe, courier
        generation = self._generation
        self._server_reader = threading.Thread(
            target=self._pump.server_loop,
            args=(stdout_fd, generation),
            name=f"lilith-server-reader-{generation}",
            daemon=True,
        )
        self._server_reader.start()
        self._pump.server_ready.set()

    def _reap_server(self, *, failed: bool) -> ServerExit:
        """The server's stdout ended: collect its exit, then fail every request still waiting on it."""
        self._pump.server_ready.clear()
        server = self._server
        if server is None:  # pragma: no cover - the loop only runs with a server
            raise RuntimeError("no server to reap")
        self._close_server_pipe()
        server.wait(timeout=0.5)
        ended = server.kill()  # a tree that closed its stdout but lives on is stopped here
        self._server_gone(server, ended, failed=failed or ended.limit is not None)
        return ended

    def _server_gone(
        self, server: ServerProcess, ended: ServerExit, *, failed: bool, event: str = "server_exited"
    ) -> None:
        """Log the server's end and answer what it left pending. A failure is always ``server_exited``; the
        audit log records every end but a clean stop that left nothing pending (the session's end says it)."""
        event = "server_exited" if failed else event
        self._log.log(
            "error" if failed else "info",
            event,
            reason=ended.reason,
            returncode=ended.returncode,
            signal=ended.signal,
            limit=ended.limit,
        )
        pending = self._fail_pending(_describe(ended))
        courier = self._server_courier
        if courier is not None and courier.waiting():  # what a server that stopped reading never got
            self._log.log("warning", "server_notices_undelivered", lines=courier.waiting())
        if event == "server_exited" or pending:
            self._record(
                {
                    "event": "server_exit",
                    "pid": server.pid,
                    "returncode": ended.returncode,
                    "signal": ended.signal,
                    "reason": ended.reason,
                    "limit": ended.limit,
                    "pending_failed": pending,
                }
            )

    def _close_server_pipe(self) -> None:
        """EOF for the server now, or once a write blocked on it ends; its courier ends after its queue."""
        if self._pump.server_pipe is not None:
            self._pump.server_pipe.close()
        if self._server_courier is not None:
            self._server_courier.finish()

    def _fail_pending(self, why: str) -> int:
        """Answer every request still waiting on the server with an error (by courier); how many there were."""
        with self._pump.session_lock:
            pending = self._session.in_flight
            effects = self._session.server_lost(why)
        self._pump.deliver_answers(effects.to_client)
        return pending

    def _tick(self, now: float) -> None:
        """Once a second: pick up a changed policy file; flush the audit log (fsync interval); notice a
        client that hung up while its reader is stuck writing to a server that does not read."""
        if self._policy is not None:
            self._policy.reload_if_changed()
        if self._audit is not None:
            try:
                self._audit.sync()
            except AuditWriteError as exc:
                self._log.log("error", "audit_sync_failed", error=str(exc))
        if self._hangup.gone(now, self._pump.client_reads):
            self._log.log("info", "client_hung_up", detail="while Lilith was blocked writing to the server")
            self._client_gone()

    def _client_gone(self) -> None:
        if not self._client_closed.is_set():
            self._client_closed.set()
            self._events.put(_Event("client_eof"))

    def _client_lost(self) -> None:
        """A write to the client failed: it is gone."""
        self._log.log("info", "client_write_failed")
        self._client_gone()

    def _stop(self, reason: str, exit_code: int = 0) -> int:
        """Client gone or signal: stop the server the MCP way, then let its last answers out."""
        self._pump.stopping = True
        server = self._server
        if server is None:  # pragma: no cover - the loop only runs with a server
            return self._finish(reason, exit_code)
        if reason == "client_closed":  # nothing the server asks the client can be answered now
            with self._pump.session_lock:
                self._session.client_closed()
        self._close_server_pipe()
        signals = self._signals
        ended = server.shutdown(
            self._options.stdin_grace_seconds,
            self._options.term_grace_seconds,
            progress=self._held_up,  # a server only held up by a slow client is not signalled for that
            interrupted=lambda: self._signals > signals,
            owed=self._answers_owed if reason == "client_closed" else None,
        )
        patience = self._patience()
        patience.wait_for(self._server_reader)  # what the server wrote before it ended, to its EOF
        # A cap (CPU, memory) that ends the server during the shutdown is a failure, and said so.
        self._server_gone(server, ended, failed=ended.limit is not None, event="server_stopped")
        if ended.limit is not None and reason == "client_closed":
            exit_code = 1
        return self._finish(reason, exit_code, patience)

    def _answers_owed(self) -> bool:
        """A client that closed its input, as a one-shot pipeline does, may still read: while it does, and
        its requests may still be answered in time, the server is not signalled (talking to the server
        directly, it would get those answers). Called from within the server's shutdown, so this times
        requests out as the main loop would: each request's own deadline bounds the wait, and one without
        (a stream) is not waited for."""
        if _nobody_reads(self._client):
            return False
        self._expire_requests()
        with self._pump.session_lock:
            deadline = self._session.next_deadline()
        return deadline is not None and math.isfinite(deadline)

    def _finish(self, reason: str, exit_code: int, patience: Patience | None = None) -> int:
        """Deliver what is on its way to the client, then shut the client pipe (never mid-line)."""
        self._pump.stopping = True
        self._pump.server_ready.set()  # the server is gone for good: a reader waiting for it goes on, and fails fast
        patience = patience or self._patience()
        if reason == "client_closed" and not self._client.broken:  # the client reader is ending: let it
            patience.wait_for(self._client_reader)  # write what it has (answers to refused calls)
        else:  # the chunk under way is handled to its end (its refusals written), and no other is started
            patience.wait(lambda timeout: self._pump.intake.acquire(timeout=timeout))
        self._fail_pending("is gone")  # requests that came in while the server was stopped
        patience.wait_for(self._courier.finish())
        if not self._client.shut(patience):
            self._log.log("warning", "client_write_abandoned", detail="the client stopped reading")
        return self._ended(reason, exit_code)

    def _patience(self) -> Patience:
        """The ending's wait for writes to the client: the shutdown grace, renewed while answers still
        flow; one more signal cuts it short."""
        signals = self._signals
        return Patience(self._flowing, self._options.stdin_grace_seconds, lambda: self._signals > signals)

    def _flowing(self) -> object:
        """Changes while answers flow: the client takes what was written to it, the server's output is read
        (to its end: by now the server is gone)."""
        return self._client.mark(), self._pump.server_reads

    def _held_up(self) -> object:
        """Changes while a write to the client waits for it and it takes more: the server's answers are held
        up by a slow client. A server that only goes on talking (or never stops) is not waited for."""
        return self._client.mark() if self._client.busy() else None

    def _install_signal_handlers(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return

        def handler(signum: int, _frame: FrameType | None) -> None:
            self._signals += 1
            self._events.put(_Event("signal", signum))

        def reload(_signum: int, _frame: FrameType | None) -> None:
            self._events.put(_Event("reload"))

        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, handler)
        signal.signal(signal.SIGHUP, reload)


def _nobody_reads(client: Pipe) -> bool:
    """The client is gone entirely: a write to it failed, or nobody holds its end of our stdout any more
    (poll says so before anything is written: POLLERR for a pipe, POLLHUP for a socket shut both ways)."""
    if client.broken:
        return True
    try:
        poller = select.poll()
        poller.register(client.fd, 0)  # errors and hang-ups are reported whatever is asked for
        events = poller.poll(0)
    except OSError:
        return False
    return any(mask & (select.POLLERR | select.POLLHUP | select.POLLNVAL) for _fd, mask in events)


def _ignore() -> None:
    """A server pipe that broke: its reader sees the server's end and says so."""


def _describe(ended: ServerExit) -> str:
    return "exited unexpectedly" if not ended.reason else f"is gone ({ended.reason})"
