"""Whole-line writers for the stdio shell's two peers.

``Pipe`` writes whole lines behind a lock, so lines from several threads never interleave. Reader threads
write through it and wait there while the peer does not read: that is the back-pressure that keeps memory
bounded. The main thread must never wait on a peer (it handles signals, deadlines and shutdown), so what it
has for a peer goes through a ``Courier``, a thread of its own.

An ending waits for writes to the client only while the client reads (``Patience``). To see that, the
client's writer (``Pipe.watched``) never sleeps inside the kernel where its progress is invisible: a pipe
is written through a private non-blocking handle of it (its own open file, so the client's flags are left
alone), a socket with sends that do not wait; a write that finds the peer full waits in ``poll`` and
counts each piece the peer takes. The bytes still unread in the pipe or socket are a second witness.
"""

from __future__ import annotations

import os
import queue
import select
import stat
import sys
import threading
import time
from collections.abc import Callable

WRITE_CHUNK = 64 * 1024  # a longer message is written in pieces of this size, so its progress can be seen
_LOCK_POLL_SECONDS = 0.05
_WAIT_POLL_SECONDS = 0.05  # how often an ending looks at the peer's progress
_HANGUP = select.POLLHUP | getattr(select, "POLLRDHUP", 0)  # RDHUP: a socket peer that shut down its writing


class Pipe:
    """An fd written whole lines at a time, under a lock.

    ``close()`` ends writing; with ``owned`` it also closes the fd, never while a write is under way (a
    closed number can be reused at once by another open, and a write would then land in the wrong file).
    """

    def __init__(
        self,
        fd: int,
        *,
        owned: bool = False,
        send: Callable[[bytes | memoryview], int] | None = None,
        unread_request: int | None = None,
    ) -> None:
        self.fd = fd
        self._owned = owned
        self._send = send or (lambda data: os.write(fd, data))
        self._whole = 0 if send else WRITE_CHUNK  # a sender of its own is used for every write
        self._unread_request = unread_request
        self._lock = threading.Lock()
        self.broken = False  # no write will be attempted any more (the peer is gone, or we closed it)
        self.closed = False  # ... because close() or shut() said so
        self.progress = 0  # pieces written after the first: tells a slow reader from a stuck one
        self._close_pending = False

    @classmethod
    def watched(cls, fd: int) -> Pipe:
        """A writer for ``fd`` whose waits for the peer show progress (see the module docstring); an fd that
        allows neither (a tty, a file, a pipe we may not reopen) is written as it is, blocking."""
        try:
            mode = os.fstat(fd).st_mode
        except OSError:
            return cls(fd)
        if stat.S_ISFIFO(mode):
            import termios

            try:  # a new open file of the same pipe: O_NONBLOCK on it is ours alone
                private = os.open(f"/proc/self/fd/{fd}", os.O_WRONLY | os.O_NONBLOCK)
            except OSError:
                return cls(fd, unread_request=termios.FIONREAD)
            if os.fstat(private).st_ino != os.fstat(fd).st_ino:  # pragma: no cover - /proc is not what it says
                os.close(private)
                return cls(fd, unread_request=termios.FIONREAD)
            return cls(private, owned=True, unread_request=termios.FIONREAD)
        if stat.S_ISSOCK(mode):
            import _socket
            import termios

            copy = os.dup(fd)
            try:
                sock = _socket.socket(fileno=copy)
            except OSError:
                os.close(copy)
                return cls(fd, unread_request=termios.TIOCOUTQ)
            dont_wait = _socket.MSG_DONTWAIT
            return cls(fd, send=lambda data: sock.send(data, dont_wait), unread_request=termios.TIOCOUTQ)
        if stat.S_ISCHR(mode):
            import termios

            return cls(fd, unread_request=termios.TIOCOUTQ)
        return cls(fd)

    def write_lines(self, lines: list[bytes]) -> bool:
        """Write ``lines`` whole, waiting as long as the peer does not read. False if nothing more can go."""
        if not lines:
            return True
        data = lines[0] if len(lines) == 1 else b"".join(lines)
        try:
            with self._lock:
                if self.broken:
                    return False
                try:
                    try:
                        written = os.write(self.fd, data) if len(data) <= self._whole else 0  # the hot path
                    except BlockingIOError:
                        written = 0
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
            try:
                view = view[self._send(view[:WRITE_CHUNK]) :]
            except BlockingIOError:
                self._wait_writable()
                continue
            self.progress += 1

    def _wait_writable(self) -> None:
        poller = select.poll()
        poller.register(self.fd, select.POLLOUT)
        poller.poll()  # writable, or an error the next write reports (the reader is gone)

    def unread(self) -> int | None:
        """Bytes written but not yet taken by the peer (None: unknown for this kind of fd)."""
        if self._unread_request is None or self.closed:
            return None
        import fcntl

        try:
            answer = fcntl.ioctl(self.fd, self._unread_request, b"\0\0\0\0")
        except OSError:
            return None
        return int.from_bytes(answer, sys.byteorder, signed=True)

    def busy(self) -> bool:
        """A write is under way (it may be waiting for the peer)."""
        return self._lock.locked()

    def mark(self) -> tuple[int, int | None]:
        """What changes while the peer reads: pieces written and bytes unread."""
        return self.progress, self.unread()

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


