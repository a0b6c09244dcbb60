"""A policy file in lilith-zero's own shape, session rate limit included, enforced by a real Lilith."""

from __future__ import annotations

from tests.integration.conftest import StartProxy
from tests.integration.harness import recorded

ZERO_POLICY = """\
id: "policy-7"
customerId: "acme"
name: "zero-shaped"
schemaVersion: 1
version: 1
staticRules:
  echo: "ALLOW"
rateLimit:
  maxCallsPerSession: 2
replayWindowSecs: 60
"""


def test_session_limit_and_replay_window_hold_through_a_real_proxy(start_proxy: StartProxy) -> None:
    started = start_proxy(policy=ZERO_POLICY)
    proxy = started.proxy
    proxy.initialize()
    first = proxy.request("tools/call", {"name": "echo", "arguments": {"n": 1}}, request_id="same")
    assert proxy.recv()["id"] == first
    replay = proxy.request("tools/call", {"name": "echo", "arguments": {"n": 2}}, request_id="same")
    answer = proxy.recv()
    assert answer["id"] == replay
    assert answer["error"]["data"]["rule"] == "replay_window_secs"
    assert "result" in proxy.tool("echo", {"n": 3})
    over = proxy.tool("echo", {"n": 4})
    assert over["error"]["data"]["rule"] == "rate_limit.max_calls_per_session"
    assert proxy.close() == 0
    received = [
        m["params"]["arguments"]["n"]
        for m in recorded(started.record)
        if isinstance(m, dict) and m.get("method") == "tools/call"
    ]
    assert received == [1, 3]
