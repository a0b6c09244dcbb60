"""What chaos tests look at from outside: process trees, descriptors, memory, zombies (Linux /proc)."""

from __future__ import annotations

import os
import threading
import time

import psutil


def tree(pid: int) -> list[psutil.Process]:
    """The process and every descendant, as psutil handles (which notice pid reuse)."""
    root = psutil.Process(pid)
    return [root, *root.children(recursive=True)]


def server_of(lilith_pid: int, marker: str = "chaos_server.py", timeout: float = 10.0) -> psutil.Process:
    """The MCP server under a Lilith (below the reaper), found by its command line."""
    deadline = time.monotonic() + timeout
    while True:
        for process in tree(lilith_pid)[1:]:
            try:
                if any(marker in part for part in process.cmdline()):
                    return process
            except psutil.NoSuchProcess:
                continue
        if time.monotonic() > deadline:
            raise TimeoutError(f"no {marker} under pid {lilith_pid}")
        time.sleep(0.02)


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def rss_mb(pid: int) -> float:
    return float(psutil.Process(pid).memory_info().rss) / (1024 * 1024)


def zombies(processes: list[psutil.Process]) -> list[psutil.Process]:
    out = []
    for process in processes:
        try:
            if process.status() == psutil.STATUS_ZOMBIE:
                out.append(process)
        except psutil.NoSuchProcess:
            continue
    return out


def _running(process: psutil.Process) -> bool:
    try:
        return bool(process.is_running() and process.status() != psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return False


def survivors(processes: list[psutil.Process], timeout: float) -> list[psutil.Process]:
    """Those still running after ``timeout`` seconds (a zombie has stopped running and does not count)."""
    deadline = time.monotonic() + timeout
    while True:
        alive = [p for p in processes if _running(p)]
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.05)


class PeakRss:
    """Samples a process's resident memory every ``interval`` seconds in the background while in a ``with``."""

    def __init__(self, pid: int, interval: float = 0.05) -> None:
        self._pid = pid
        self._interval = interval
        self._stop = threading.Event()
        self.baseline = rss_mb(pid)
        self.peak = self.baseline
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _sample(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self.peak = max(self.peak, rss_mb(self._pid))
            except psutil.NoSuchProcess:
                return

    @property
    def growth(self) -> float:
        return self.peak - self.baseline
