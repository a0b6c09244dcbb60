"""A client that hangs up is noticed even with data of its still unread (review 3, #2).

The client sends more than a stuck server takes and closes its end. Lilith's client reader is blocked
writing to the server, so it never reads to EOF; the hang-up check asked for POLLHUP *without* POLLIN, and
POLLIN stays set while the client's last bytes sit unread: Lilith never exited.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from tests.integration.harness import ROOT, all_gone, lilith_run, reap, recorded, wait_until

LIFECYCLE = [sys.executable, str(ROOT / "tests" / "servers" / "lifecycle_server.py")]
HELLO = {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "test", "version": "1"}}
PAD = "x" * 20_000


@pytest.mark.parametrize("closes", ["stdin", "both pipes"])
def test_a_client_that_hangs_up_with_data_unread_ends_lilith(tmp_path: Path, closes: str) -> None:
    record, stderr = tmp_path / "received.jsonl", tmp_path / "stderr.log"
    lilith = subprocess.Popen(
        lilith_run("--shutdown-timeout", "0.5", server=[*LIFECYCLE, "stuck", "--record", str(record)]),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=stderr.open("wb"),
    )
    assert lilith.stdin is not None and lilith.stdout is not None
    try:
        lilith.stdin.write(json.dumps({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": HELLO}).encode())
        lilith.stdin.write(b"\n")
        lilith.stdin.flush()
        assert json.loads(lilith.stdout.readline())["id"] == 0
        tree = list(psutil.Process(lilith.pid).children(recursive=True))
        # 160 KB: what the server's pipe and the reader's blocked write hold, and some left in Lilith's stdin
        # (less than all three pipes hold, so this write does not block the test).
        notice = {"jsonrpc": "2.0", "method": "notifications/x", "params": {"pad": PAD}}
        lilith.stdin.write((json.dumps(notice).encode() + b"\n") * 8)
        lilith.stdin.close()
        if closes == "both pipes":
            lilith.stdout.close()
        hung_up = time.monotonic()
        code = lilith.wait(15)  # never, before the fix
        took = time.monotonic() - hung_up
    finally:
        reap(lilith)
    assert code == 0
    assert took < 8  # two polls of once a second, the grace, the server's stop (SIGTERM after 0.5 s)
    assert "client_hung_up" in stderr.read_text()
    assert wait_until(lambda: all_gone(tree))
    assert [m["method"] for m in recorded(record)] == ["initialize"]  # the server never read more
