"""The hot path: one reader thread per direction feeds the session and writes what it decides.

Threads with blocking reads, not asyncio: on these machines an event-loop wake-up per message costs more
than the whole 0.1 ms budget for added latency, while a blocked ``os.read`` in a dedicated thread wakes
directly. The readers share one lock around the session (its state is not thread-safe) and write outside
it, so a peer that stops reading holds up only its own direction.

Lilith's own answers to the client (a denied call, a malformed line, a replayed id) are made by the client
reader but belong to the other direction: they go by the client courier, in order, so a client that does
not read its stdout (a server flooding it) never keeps the client's later lines (a cancellation, an allowed
call) from reaching the server. Answers to different ids may then reach the client in another order than
the requests; each answer (a batch's too) is still one whole line. The courier's backlog is bounded: a
client that sends more than ``CLIENT_BACKLOG`` lines' worth of refusals without reading any is not read
from either until it takes some (back-pressure, as with any peer that does not read).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable

from lilith.core.framing import LineFramer, OversizedLine
from lilith.core.session import Effects, Session
from lilith.runtime.logs import StderrLog
from lilith.runtime.pipes import Courier, Pipe

READ_CHUNK = 64 * 1024  # below glibc's mmap threshold: a bigger buffer costs an mmap + mremap + munmap per read
CLIENT_BACKLOG = 1024  # Lilith's own answers waiting for the client; beyond it the client reader waits for room
_BACKLOG_POLL_SECONDS = 0.01  # how often a client reader that waits for room looks again (only when it is full)

Handler = Callable[[bytes | OversizedLine], Effects]
_STALE = "made for a server that is gone, whose requests were already answered"


class MessagePump:
    """Moves lines between the peers through the session. The lifecycle (main thread) starts the readers,
    points ``server_pipe`` at each new server and watches the read counters to tell a stuck peer from a
    slow one."""

    def __init__(
        self,
        session: Session,
        client: Pipe,
        log: StderrLog,
        *,
        answers: Courier,
        on_client_eof: Callable[[], None],
        on_client_lost: Callable[[], None],
        on_server_eof: Callable[[int], None],
    ) -> None:
        self.session = session
        self.session_lock = threading.Lock()
        self.intake = threading.Lock()  # held by the client reader while it handles a chunk; kept by the end
        self.server_ready = threading.Event()
        self.server_pipe: Pipe | None = None
        self.client_reads = 0  # os.read calls of the client reader: is it still getting anywhere?
        self.server_reads = 0  # ... and of the server reader: are the server's answers still flowing?
        self.stopping = False  # writes that fail now are expected, not worth a warning
        self._client = client
        self._answers = answers  # the client courier: Lilith's own answers, from any thread but the server reader
        self._answers_lock = threading.Lock()  # its deliveries come from the client reader and the main thread
        self._log = log
        self._on_client_eof = on_client_eof
        self._on_client_lost = on_client_lost
        self._on_server_eof = on_server_eof

    def client_loop(self, client_in: int) -> None:
        framer = LineFramer(self.session.limits.max_client_line_bytes)
        try:
            while True:
                try:
                    chunk = os.read(client_in, READ_CHUNK)
                except OSError as exc:
                    self._log.log("error", "client_read_failed", error=str(exc))
                    break
                self.client_reads += 1
                if not chunk:
                    break
                with self.intake:
                    self._handle_chunk(framer.feed(chunk), self.session.from_client, self._answer_client)
        finally:
            self._on_client_eof()

    def server_loop(self, stdout_fd: int, generation: int) -> None:
        """Read the server's stdout to EOF (the tree is gone, or closed it), then close it: this thread owns it."""
        framer = LineFramer(self.session.limits.max_server_line_bytes)
        try:
            while True:
                try:
                    chunk = os.read(stdout_fd, READ_CHUNK)
                except OSError as exc:
                    self._log.log("error", "server_read_failed", error=str(exc))
                    break
                self.server_reads += 1
                if not chunk:
                    break
                self._handle_chunk(framer.feed(chunk), self.session.from_server, self._write_client)
        finally:
            os.close(stdout_fd)
            self._on_server_eof(generation)

    def deliver_answers(self, lines: list[bytes]) -> None:
        """Queue Lilith's own answers for the client (never waits: the main thread's timeouts and failures)."""
        if lines:
            with self._answers_lock:
                self._answers.deliver(lines)

    def _answer_client(self, lines: list[bytes]) -> None:
        """The client reader's answers for the client: queued for the courier, so this thread goes on reading
        the client however full the client's stdout is; it waits only while the backlog is full."""
        while self._answers.waiting() >= CLIENT_BACKLOG and not self._client.broken:
            time.sleep(_BACKLOG_POLL_SECONDS)
        self.deliver_answers(lines)

    def _write_client(self, lines: list[bytes]) -> None:
        """The server reader's lines for the client, written by this thread: it waits while the client does
        not read, so a server that floods the client is read no faster than the client reads."""
        if not self._client.write_lines(lines) and not self._client.closed:
            self._on_client_lost()

    def _handle_chunk(
        self, lines: list[bytes | OversizedLine], handle: Handler, to_client: Callable[[list[bytes]], None]
    ) -> None:
        """Handle every line of one read, then write each direction once: under pipelined load this turns
        a write per message into a write per read, while a lone message still goes out at once."""
        session = self.session
        if len(lines) == 1:
            with self.session_lock:
                effects = handle(lines[0])
                epoch = session.server_epoch
            self._execute(effects, epoch, to_client)
            return
        combined = Effects()
        # One lock hold per read, not per line: per-line hand-offs between the two reader threads were a
        # third of Lilith's CPU time under pipelined load.
        with self.session_lock:
            for line in lines:
                effects = handle(line)
                combined.to_server += effects.to_server
                combined.to_client += effects.to_client
            epoch = session.server_epoch
        self._execute(combined, epoch, to_client)

    def _execute(self, effects: Effects, epoch: int, to_client: Callable[[list[bytes]], None]) -> None:
        """Reader threads only: these writes block while the peer does not read (back-pressure).
        ``epoch``: the session's server epoch the lines were made in. Lines made for a server that is gone
        are dropped, never written to its successor: the session answered their requests already (a
        request read while the dead server was being reaped waits here for the next one, and would
        otherwise run there after its client was told it failed), and an answer to the old server's
        request must not reach a new one."""
        if effects.to_server:
            if not self.server_ready.is_set():
                self.server_ready.wait()
            pipe = self.server_pipe  # read before the epoch: a pipe set after the check is a newer server's
            if self.session.server_epoch != epoch:
                if not self.stopping:
                    self._log.log("warning", "server_write_dropped", lines=len(effects.to_server), detail=_STALE)
            elif pipe is not None and not pipe.write_lines(effects.to_server) and not self.stopping:
                self._log.log("warning", "server_write_failed")
        if effects.to_client:
            to_client(effects.to_client)
