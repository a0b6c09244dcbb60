"""Whole-line writers for the stdio shell's two peers.

``Pipe`` is a blocking fd behind a lock, so lines from several threads never interleave. Reader threads
write through it and may block there: that is the back-pressure that keeps memory bounded. The main thread
must never block on a peer (it handles signals, deadlines and shutdown), so it uses ``try_write_line``
(advisory lines: written now or dropped) or a ``Courier`` (answers: written by a thread of their own).
"""

from __future__ import annotations

import os
import queue
import select
import threading
import time
from collections.abc import Callable

WRITE_CHUNK = 64 * 1024  # a longer message is written in pieces of this size, so its progress can be seen
_ATOMIC_BYTES = select.PIPE_BUF  # a pipe write up to this size is all or nothing, even without blocking
_LOCK_POLL_SECONDS = 0.05
_JOIN_POLL_SECONDS = 0.1


class Pipe:
    """A blocking fd with a lock so whole lines from several threads never interleave.

    ``close()`` ends writing; with ``owned`` it also closes the fd, never while a write is under way (a
    closed number can be reused at once by another open, and a write would then land in the wrong file).
    """

    def __init__(self, fd: int, *, owned: bool = False) -> None:
        self.fd = fd
        self._owned = owned
        self._lock = threading.Lock()
        self.broken = False  # no write will be attempted any more (the peer is gone, or we closed it)
        self.closed = False  # ... because close() or shut() said so
        self.progress = 0  # pieces of long messages written so far: tells a slow reader from a stuck one
        self._close_pending = False

    def write_lines(self, lines: list[bytes]) -> bool:
        """Write ``lines`` whole, blocking as long as the peer does not read. False if nothing more can go."""
        if not lines:
            return True
        data = lines[0] if len(lines) == 1 else b"".join(lines)
        try:
            with self._lock:
                if self.broken:
                    return False
                try:
                    written = os.write(self.fd, data) if len(data) <= WRITE_CHUNK else 0  # the hot path: one write
                    if written < len(data):
                        self._write_rest(memoryview(data)[written:])
                except OSError:
                    self.broken = True
                    return False
                return True
        finally:
            if self._close_pending:
                self.close()

    def _write_rest(self, view: memoryview) -> None:
        while view:
            view = view[os.write(self.fd, view[:WRITE_CHUNK]) :]
            self.progress += 1

    def hold(self) -> None:
        """Take the lock now, for ``write_held`` to write and release later, from another thread: lines that
        must come first (a restarted server's handshake) go out before any other, without the caller waiting."""
        self._lock.acquire()

    def write_held(self, lines: list[bytes]) -> None:
        try:
            if not self.broken:
                self._write_rest(memoryview(b"".join(lines)))
        except OSError:
            self.broken = True
        finally:
            self._lock.release()
            if self._close_pending:
                self.close()

    def try_write_line(self, line: bytes) -> bool:
        """Write ``line`` only if that cannot block: the lock is free, the fd is a pipe with room for it, and
        it is at most PIPE_BUF bytes (so it goes whole or not at all). False if it was not written.

        Only for fds no other process writes to: O_NONBLOCK is set on the open file for the moment."""
        if len(line) > _ATOMIC_BYTES or not self._lock.acquire(blocking=False):
            return False
        try:
            if self.broken:
                return False
            try:
                os.set_blocking(self.fd, False)
                try:
                    os.write(self.fd, line)
                finally:
                    os.set_blocking(self.fd, True)
            except BlockingIOError:
                return False
            except OSError:
                self.broken = True
                return False
        finally:
            self._lock.release()
            if self._close_pending:
                self.close()
        return True

    def close(self) -> None:
        """No more writes; close the fd if we own it. When a write holds the lock (it may be blocked on a peer
        that does not read), that writer closes it as soon as its write ends: this never waits."""
        self._close_pending = True
        if not self._lock.acquire(blocking=False):
            return  # the holder sees _close_pending after releasing the lock and comes back here
        try:
            if not self.closed:
                self.closed = self.broken = True
                if self._owned:
                    os.close(self.fd)
        finally:
            self._lock.release()

    def shut(self, patience: Patience) -> bool:
        """Refuse every later write, once the write under way (if any) has ended: nothing after this can
        leave half a line. When ``patience`` runs out first (the peer stopped reading), give up and return
        False; the write is left where it is."""
        while not self._lock.acquire(timeout=_LOCK_POLL_SECONDS):
            if patience.left() <= 0:
                return False
        self.closed = self.broken = True
        self._lock.release()
        return True


class Patience:
    """How long an ending may still wait for a pipe's writers: ``grace`` seconds, counted again whenever
    the pipe made progress, so a slow reader still gets whole answers while one that stopped reading does
    not hold the process. ``interrupted()`` (say, a second signal) ends it at once."""

    def __init__(self, pipe: Pipe, grace: float, interrupted: Callable[[], bool]) -> None:
        self._pipe = pipe
        self._grace = grace
        self._interrupted = interrupted
        self._seen = pipe.progress
        self._since = time.monotonic()

    def left(self) -> float:
        if self._interrupted():
            return 0.0
        now = time.monotonic()
        if self._pipe.progress != self._seen:
            self._seen, self._since = self._pipe.progress, now
        return self._since + self._grace - now

    def wait_for(self, thread: threading.Thread | None) -> bool:
        """Wait for ``thread`` to end; False if patience ran out first."""
        while thread is not None and thread.is_alive():
            left = self.left()
            if left <= 0:
                return False
            thread.join(min(left, _JOIN_POLL_SECONDS))
        return True


class Courier:
    """Writes lines to a pipe from a thread of its own, in order, for a caller that must not block.

    The thread starts with the first delivery. ``on_broken`` is called (from that thread) when the pipe
    refuses a write that was not refused because it was closed.
    """

    def __init__(self, pipe: Pipe, on_broken: Callable[[], None], name: str) -> None:
        self._pipe = pipe
        self._on_broken = on_broken
        self._name = name
        self._queue: queue.SimpleQueue[list[bytes] | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None

    def deliver(self, lines: list[bytes]) -> None:
        if not lines:
            return
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
            self._thread.start()
        self._queue.put(lines)

    def finish(self) -> threading.Thread | None:
        """No more deliveries: the thread ends after the last one. Returns it, to wait for."""
        if self._thread is not None:
            self._queue.put(None)
        return self._thread

    def _run(self) -> None:
        pipe = self._pipe
        while (lines := self._queue.get()) is not None:
            if not pipe.write_lines(lines) and not pipe.closed:
                self._on_broken()
