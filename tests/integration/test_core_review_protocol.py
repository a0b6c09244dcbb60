"""Protocol edges through a real Lilith: batches need a negotiated 2025-03-26, both JSON paths refuse the
same bytes (a BOM, UTF-16), and a cancellation naming something that is not an id still goes through."""

from __future__ import annotations

import json
from typing import Any

from tests.integration.conftest import StartProxy
from tests.integration.harness import ALLOW_ECHO_POLICY, Proxy, recorded, wait_until

LONG_NUMBER = "1234567890123456789012"  # 19+ digits: the standard library's JSON path
BOM = b"\xef\xbb\xbf"
POLICY = ALLOW_ECHO_POLICY + "  emit: ALLOW\n"  # the hostile server's scripting tool: it writes raw lines


def _line(message: Any) -> bytes:
    return json.dumps(message).encode() + b"\n"


def _answer(proxy: Proxy, request_id: Any) -> Any:
    while True:
        reply = proxy.recv()
        if isinstance(reply, dict) and reply.get("id") == request_id and "method" not in reply:
            return reply


def test_a_batch_is_refused_when_only_a_meta_field_claims_2025_03_26(start_proxy: StartProxy) -> None:
    started = start_proxy()
    proxy = started.proxy
    meta = {"_meta": {"io.modelcontextprotocol/protocolVersion": "2025-03-26"}}
    assert "result" in proxy.call("ping", meta)
    batch = [{"jsonrpc": "2.0", "id": n, "method": "ping"} for n in (10, 11)]
    proxy.send(batch)
    refused = proxy.recv()
    assert refused["id"] is None and refused["error"]["code"] == -32600
    assert "negotiated" in refused["error"]["message"]
    assert proxy.close() == 0
    assert not [line for line in recorded(started.record) if isinstance(line, list)]  # no batch reached it


def test_a_batch_is_accepted_once_initialize_negotiated_2025_03_26(start_proxy: StartProxy) -> None:
    started = start_proxy()
    proxy = started.proxy
    assert proxy.initialize("2025-03-26")["result"]["protocolVersion"] == "2025-03-26"
    proxy.send([{"jsonrpc": "2.0", "id": n, "method": "ping"} for n in (10, 11)])
    assert sorted(item["id"] for item in proxy.recv()) == [10, 11]
    assert proxy.close() == 0
    assert [len(line) for line in recorded(started.record) if isinstance(line, list)] == [2]


def test_bom_and_utf16_lines_are_refused_on_both_json_paths(start_proxy: StartProxy) -> None:
    started = start_proxy()
    proxy = started.proxy
    proxy.initialize()
    call = {"jsonrpc": "2.0", "id": 20, "method": "tools/call", "params": {"name": "echo", "arguments": {}}}
    long_call = {**call, "id": 21, "params": {"name": "echo", "arguments": {"n": LONG_NUMBER}}}
    utf16 = {**call, "id": 22, "params": {"name": "echo", "arguments": {"s": "\u3030" * 12}}}  # "00" bytes
    errors = []
    for raw in (BOM + _line(call), BOM + _line(long_call), json.dumps(utf16).encode("utf-16-le") + b"\n"):
        proxy.send_raw(raw)
        refused = proxy.recv()
        assert refused["id"] is None and refused["error"]["code"] == -32700, refused
        errors.append(refused["error"]["message"])
    assert errors[0] == errors[1] and "byte order mark" in errors[0]  # one answer, whichever path parsed it
    assert proxy.close() == 0
    calls = [m for m in recorded(started.record) if isinstance(m, dict) and m.get("method") == "tools/call"]
    assert calls == []


def test_a_bom_line_from_the_server_is_dropped_on_both_paths(start_proxy: StartProxy) -> None:
    started = start_proxy(policy=POLICY)
    proxy = started.proxy
    proxy.initialize()

    def notice(data: str) -> bytes:
        params = {"level": "info", "data": data}
        return json.dumps({"jsonrpc": "2.0", "method": "notifications/message", "params": params}).encode()

    lines = [{"hex": (BOM + notice(LONG_NUMBER)).hex()}, {"hex": (BOM + notice("short")).hex()}, notice("ok").decode()]
    emitted = proxy.request("tools/call", {"name": "emit", "arguments": {"lines": lines}})
    seen = []
    while (reply := proxy.recv()).get("id") != emitted:
        seen.append(reply)
    assert [m["params"]["data"] for m in seen if m.get("method") == "notifications/message"] == ["ok"]
    assert proxy.close() == 0
    assert proxy.stderr().count("server_sent_invalid_json") == 2


def test_a_cancellation_whose_request_id_is_not_an_id_is_forwarded(start_proxy: StartProxy) -> None:
    started = start_proxy(policy=POLICY)
    proxy = started.proxy
    proxy.initialize()
    hung = proxy.request("tools/call", {"name": "hang", "arguments": {}})  # something in flight
    odd = [{"a": 1}, [1], True]
    for value in odd:
        proxy.send({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": value}})

    def cancellations() -> list[Any]:
        received = recorded(started.record)
        return [
            m["params"]["requestId"] for m in received if isinstance(m, dict) and "cancelled" in m.get("method", "")
        ]

    assert wait_until(lambda: cancellations() == odd)
    # The request in flight is untouched: cancelling it for real still works, by its id.
    proxy.send({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": hung}})
    assert wait_until(lambda: cancellations() == [*odd, hung])
    # The server may send one too: it reaches the client.
    cancel = json.dumps({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": {"a": 1}}})
    emitted = proxy.request("tools/call", {"name": "emit", "arguments": {"lines": [cancel]}})
    forwarded = proxy.recv()
    assert forwarded == {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": {"a": 1}}}
    assert "result" in _answer(proxy, emitted)
    assert proxy.close() == 0
    assert "failed" not in proxy.stderr()  # neither client_message_failed nor server_message_failed
