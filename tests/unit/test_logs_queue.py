"""Logging never waits for stderr (review 3, #3): lines go through a bounded queue and a writer thread.

Each test uses a real pipe as stderr, and a reader that reads it, late, or never.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import pytest

from lilith.runtime.logs import StderrQueue


def _line(n: int) -> str:
    return f"{n:09d}" + "x" * 90 + "\n"  # 100 bytes


@pytest.fixture
def pipe() -> Iterator[tuple[int, int]]:
    read, write = os.pipe()
    yield read, write
    for fd in (read, write):
        try:
            os.close(fd)
        except OSError:
            pass


def _notice(dropped: int) -> str:
    return f"dropped {dropped}\n"


def _drain(fd: int, into: bytearray) -> threading.Thread:
    def run() -> None:
        while chunk := os.read(fd, 65536):
            into.extend(chunk)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def _fill(fd: int) -> None:
    """Fill the pipe, as a stderr nobody reads ends up."""
    os.set_blocking(fd, False)
    try:
        while True:
            os.write(fd, b"fill\n")
    except BlockingIOError:
        pass
    finally:
        os.set_blocking(fd, True)


def test_logging_to_a_stderr_nobody_reads_never_waits_and_counts_what_it_drops(pipe: tuple[int, int]) -> None:
    read, write = pipe
    _fill(write)
    queue = StderrQueue(write, _notice, limit=10_000)
    began = time.monotonic()
    for n in range(2000):  # 200 KB; the queue holds 10 KB
        queue.put(_line(n))
    assert time.monotonic() - began < 10.0  # a blocking write would never have returned
    assert queue.flush(0.2) is False  # nobody reads: the exit's wait is bounded and says so
    received = bytearray()
    reader = _drain(read, received)
    assert queue.flush(5.0) is True
    os.close(write)
    reader.join(5)
    lines = [line for line in bytes(received).splitlines() if line != b"fill"]
    numbered = [int(line[:9]) for line in lines if not line.startswith(b"dropped")]
    notices = [int(line.split()[1]) for line in lines if line.startswith(b"dropped")]
    assert numbered == sorted(set(numbered))  # in order, once each
    # What the queue held when the writer blocked, and what it held when writing worked again.
    assert 100 <= len(numbered) <= 2 * 100
    assert len(numbered) + sum(notices) == 2000  # every other line was counted ...
    # ... and said exactly where the lines went missing: after the last line logged before them (the queue
    # may take lines again once the writer has taken a batch out of it, even while that batch is stuck).
    before, said = -1, 0
    for line in [*lines, b"%09d" % 2000]:  # an end marker: drops at the very end are said last
        if line.startswith(b"dropped"):
            said += int(line.split()[1])
            continue
        number = int(line[:9])
        assert number - before - 1 == said, (before, number, said)
        before, said = number, 0
    assert notices


def test_nothing_is_dropped_when_stderr_is_read(pipe: tuple[int, int]) -> None:
    read, write = pipe
    received = bytearray()
    reader = _drain(read, received)
    queue = StderrQueue(write, _notice, limit=10_000)
    for n in range(2000):
        queue.put(_line(n))
        if n % 50 == 0:
            assert queue.flush(5.0)  # a reader that keeps up: the queue never fills
    assert queue.flush(5.0)
    os.close(write)
    reader.join(5)
    assert [int(line[:9]) for line in bytes(received).splitlines()] == list(range(2000))


def test_a_stderr_that_is_gone_is_given_up_quietly(pipe: tuple[int, int]) -> None:
    read, write = pipe
    os.close(read)
    queue = StderrQueue(write, _notice)
    queue.put("first\n")  # EPIPE in the writer thread: no exception anywhere, no more writes
    assert queue.flush(5.0) is True
    queue.put("second\n")
    assert queue.flush(0.1) is True


EXITING = """
import sys
from lilith.runtime.logs import StderrLog
log = StderrLog("info", "text")
for n in range(int(sys.argv[1])):
    log.log("warning", "numbered", n=n, pad="p" * 150)
print("logged", flush=True)
"""


def test_every_queued_line_is_written_at_a_normal_exit() -> None:
    done = subprocess.run([sys.executable, "-c", EXITING, "3000"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0
    lines = done.stderr.splitlines()
    assert [line.split()[3] for line in lines] == [f"n={n}" for n in range(3000)]


def test_a_stderr_nobody_reads_does_not_hold_the_exit() -> None:
    """~600 KB of log lines to a pipe nobody reads: the exit waits about a second for it, not forever."""
    child = subprocess.Popen(
        [sys.executable, "-c", EXITING, "3000"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline() == "logged\n"  # every log call returned
        began = time.monotonic()
        code = child.wait(15)
        assert time.monotonic() - began < 5
    finally:
        if child.poll() is None:
            child.kill()
        child.communicate()
    assert code == 0


def test_batches_are_written_in_atomic_pieces_cut_at_line_ends(
    pipe: tuple[int, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A pipe write of at most PIPE_BUF bytes is never interleaved with the server's own stderr (the same
    pipe): a batch of queued lines goes out in such pieces, each ending a line; a longer line goes alone."""
    read, write = pipe
    sizes: list[bytes] = []
    real_write = os.write

    def recording(fd: int, data: bytes | memoryview) -> int:
        if fd == write:
            sizes.append(bytes(data))
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", recording)
    received = bytearray()
    reader = _drain(read, received)
    queue = StderrQueue(write, _notice)
    lines = [_line(n) for n in range(200)] + ["y" * 6000 + "\n"] + [_line(n) for n in range(200, 260)]
    for line in lines:
        queue.put(line)
    assert queue.flush(5)
    os.close(write)
    reader.join(5)
    assert received.decode() == "".join(lines)
    assert all(piece.endswith(b"\n") for piece in sizes)
    assert all(len(piece) <= 4096 for piece in sizes if not piece.startswith(b"y"))
