"""A restarted server (``--restart on-failure``) gets back what the client set with the one that crashed:
the handshake, then the logging level and the resource subscriptions the policy still allows. Through a real
Lilith in front of ``tests/servers/stateful_server.py``, whose processes report the state they hold."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from tests.integration.audit_records import schema_problems
from tests.integration.harness import ROOT, Proxy, lilith_run, recorded, wait_until

STATEFUL_SERVER = [sys.executable, str(ROOT / "tests" / "servers" / "stateful_server.py")]
POLICY = """
version: 1
static_rules:
  state: ALLOW
  crash: ALLOW
resource_rules:
  - uri_pattern: "file:///tmp/secret*"
    action: BLOCK
  - uri_pattern: "file:///tmp/*"
    action: ALLOW
"""
INTERNAL = "lilith-internal-"


def _state(proxy: Proxy) -> dict[str, Any]:
    reply = proxy.tool("state", timeout=15)
    state: dict[str, Any] = reply["result"]["structuredContent"]
    return state


def test_a_restarted_server_gets_the_level_and_subscriptions_back(tmp_path: Path) -> None:
    policy, record, audit = tmp_path / "policy.yaml", tmp_path / "received.jsonl", tmp_path / "audit.jsonl"
    policy.write_text(POLICY)
    options = ["--policy", str(policy), "--audit-log", str(audit), "--restart", "on-failure", "--max-restarts", "1"]
    proxy = Proxy(lilith_run(*options, server=[*STATEFUL_SERVER, "--record", str(record)]), tmp_path)
    try:
        proxy.initialize()
        assert "result" in proxy.call("logging/setLevel", {"level": "debug"})
        for uri in ("file:///tmp/a", "file:///tmp/b"):
            assert "result" in proxy.call("resources/subscribe", {"uri": uri})
        assert (
            proxy.call("resources/subscribe", {"uri": "file:///tmp/secret"})["error"]["code"] == -32000
        )  # denied by the policy
        assert "result" in proxy.call("resources/unsubscribe", {"uri": "file:///tmp/b"})
        before = _state(proxy)
        assert (before["level"], before["subscriptions"]) == ("debug", ["file:///tmp/a"])

        assert proxy.tool("crash")["error"]["code"] == -32001

        def received() -> list[dict[str, Any]]:
            return [m for m in recorded(record) if isinstance(m, dict)]

        # The new process gets the handshake, then (once it has answered) the level and the subscription.
        assert wait_until(lambda: [m.get("method") for m in received()].count("resources/subscribe") == 3, 15)
        after = _state(proxy)
        assert after["pid"] != before["pid"]
        assert (after["level"], after["subscriptions"]) == ("debug", ["file:///tmp/a"])
        second = received()[[m.get("method") for m in received()].index("initialize", 1) :]
        replayed = [(m.get("method"), m.get("params")) for m in second if str(m.get("id", "")).startswith(INTERNAL)]
        assert replayed == [
            ("initialize", replayed[0][1]),
            ("logging/setLevel", {"level": "debug"}),
            ("resources/subscribe", {"uri": "file:///tmp/a"}),
        ]
        assert proxy.nothing_more(0.2)  # the answers to Lilith's own requests never reach the client
        assert proxy.close() == 0
    finally:
        proxy.kill()
    records = [json.loads(line) for line in audit.read_bytes().splitlines()]
    restored = [r for r in records if r["event"] == "decision" and str(r["request_id"]).startswith(INTERNAL)]
    assert [(r["method"], r["uri"], r["decision"]) for r in restored] == [
        ("resources/subscribe", "file:///tmp/a", "allow")
    ]
    assert not schema_problems(audit)


def test_the_client_is_told_to_list_again_what_the_server_said_may_change(tmp_path: Path) -> None:
    """The restarted process may offer other tools and prompts: a client that cached the lists is told to
    fetch them again, for the lists the server said may change (tools and prompts here, not resources)."""
    policy, record = tmp_path / "policy.yaml", tmp_path / "received.jsonl"
    policy.write_text(POLICY)
    server = [*STATEFUL_SERVER, "--record", str(record), "--list-changed"]
    proxy = Proxy(lilith_run("--policy", str(policy), "--restart", "on-failure", server=server), tmp_path)
    try:
        proxy.initialize()
        assert proxy.nothing_more(0.2)  # nothing is announced while the first process runs
        assert proxy.tool("crash")["error"]["code"] == -32001
        announced = {proxy.recv(15)["method"], proxy.recv(15)["method"]}
        assert announced == {"notifications/tools/list_changed", "notifications/prompts/list_changed"}
        assert proxy.nothing_more(0.3)
        # The announcement came after the new process took the handshake: listing now reaches it.
        assert _state(proxy)["pid"] > 0
        initializes = [m for m in recorded(record) if isinstance(m, dict) and m.get("method") == "initialize"]
        assert len(initializes) == 2
        assert proxy.close() == 0
    finally:
        proxy.kill()
