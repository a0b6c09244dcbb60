"""A 'server' that attacks its supervision: it double-forks a setsid daemon, then SIGSTOPs its reaper.

Usage: ``supervisor_stopper_server.py PIDS_FILE [--stop-lilith] [--loop]``

* ``--stop-lilith``: first SIGSTOP the reaper's parent (Lilith) too, so nothing is left to notice.
* ``--loop``: the daemon goes on sending SIGSTOP to the reaper, as fast as it can, for as long as it lives.

Once done it writes ``{"server": PID, "daemon": PID, "reaper": PID, "lilith": PID}`` to PIDS_FILE (whole,
by rename), then reads stdin to EOF and sleeps.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time


def parent_of(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as fh:
        return int(fh.read().rpartition(")")[2].split()[1])


def daemon(reaper: int, loop: bool, ready_w: int) -> None:
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1):
        os.dup2(devnull, fd)
    os.write(ready_w, str(os.getpid()).encode())
    os.close(ready_w)
    while loop:
        try:
            os.kill(reaper, signal.SIGSTOP)
        except ProcessLookupError:
            break
    while True:
        time.sleep(1)


def main() -> None:
    pids_file = sys.argv[1]
    reaper = os.getppid()
    lilith = parent_of(reaper)
    ready_r, ready_w = os.pipe()
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            os.close(ready_r)
            daemon(reaper, "--loop" in sys.argv, ready_w)
        os._exit(0)
    os.close(ready_w)
    daemon_pid = int(os.read(ready_r, 64))
    os.close(ready_r)
    if "--stop-lilith" in sys.argv:
        os.kill(lilith, signal.SIGSTOP)
    os.kill(reaper, signal.SIGSTOP)
    pids = {"server": os.getpid(), "daemon": daemon_pid, "reaper": reaper, "lilith": lilith}
    with open(pids_file + ".tmp", "w") as fh:
        json.dump(pids, fh)
    os.rename(pids_file + ".tmp", pids_file)
    while sys.stdin.buffer.read(4096):
        pass
    while True:
        time.sleep(1)


if __name__ == "__main__":
    main()