def hung_up(fd: int) -> bool:
    """The peer closed its end of ``fd`` (a pipe or socket we read), whether or not unread data is left."""
    try:
        poller = select.poll()
        poller.register(fd, select.POLLIN | _HANGUP)
        events = poller.poll(0)
    except OSError:
        return False
    return any(mask & _HANGUP for _fd, mask in events)


class Patience:
    """How long an ending may still wait for something: ``grace`` seconds, counted again whenever
    ``progress()`` changes (the client took more of what was written to it, the server's answers are still
    being read), so a slow peer still gets whole answers while a stuck one does not hold the process.
    ``interrupted()`` (say, a second signal) ends it at once."""

    def __init__(self, progress: Callable[[], object], grace: float, interrupted: Callable[[], bool]) -> None:
        self._progress = progress
        self._grace = grace
        self._interrupted = interrupted
        self._seen = progress()
        self._since = time.monotonic()

    def left(self) -> float:
        if self._interrupted():
            return 0.0
        now = time.monotonic()
        mark = self._progress()
        if mark != self._seen:
            self._seen, self._since = mark, now
        return self._since + self._grace - now

    def wait(self, done: Callable[[float], bool]) -> bool:
        """Until ``done(timeout)`` (which may wait up to ``timeout`` seconds) says True; False if patience
        ran out first."""
        while True:
            left = self.left()
            if left <= 0:
                return done(0.0)
            if done(min(left, _WAIT_POLL_SECONDS)):
                return True

    def wait_for(self, thread: threading.Thread | None) -> bool:
        """Wait for ``thread`` to end; False if patience ran out first."""
        if thread is None:
            return True

        def ended(timeout: float) -> bool:
            thread.join(timeout)
            return not thread.is_alive()

        return self.wait(ended)


class Courier:
    """Writes lines to a pipe from a thread of its own, in order, for a caller that must not wait.

    The thread starts with the first delivery. ``limit`` bounds the lines waiting to be written (``deliver``
    takes no more); ``on_broken`` is called (from the thread) when the pipe refuses a write that was not
    refused because it was closed.
    """

    def __init__(self, pipe: Pipe, on_broken: Callable[[], None], name: str, *, limit: int | None = None) -> None:
        self._pipe = pipe
        self._on_broken = on_broken
        self._name = name
        self._limit = limit
        self._queue: queue.SimpleQueue[list[bytes] | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._handed = 0  # lines delivered (by the caller's thread only)
        self._written = 0  # lines written (by the courier's thread only)

    def deliver(self, lines: list[bytes]) -> int:
        """Queue ``lines``, in order, as many as the limit leaves room for; how many were queued."""
        if self._limit is not None and len(lines) > self._limit - self.waiting():
            lines = lines[: max(0, self._limit - self.waiting())]
        if not lines:
            return 0
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
            self._thread.start()
        self._handed += len(lines)
        self._queue.put(lines)
        return len(lines)

    def waiting(self) -> int:
        """Lines delivered and not (yet) written."""
        return self._handed - self._written

    def finish(self) -> threading.Thread | None:
        """No more deliveries: the thread ends after the last one. Returns it, to wait for."""
        if self._thread is not None:
            self._queue.put(None)
        return self._thread

    def _run(self) -> None:
        pipe = self._pipe
        while (lines := self._queue.get()) is not None:
            if pipe.write_lines(lines):
                self._written += len(lines)
            elif not pipe.closed:
                self._on_broken()
