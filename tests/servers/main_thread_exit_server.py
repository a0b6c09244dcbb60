"""A 'server' whose main thread ends on its own (a raw SYS_exit) while a worker thread runs on.

The kernel then shows the process as a zombie with no memory in /proc/PID/stat, though its worker holds
all of it. Usage: ``main_thread_exit_server.py memory|processes NOTES_FILE``

* ``memory``: the worker allocates and touches 10 MiB every 50 ms, up to 400 MiB, then waits.
* ``processes``: the worker forks three children that sleep, then waits.

The worker appends what it did to NOTES_FILE, one line each: ``leader Z`` once the main thread is gone
(so a test knows the case really arose), then ``MiB N`` or ``children N``.
"""

from __future__ import annotations

import ctypes
import os
import platform
import sys
import threading
import time

SYS_EXIT = {"x86_64": 60, "aarch64": 93}  # exit(2) ends the calling thread; exit_group(2) would end all


def note(path: str, text: str) -> None:
    with open(path, "a") as fh:
        fh.write(text + "\n")


def leader_state() -> str:
    with open(f"/proc/{os.getpid()}/stat") as fh:
        return fh.read().rpartition(")")[2].split()[0]


def worker(mode: str, notes: str) -> None:
    while leader_state() != "Z":
        time.sleep(0.01)
    note(notes, "leader Z")
    if mode == "memory":
        chunks = []
        for step in range(1, 41):
            chunks.append(b"\x01" * (10 << 20))
            note(notes, f"MiB {step * 10}")
            time.sleep(0.05)
    else:
        for count in range(1, 4):
            if os.fork() == 0:
                time.sleep(600)
                os._exit(0)
            note(notes, f"children {count}")
    time.sleep(600)


def main() -> None:
    mode, notes = sys.argv[1], sys.argv[2]
    threading.Thread(target=worker, args=(mode, notes)).start()
    ctypes.CDLL(None).syscall(SYS_EXIT[platform.machine()], 0)


if __name__ == "__main__":
    main()
