"""Review 3 (fail-closed): a server answer that is not valid JSON fails its request at once instead of leaving
the client to its timeout; and a client that closes its input while the server waits on its answer (an
elicitation) no longer holds the other requests' clocks, so Lilith ends when they time out, not after
``--request-timeout-max``. Through a real Lilith in front of the hostile server."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.integration.harness import HOSTILE, Proxy, lilith_run, recorded

POLICY = "version: 1\nstatic_rules:\n  emit: ALLOW\n  elicit: ALLOW\n  echo: ALLOW\n  slow: ALLOW\n"


def _proxy(tmp_path: Path, *options: str) -> tuple[Proxy, Path]:
    policy, record = tmp_path / "policy.yaml", tmp_path / "received.jsonl"
    policy.write_text(POLICY)
    return Proxy(
        lilith_run("--policy", str(policy), *options, server=[*HOSTILE, "--record", str(record)]), tmp_path
    ), record


@pytest.mark.parametrize("value", ["NaN", "1e400", '"\\ud800"', "Infinity"])
def test_an_answer_that_is_not_json_fails_its_request_at_once(tmp_path: Path, value: str) -> None:
    proxy, _record = _proxy(tmp_path, "--request-timeout", "30")
    try:
        proxy.initialize()
        line = '{"jsonrpc":"2.0","id":{id},"result":{"mean":' + value + "}}"
        began = time.monotonic()
        reply = proxy.tool("emit", {"lines": [line], "answer": False}, timeout=10)
        assert time.monotonic() - began < 5  # not the 30 s timeout
        assert reply["error"]["code"] == -32603 and "not valid JSON" in reply["error"]["message"]
        assert "result" in proxy.tool("echo", {"text": "still here"})  # the session goes on
        assert proxy.close() == 0
    finally:
        proxy.kill()
    assert "server_sent_invalid_json" in proxy.stderr()


def test_a_client_that_closes_while_the_server_waits_on_it_does_not_hold_lilith_up(tmp_path: Path) -> None:
    # --finish-on-eof: the server stays up after EOF while a slow call runs (20 s), as busy servers do.
    policy, record = tmp_path / "policy.yaml", tmp_path / "received.jsonl"
    policy.write_text(POLICY)
    server = [*HOSTILE, "--record", str(record), "--finish-on-eof"]
    options = ("--policy", str(policy), "--request-timeout", "1", "--request-timeout-max", "60")
    proxy = Proxy(lilith_run(*options, server=server), tmp_path)
    try:
        proxy.initialize()
        slow = proxy.request("tools/call", {"name": "slow", "arguments": {"ms": 20000}})
        call = proxy.request("tools/call", {"name": "elicit", "arguments": {"message": "Proceed?"}})
        asked = proxy.recv(10)
        assert asked["method"] == "elicitation/create"  # the server now waits on the client ...
        began = time.monotonic()
        assert proxy.proc.stdin is not None
        proxy.proc.stdin.close()  # ... which closes its input without answering, and keeps reading
        replies = {reply["id"]: reply for reply in (proxy.recv(15), proxy.recv(15))}
        assert set(replies) == {slow, call}
        assert all("did not answer" in reply["error"]["message"] for reply in replies.values()), replies
        assert proxy.proc.wait(15) == 0
        assert time.monotonic() - began < 10  # not --request-timeout-max (60 s), nor the slow call's 20 s
    finally:
        proxy.kill()
    names = [m["params"]["name"] for m in recorded(record) if m.get("method") == "tools/call"]
    assert names == ["slow", "elicit"]
