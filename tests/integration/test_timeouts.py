"""Timeouts through a real Lilith: per request (with progress extending it), at start-up, at shutdown."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

from tests.integration.conftest import StartProxy
from tests.integration.harness import Proxy, lilith_run, recorded, wait_until

SERVER_UNAVAILABLE = -32001


def _audit(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_bytes().splitlines()]


def _call(proxy: Proxy, name: str, arguments: dict[str, Any], token: str | None = None) -> Any:
    params: dict[str, Any] = {"name": name, "arguments": arguments}
    if token is not None:
        params["_meta"] = {"progressToken": token}
    return proxy.request("tools/call", params)


def _answer_to(proxy: Proxy, request_id: Any, timeout: float = 10.0) -> tuple[Any, float]:
    began = time.monotonic()
    while True:
        reply = proxy.recv(timeout)
        if reply.get("id") == request_id and "method" not in reply:
            return reply, time.monotonic() - began


def test_an_unanswered_request_times_out_and_is_cancelled_upstream(start_proxy: StartProxy) -> None:
    started = start_proxy("--request-timeout", "0.5")
    proxy = started.proxy
    proxy.initialize()
    began = time.monotonic()
    hung = _call(proxy, "hang", {})
    reply, _ = _answer_to(proxy, hung)
    waited = time.monotonic() - began
    assert reply["error"]["code"] == SERVER_UNAVAILABLE
    assert "did not answer tools/call within" in reply["error"]["message"]
    assert 0.45 <= waited < 2.0, waited
    # The server was told to stop working on it, by the id it knows.
    assert wait_until(
        lambda: any(
            isinstance(m, dict)
            and m.get("method") == "notifications/cancelled"
            and m.get("params", {}).get("requestId") == hung
            for m in recorded(started.record)
        )
    )
    # The session goes on.
    assert "still here" in proxy.tool("echo", {"text": "still here"})["result"]["content"][0]["text"]
    assert proxy.close() == 0
    events = [r for r in _audit(started.audit) if r["event"] == "request_timeout"]
    assert [(e["tool"], e["method"], e["startup"]) for e in events] == [("hang", "tools/call", False)]


def test_a_late_answer_after_the_timeout_never_reaches_the_client(start_proxy: StartProxy) -> None:
    started = start_proxy("--request-timeout", "0.3")
    proxy = started.proxy
    proxy.initialize()
    slow = _call(proxy, "slow", {"ms": 900})
    reply, _ = _answer_to(proxy, slow)
    assert reply["error"]["code"] == SERVER_UNAVAILABLE
    time.sleep(0.9)  # the server answers now; Lilith must drop it (the client already has its answer)
    assert proxy.nothing_more(0.5)
    assert proxy.close() == 0
    assert "late_answer_dropped" in proxy.stderr()


def test_progress_extends_the_deadline_up_to_the_hard_maximum(start_proxy: StartProxy) -> None:
    started = start_proxy("--request-timeout", "0.6", "--request-timeout-max", "1.4")
    proxy = started.proxy
    proxy.initialize()
    # Progress every 0.2 s keeps a 1.0 s call alive past its 0.6 s timeout ...
    kept = _call(proxy, "slow", {"ms": 1000, "progress_every_ms": 200}, token="p1")
    reply, _ = _answer_to(proxy, kept)
    assert reply["result"]["content"][0]["text"] == "slept 1000 ms"
    # ... but not past the 1.4 s hard maximum.
    capped = _call(proxy, "slow", {"ms": 3000, "progress_every_ms": 200}, token="p2")
    reply, waited = _answer_to(proxy, capped)
    assert reply["error"]["code"] == SERVER_UNAVAILABLE
    assert 1.3 <= waited < 2.5, waited
    # Without progress the same call times out at the plain timeout.
    plain = _call(proxy, "slow", {"ms": 1000})
    reply, waited = _answer_to(proxy, plain)
    assert reply["error"]["code"] == SERVER_UNAVAILABLE
    assert 0.5 <= waited < 1.3, waited
    proxy.close()


def test_a_server_that_never_answers_initialize_fails_start_up(tmp_path: Path) -> None:
    silent = [sys.executable, "-c", "import sys, time\nsys.stdin.read()\ntime.sleep(60)"]
    proxy = Proxy(lilith_run("--startup-timeout", "0.5", server=silent), tmp_path)
    try:
        began = time.monotonic()
        reply = proxy.call(
            "initialize", {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t"}}
        )
        waited = time.monotonic() - began
        assert reply["error"]["code"] == SERVER_UNAVAILABLE
        assert "did not start initialize" in reply["error"]["message"]
        assert 0.45 <= waited < 2.0, waited
        assert proxy.proc.wait(10) == 1  # the server was treated as failed, and Lilith exits non-zero
        assert "server_start_timed_out" in proxy.stderr()
    finally:
        proxy.kill()


def test_shutdown_timeout_bounds_how_long_a_stubborn_server_is_waited_for(tmp_path: Path) -> None:
    # Ignores stdin EOF and SIGTERM: only SIGKILL ends it.
    stubborn = [
        sys.executable,
        "-c",
        "import signal, sys, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\nsys.stdin.read()\ntime.sleep(60)",
    ]
    proxy = Proxy(lilith_run("--shutdown-timeout", "0.3", server=stubborn), tmp_path)
    try:
        time.sleep(0.5)
        began = time.monotonic()
        assert proxy.close() == 0
        assert time.monotonic() - began < 2.0  # 0.3 s after EOF + 0.3 s after SIGTERM, then SIGKILL
    finally:
        proxy.kill()
