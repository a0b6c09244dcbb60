"""A do-nothing threaded pass-through: the cost of merely standing in the middle, for comparison."""

from __future__ import annotations

import os
import subprocess
import sys
import threading

CHUNK = 64 * 1024  # as Lilith reads: below glibc's mmap threshold


def main() -> None:
    server = subprocess.Popen(sys.argv[1:], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    if server.stdin is None or server.stdout is None:
        raise RuntimeError("no pipes")
    to_server, from_server = server.stdin.fileno(), server.stdout.fileno()

    def client_to_server() -> None:
        while data := os.read(0, CHUNK):
            os.write(to_server, data)
        os.close(to_server)

    threading.Thread(target=client_to_server, daemon=True).start()
    while data := os.read(from_server, CHUNK):
        os.write(1, data)
    server.wait()


if __name__ == "__main__":
    main()
