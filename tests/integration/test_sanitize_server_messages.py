"""Through a real Lilith: a server's log notifications reach the client without hidden text or escapes."""

from __future__ import annotations

import json

from tests.integration.conftest import StartProxy

POLICY = "version: 1\nstatic_rules:\n  emit: ALLOW\n"


def test_escapes_in_a_log_notification_never_reach_the_client(start_proxy: StartProxy) -> None:
    started = start_proxy(policy=POLICY)
    proxy = started.proxy
    proxy.initialize()
    hidden = {"level": "info", "data": "fine\u001b[8m rm -rf ~\u001b[0m\u202e"}
    note = json.dumps({"jsonrpc": "2.0", "method": "notifications/message", "params": hidden})
    call = proxy.request("tools/call", {"name": "emit", "arguments": {"lines": [note]}})
    seen = []
    while True:
        message = proxy.recv_raw()
        assert message is not None
        seen.append(message)
        if json.loads(message).get("id") == call:
            break
    raw = b"".join(seen)
    assert b"rm -rf ~" in raw  # the concealed text arrives as plain text ...
    assert b"\\u001b" not in raw  # ... without the escapes that hid it
    assert "\u202e".encode() not in raw
    assert b"\\u202e" not in raw
    assert proxy.close() == 0
    records = [json.loads(line) for line in started.audit.read_bytes().splitlines()]
    assert any(r["event"] == "sanitize" and r.get("method") == "notifications/message" for r in records)
