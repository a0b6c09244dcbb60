"""The client goes away mid-call: Lilith shuts the server tree down and exits 0 (the client ended it)."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from tests.chaos.conftest import CHAOS_SERVER, CYCLES, POLICY, StartChaos
from tests.chaos.processes import server_of, survivors, tree
from tests.integration.harness import lilith_run, recorded

# A client that starts a call and then, depending on its argument, keeps reading its stdin or stops
# reading altogether (so Lilith blocks writing to it), until it is killed.
CLIENT = """
import sys, time
tool, read = sys.argv[1], sys.argv[2] == "read"
out = sys.stdout.buffer
out.write(b'{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{}}}\\n')
out.write(b'{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"%s","arguments":{"bytes":33554432}}}\\n' % tool.encode())
out.flush()
while True:
    if read:
        sys.stdin.buffer.read(65536)
    else:
        time.sleep(1)
"""


def test_stdin_closed_mid_call_stops_the_server_tree(start_chaos: StartChaos, tmp_path: Path) -> None:
    chaos = start_chaos("--shutdown-grace", "1")
    proxy = chaos.proxy
    proxy.initialize()
    reply = proxy.tool("fork_daemon", {"pidfile": str(tmp_path / "daemon.pid")})
    daemon = psutil.Process(reply["result"]["structuredContent"]["pid"])
    processes = [*tree(proxy.proc.pid)[1:], daemon]
    call = proxy.request("tools/call", {"name": "hang", "arguments": {}})
    assert "result" in proxy.call("ping")
    assert proxy.close(timeout=15) == 0
    assert not survivors(processes, 5), "the server tree outlived a clean shutdown"
    assert any(isinstance(m, dict) and m.get("id") == call for m in recorded(chaos.record))


@pytest.mark.parametrize(("tool", "reading"), [("hang", "read"), ("flood", "stop")], ids=["idle", "blocked-writing"])
def test_a_killed_client_ends_the_session_cleanly(tmp_path: Path, rng: random.Random, tool: str, reading: str) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    argv = lilith_run("--policy", str(policy), "--shutdown-grace", "1", server=CHAOS_SERVER)
    for trial in range(max(1, CYCLES // 2)):
        to_lilith_r, to_lilith_w = os.pipe()
        to_client_r, to_client_w = os.pipe()
        with (tmp_path / f"stderr-{trial}.log").open("wb") as stderr:
            lilith = subprocess.Popen(argv, stdin=to_lilith_r, stdout=to_client_w, stderr=stderr)
        client = subprocess.Popen([sys.executable, "-c", CLIENT, tool, reading], stdin=to_client_r, stdout=to_lilith_w)
        for fd in (to_lilith_r, to_lilith_w, to_client_r, to_client_w):
            os.close(fd)  # only Lilith and the client hold the pipes now
        try:
            server = server_of(lilith.pid)
            processes = tree(lilith.pid)[1:]
            time.sleep(rng.uniform(0.3, 1.0))  # the call is in flight (and the flood has filled the pipes)
            os.kill(client.pid, signal.SIGKILL)
            client.wait(5)
            code = lilith.wait(15)
        finally:
            for process in (lilith, client):
                if process.poll() is None:
                    process.kill()
        assert code == 0, f"trial {trial}: Lilith exited {code} when its client died"
        assert not survivors([*processes, server], 5), f"trial {trial}: the server tree outlived Lilith"
