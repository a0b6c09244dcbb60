"""A server that has spoken has started: a slow request after its first answer is not a failed start-up.
Through a real Lilith in the stateless era (no initialize), where the first requests come back to back."""

from __future__ import annotations

import json
import time
from typing import Any

from tests.integration.conftest import StartProxy
from tests.integration.harness import recorded

MODERN = {"io.modelcontextprotocol/protocolVersion": "2026-07-28"}


def test_a_slow_request_sent_before_the_server_spoke_gets_the_request_timeout(start_proxy: StartProxy) -> None:
    started = start_proxy("--startup-timeout", "1", "--request-timeout", "10")
    proxy = started.proxy
    discover = proxy.request("server/discover", {"_meta": MODERN})
    slow = proxy.request("tools/call", {"name": "slow", "arguments": {"ms": 1800}, "_meta": MODERN})
    began = time.monotonic()
    answers: dict[int, Any] = {}
    while len(answers) < 2:
        reply = proxy.recv(timeout=10)
        answers[reply["id"]] = reply
    assert "result" in answers[discover]
    assert answers[slow]["result"]["content"][0]["text"] == "slept 1800 ms"  # past the 1 s start-up timeout
    assert time.monotonic() - began > 1.2
    # The same server answers on: it was never killed as "did not start".
    assert "still here" in proxy.tool("echo", {"text": "still here"})["result"]["content"][0]["text"]
    assert proxy.close() == 0
    stderr = proxy.stderr()
    assert "server_start_timeout" not in stderr and "server_start_timed_out" not in stderr
    methods = [m.get("method") for m in recorded(started.record) if isinstance(m, dict)]
    assert "notifications/cancelled" not in methods
    records = [json.loads(line) for line in started.audit.read_bytes().splitlines()]
    assert not [r for r in records if r["event"] == "request_timeout"]
    # If its end was recorded, it ended when stdin closed, not by Lilith's SIGKILL.
    assert all(r["signal"] is None for r in records if r["event"] == "server_exit")
