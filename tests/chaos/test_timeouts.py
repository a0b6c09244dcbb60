"""Per-request and start-up deadlines: a server that never answers cannot hold a client forever."""

from __future__ import annotations

import time

from tests.chaos.conftest import StartChaos
from tests.chaos.replies import collect, timed_out
from tests.integration.harness import recorded, wait_until


def test_an_unanswered_call_times_out_and_the_server_is_told(start_chaos: StartChaos) -> None:
    chaos = start_chaos("--request-timeout", "1")
    proxy = chaos.proxy
    proxy.initialize()
    began = time.monotonic()
    reply = proxy.tool("hang", timeout=10)
    waited = time.monotonic() - began
    assert timed_out(reply), reply
    assert 0.9 <= waited < 5, f"answered after {waited:.2f} s with --request-timeout 1"

    def cancelled() -> list[object]:
        return [
            m
            for m in recorded(chaos.record)
            if isinstance(m, dict)
            and m.get("method") == "notifications/cancelled"
            and m.get("params", {}).get("requestId") == reply["id"]
        ]

    assert wait_until(lambda: bool(cancelled())), "the server was not sent notifications/cancelled"
    assert "result" in proxy.tool("echo", {"after": "timeout"})  # the session goes on
    late = proxy.request("tools/call", {"name": "slow", "arguments": {"ms": 300}})
    assert "result" in collect(proxy, {late})[late]  # a call within the deadline is untouched


def test_progress_extends_the_deadline_up_to_the_hard_maximum(start_chaos: StartChaos) -> None:
    proxy = start_chaos("--request-timeout", "1", "--request-timeout-max", "4").proxy
    proxy.initialize()
    meta = {"progressToken": "p1"}
    kept_alive = proxy.call(
        "tools/call", {"name": "progress_for", "arguments": {"ms": 2000, "every_ms": 250}, "_meta": meta}, timeout=15
    )
    assert "result" in kept_alive, f"progress every 0.25 s did not extend a 1 s deadline: {kept_alive}"
    began = time.monotonic()
    capped = proxy.call(
        "tools/call",
        {"name": "progress_for", "arguments": {"ms": 8000, "every_ms": 250}, "_meta": {"progressToken": "p2"}},
        timeout=15,
    )
    waited = time.monotonic() - began
    assert timed_out(capped), capped
    assert 3.5 <= waited < 7, f"the hard maximum of 4 s ended the call after {waited:.2f} s"


def test_a_server_that_never_answers_initialize_hits_the_startup_timeout(start_chaos: StartChaos) -> None:
    proxy = start_chaos("--startup-timeout", "1", server_args=("--ignore-initialize",)).proxy
    began = time.monotonic()
    reply = proxy.call(
        "initialize", {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t"}}, timeout=15
    )
    waited = time.monotonic() - began
    assert reply.get("error", {}).get("code") == -32001, reply
    assert waited < 5, f"answered after {waited:.2f} s with --startup-timeout 1"
    proxy.close(timeout=15)  # whatever Lilith decides to do next, it must not hang on its way out
