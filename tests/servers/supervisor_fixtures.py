"""Small misbehaving 'servers' for the supervisor tests. Usage: supervisor_fixtures.py MODE [ARGS...]

Every mode that needs to be synchronised with writes a line to stdout when it is ready.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time


def say(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def echo() -> None:
    for line in sys.stdin:
        sys.stdout.write(line)
        sys.stdout.flush()


def wait_eof() -> None:
    while sys.stdin.buffer.read(4096):
        pass


def ignore_eof(record: str) -> None:
    def on_term(signum: int, _frame: object) -> None:
        with open(record, "w") as fh:
            fh.write("SIGTERM\n")
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)

    signal.signal(signal.SIGTERM, on_term)
    say("ready")
    wait_eof()
    while True:
        time.sleep(1)


def ignore_term() -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    say("ready")
    wait_eof()
    while True:
        time.sleep(1)


def daemon(pidfile: str) -> None:
    """Double-fork a setsid grandchild that closes stdio and sleeps; then serve echo."""
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            devnull = os.open(os.devnull, os.O_RDWR)
            for fd in (0, 1):
                os.dup2(devnull, fd)
            with open(pidfile + ".tmp", "w") as fh:
                fh.write(str(os.getpid()))
            os.rename(pidfile + ".tmp", pidfile)
            while True:
                time.sleep(1)
        os._exit(0)
    say(f"server {os.getpid()}")
    echo()


def alloc(total_mb: int, step_mb: int, interval: float) -> None:
    """Allocate (and touch) memory gradually, reporting the running total; then wait for EOF."""
    chunks: list[bytes] = []
    while len(chunks) * step_mb < total_mb:
        chunks.append(b"\x01" * (step_mb << 20))
        say(f"MB {len(chunks) * step_mb}")
        time.sleep(interval)
    say("done")
    wait_eof()


def busy() -> None:
    say("ready")
    n = 0
    while True:
        n += 1


def open_files(count: int) -> None:
    handles = []
    try:
        for _ in range(count):
            handles.append(open(os.devnull, "rb"))  # noqa: SIM115 - kept open on purpose
    except OSError:
        pass
    say(f"opened {len(handles)}")
    wait_eof()


def spawn(count: int) -> None:
    for _ in range(count):
        pid = os.fork()
        if pid == 0:
            time.sleep(60)
            os._exit(0)
        say(f"child {pid}")
    say("spawned")
    wait_eof()
    time.sleep(60)


def show_env() -> None:
    # /proc/self/environ is the environment as exec'd, before Python's own locale coercion (PEP 538)
    with open("/proc/self/environ", "rb") as fh:
        items = [item.decode() for item in fh.read().split(b"\0") if item]
    env = dict(item.split("=", 1) for item in items)
    say(json.dumps({"env": env, "cwd": os.getcwd(), "fds": sorted(os.listdir("/proc/self/fd"))}))


def streams() -> None:
    sys.stderr.write("to-stderr\n")
    sys.stderr.flush()
    say("to-stdout")


def main() -> None:
    mode, args = sys.argv[1], sys.argv[2:]
    if mode == "echo":
        echo()
    elif mode == "ignore_eof":
        ignore_eof(args[0])
    elif mode == "ignore_term":
        ignore_term()
    elif mode == "daemon":
        daemon(args[0])
    elif mode == "alloc":
        alloc(int(args[0]), int(args[1]), float(args[2]))
    elif mode == "busy":
        busy()
    elif mode == "open_files":
        open_files(int(args[0]))
    elif mode == "spawn":
        spawn(int(args[0]))
    elif mode == "env":
        show_env()
    elif mode == "streams":
        streams()
    elif mode == "exit":
        sys.exit(int(args[0]))
    else:
        raise SystemExit(f"unknown mode {mode!r}")


if __name__ == "__main__":
    main()
