"""A server that writes a line that never ends, or floods stdout: Lilith's memory stays bounded."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Any

import orjson

from tests.chaos.conftest import CHAOS_SERVER, POLICY, StartChaos
from tests.chaos.processes import PeakRss, survivors, tree
from tests.chaos.replies import collect
from tests.integration.harness import lilith_run, wait_until

MB = 1024 * 1024
MEMORY_BOUND_MB = 40.0  # far below what the server writes, far above Lilith's own working set


def test_a_line_that_never_ends_is_discarded_and_its_call_fails_at_once(
    start_chaos: StartChaos, tmp_path: Path
) -> None:
    proxy = start_chaos("--max-server-line-bytes", "1M", "--request-timeout", "2").proxy
    proxy.initialize()
    done = tmp_path / "endless.done"
    with PeakRss(proxy.proc.pid) as memory:
        began = time.monotonic()
        call = proxy.request(
            "tools/call", {"name": "endless_line", "arguments": {"bytes": 64 * MB, "done_file": str(done)}}
        )
        reply = collect(proxy, {call}, timeout=30)[call]
        waited = time.monotonic() - began
        wait_until(done.exists, timeout=30)  # the rest of the 64 MB still flows through Lilith, and is discarded
    assert done.exists() and int(done.read_text()) >= 64 * MB, "the server did not write its 64 MB"
    # Its start shows which call it answers: that call fails as the line crosses the cap, not by its timeout.
    assert reply["error"]["code"] == -32603 and "longer than 1048576 bytes" in reply["error"]["message"], reply
    assert waited < 1.5, f"answered after {waited:.1f} s: by the request timeout, not the line"
    assert memory.growth < MEMORY_BOUND_MB, f"Lilith grew {memory.growth:.0f} MB on a 64 MB line"
    processes = tree(proxy.proc.pid)[1:]
    assert proxy.close(timeout=20) == 0
    assert not survivors(processes, 5)


def test_a_flood_of_notifications_reaches_a_slow_client_in_bounded_memory(tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    argv = lilith_run("--policy", str(policy), "--log-level", "warning", server=CHAOS_SERVER)
    with (tmp_path / "stderr.log").open("wb") as stderr:
        lilith = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr)
    assert lilith.stdin is not None and lilith.stdout is not None
    try:
        _send(lilith, {"jsonrpc": "2.0", "id": 1, "method": "ping"})
        assert orjson.loads(lilith.stdout.readline())["id"] == 1
        with PeakRss(lilith.pid) as memory:
            _send(
                lilith,
                {
                    "jsonrpc": "2.0",
                    "id": 2,
                    "method": "tools/call",
                    "params": {"name": "flood", "arguments": {"bytes": 48 * MB}},
                },
            )
            time.sleep(1.5)  # the client reads nothing yet: the flood must wait in the pipes, not in Lilith
            paused_growth = memory.growth
            notifications, reply = 0, None
            while reply is None:
                message = orjson.loads(lilith.stdout.readline())
                if message.get("method") == "notifications/message":
                    notifications += 1
                elif message.get("id") == 2:
                    reply = message
        assert reply["result"]["structuredContent"]["lines"] == notifications, "notifications were lost"
        assert notifications >= 48 * MB // 1024  # lines are under 1 KB
        assert paused_growth < MEMORY_BOUND_MB and memory.growth < MEMORY_BOUND_MB, (paused_growth, memory.growth)
    finally:
        lilith.stdin.close()
        assert lilith.wait(20) == 0


def test_a_flood_of_junk_is_dropped_in_bounded_memory(start_chaos: StartChaos) -> None:
    proxy = start_chaos("--log-level", "error").proxy
    proxy.initialize()
    with PeakRss(proxy.proc.pid) as memory:
        call = proxy.request("tools/call", {"name": "flood", "arguments": {"bytes": 16 * MB, "junk": True}})
        reply = collect(proxy, {call}, timeout=60)[call]
    assert reply["result"]["structuredContent"]["lines"] >= 16 * MB // 1024
    assert proxy.nothing_more(), "junk reached the client"
    assert memory.growth < MEMORY_BOUND_MB, f"Lilith grew {memory.growth:.0f} MB"
    assert "result" in proxy.tool("echo", {"after": "flood"})


def _send(process: subprocess.Popen[bytes], message: dict[str, Any]) -> None:
    assert process.stdin is not None
    process.stdin.write(orjson.dumps(message) + b"\n")
    process.stdin.flush()
