"""Session defences found by the red-team catalogue: ids, key and method look-alikes, server requests."""

from __future__ import annotations

import json
from typing import Any

import pytest

from lilith.core.message import case_collision, id_key, imitated_method
from lilith.core.session import Limits, Session
from tests.unit.fakes import MemoryAudit, MemoryLog, make_session


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _line(value: Any) -> bytes:
    return json.dumps(value).encode()


def _decoded(raw: list[bytes]) -> list[Any]:
    return [json.loads(item) for item in raw]


def _call(request_id: Any, tool: str = "echo", **params: Any) -> bytes:
    return _line({"jsonrpc": "2.0", "id": request_id, "method": "tools/call", "params": {"name": tool, **params}})


def _session(clock: Clock | None = None) -> Session:
    base = make_session(MemoryAudit(), MemoryLog())
    if clock is None:
        return base
    return Session(
        base._gate, MemoryAudit(), MemoryLog(), Limits(request_timeout=5.0, request_timeout_max=50.0), clock=clock
    )


def _initialize(session: Session, capabilities: dict[str, Any]) -> None:
    hello = {"protocolVersion": "2025-11-25", "capabilities": capabilities, "clientInfo": {"name": "c"}}
    session.from_client(_line({"jsonrpc": "2.0", "id": "init", "method": "initialize", "params": hello}))
    session.from_server(_line({"jsonrpc": "2.0", "id": "init", "result": {"protocolVersion": "2025-11-25"}}))


def test_numerically_equal_ids_are_one_id() -> None:
    assert id_key(7) == id_key(7.0)
    assert id_key(2**53) == id_key(2**53 + 1)  # a JavaScript peer cannot tell them apart either
    assert id_key(7) != id_key("7")
    assert id_key(10**400) == (int, 10**400)  # beyond a double: kept exact
    session = _session()
    session.from_client(_call(7))
    [refused] = _decoded(session.from_client(_call(7.0)).to_client)
    assert refused["error"]["code"] == -32600


def test_a_cancelled_id_cannot_be_reused_until_its_late_answer_came() -> None:
    session = _session(Clock())
    _initialize(session, {})
    session.from_client(_call(5))
    session.from_client(_line({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 5}}))
    [refused] = _decoded(session.from_client(_call(5)).to_client)
    assert "cancelled request" in refused["error"]["message"]
    late = session.from_server(_line({"jsonrpc": "2.0", "id": 5, "result": {"content": []}}))
    assert late.to_client == []  # the cancelled call's answer is dropped ...
    assert session.from_client(_call(5)).to_server != []  # ... and the id is free again


def test_retired_ids_expire_with_the_hard_maximum() -> None:
    clock = Clock()
    session = _session(clock)
    _initialize(session, {})
    session.from_client(_call(5))
    clock.now = 5.0
    session.expire()  # timed out: retired
    assert session.from_client(_call(5)).to_server == []
    clock.now = 56.0
    session.expire()
    assert session.from_client(_call(5)).to_server != []


@pytest.mark.parametrize(
    ("value", "pair"),
    [
        ({"name": "a", "NAME": "b"}, ("name", "NAME")),
        ({"params": {"arguments": {}, "argument\u017f": {}}}, ("arguments", "argument\u017f")),
        ({"a": [{"x": 1}, {"path": 1, "PATH": 2}]}, ("path", "PATH")),
        ({"name": "a", "title": "A"}, None),
    ],
)
def test_keys_equal_under_case_folding_are_found(value: Any, pair: tuple[str, str] | None) -> None:
    assert case_collision(value) == pair


def test_a_message_with_case_colliding_keys_is_refused_and_not_forwarded() -> None:
    session = _session()
    raw = b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo"},"Params":{"name":"delete_file"}}'
    effects = session.from_client(raw)
    assert effects.to_server == []
    [refused] = _decoded(effects.to_client)
    assert refused["error"]["code"] == -32600
    assert "'params' and 'Params'" in refused["error"]["message"]


@pytest.mark.parametrize(
    "method",
    [
        "Tools/call",
        "TOOLS/CALL",
        "tools/call ",
        "tools/call\u200b",
        "prompts/GET",
        "\uff54ools/call",
        "t\u043e\u043els/call",
    ],
)
def test_methods_imitating_standard_ones_are_refused(method: str) -> None:
    assert imitated_method(method) is not None
    session = _session()
    effects = session.from_client(_line({"jsonrpc": "2.0", "id": 1, "method": method, "params": {"name": "x"}}))
    assert effects.to_server == []
    assert "imitates" in _decoded(effects.to_client)[0]["error"]["message"]


def test_extension_methods_still_pass() -> None:
    assert imitated_method("x-vendor/tools/call") is None
    assert imitated_method("tools/call") is None
    session = _session()
    assert session.from_client(_line({"jsonrpc": "2.0", "id": 1, "method": "x-vendor/thing"})).to_server != []


def test_server_requests_need_the_capability_the_client_declared() -> None:
    session = _session()
    _initialize(session, {"sampling": {}})
    sampling = {"jsonrpc": "2.0", "id": "s1", "method": "sampling/createMessage", "params": {"messages": []}}
    assert _decoded(session.from_server(_line(sampling)).to_client) == [sampling]
    roots = {"jsonrpc": "2.0", "id": "r1", "method": "roots/list"}
    effects = session.from_server(_line(roots))
    assert effects.to_client == []
    [answer] = _decoded(effects.to_server)
    assert answer["id"] == "r1"
    assert answer["error"]["code"] == -32601
    assert "'roots'" in answer["error"]["message"]


def test_servers_may_not_send_requests_in_the_modern_era() -> None:
    session = _session()
    meta = {"io.modelcontextprotocol/protocolVersion": "2026-07-28"}
    session.from_client(_call(1, _meta=meta))
    assert session.protocol_version == "2026-07-28"
    request = {"jsonrpc": "2.0", "id": "e1", "method": "elicitation/create", "params": {"message": "token?"}}
    effects = session.from_server(_line(request))
    assert effects.to_client == []
    assert "2026-07-28" in _decoded(effects.to_server)[0]["error"]["message"]
