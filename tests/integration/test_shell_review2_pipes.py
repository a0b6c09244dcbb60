"""The client writer shows its progress while it waits for a slow reader (review 3, #1, at the pipe level).

A blocking write of one ordinary message waits inside the kernel, where nothing of its progress can be
seen; and sampling the bytes still unread misses a reader whose every read the writer refills at once.
``Pipe.watched`` writes through a private non-blocking handle (a pipe) or with sends that do not wait (a
socket) and counts each piece the reader takes, leaving the client's own file flags alone.
"""

from __future__ import annotations

import fcntl
import itertools
import os
import socket
import threading
import time
from collections.abc import Callable

import pytest

from lilith.runtime.pipes import Patience, Pipe

MESSAGE = [b"x" * 60_000 + b"\n"]  # one write on the hot path (under 64 KiB)


def _slow_reader(read: Callable[[int], bytes], total: int) -> threading.Thread:
    """Takes ``total`` bytes, 4 KiB every 30 ms (page-aligned reads: the writer refills each one at once)."""

    def run() -> None:
        taken = 0
        while taken < total:
            taken += len(read(4096))
            time.sleep(0.03)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def _progress_while_blocked(pipe: Pipe, read: Callable[[int], bytes]) -> list[tuple[int, int | None]]:
    """Write two messages (the second waits for the reader) while it reads slowly; sample ``mark()``."""
    reader = _slow_reader(read, 2 * len(MESSAGE[0]))

    def write_two() -> None:
        assert pipe.write_lines(MESSAGE) and pipe.write_lines(MESSAGE)

    writer = threading.Thread(target=write_two, daemon=True)
    writer.start()
    marks = []
    while writer.is_alive():
        marks.append(pipe.mark())
        time.sleep(0.05)
    reader.join(10)
    return marks


def _longest_still(marks: list[tuple[int, int | None]]) -> int:
    """The most looks in a row that saw the same mark."""
    longest = run = 1
    for before, after in itertools.pairwise(marks):
        run = run + 1 if after == before else 1
        longest = max(longest, run)
    return longest


def test_a_pipe_is_written_through_a_private_non_blocking_handle_whose_progress_shows() -> None:
    read, write = os.pipe()
    try:
        pipe = Pipe.watched(write)
        assert pipe.fd != write and os.get_blocking(write)  # the client's open file is left as it was
        assert fcntl.fcntl(pipe.fd, fcntl.F_GETFL) & os.O_NONBLOCK
        marks = _progress_while_blocked(pipe, lambda n: os.read(read, n))
        assert len(marks) >= 4  # the write waited for the reader a while
        assert _longest_still(marks) <= 2  # and moved at least every other look (100 ms)
        assert pipe.progress > 0
    finally:
        os.close(read)
        os.close(write)


def test_a_socket_is_written_with_sends_that_do_not_wait() -> None:
    ours, theirs = socket.socketpair()
    ours.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)  # a small buffer: the second message waits
    try:
        pipe = Pipe.watched(ours.fileno())
        assert pipe.fd == ours.fileno() and ours.getblocking()
        marks = _progress_while_blocked(pipe, theirs.recv)
        assert len(marks) >= 4
        assert _longest_still(marks) <= 2
    finally:
        ours.close()
        theirs.close()


def test_patience_is_renewed_while_the_mark_moves_and_runs_out_when_it_stops() -> None:
    moving = [0]
    patience = Patience(lambda: moving[0], 0.2, lambda: False)
    began = time.monotonic()
    while time.monotonic() - began < 0.6:  # three graces, with progress every 50 ms
        moving[0] += 1
        assert patience.left() > 0
        time.sleep(0.05)
    stopped = time.monotonic()

    def never(timeout: float) -> bool:
        time.sleep(timeout)
        return False

    assert patience.wait(never) is False
    assert 0.15 < time.monotonic() - stopped < 0.5  # one grace after the last progress


@pytest.mark.parametrize("kind", ["file", "tty-less char device"])
def test_other_fds_are_written_as_they_are(tmp_path: object, kind: str) -> None:
    path = os.path.join(str(tmp_path), "out") if kind == "file" else os.devnull
    fd = os.open(path, os.O_WRONLY | os.O_CREAT)
    try:
        pipe = Pipe.watched(fd)
        assert pipe.fd == fd and pipe.write_lines([b"line\n"])
        assert pipe.unread() is None  # nothing to measure: never blocks, or is not a tty
    finally:
        os.close(fd)
