"""After a server restart the session gives the new server what the client set with the old one: the
replayed handshake first, then (once it is answered) the logging level and the resource subscriptions,
each checked against the policy in force now (sans-IO session, fake clock)."""

from __future__ import annotations

import json
from typing import Any

from lilith.core.gate import build_gate
from lilith.core.session import INTERNAL_ID_PREFIX, Limits, Session
from lilith.policy.loader import Policy, parse_policy
from tests.unit.fakes import FakeResolver, MemoryAudit, MemoryLog

ALLOW_TMP = """
version: 1
resource_rules:
  - uri_pattern: "file:///tmp/*"
    action: ALLOW
"""
ALLOW_TMP_A_ONLY = """
version: 1
resource_rules:
  - uri_pattern: "file:///tmp/a"
    action: ALLOW
"""


class Live:
    """The policy in force; a test swaps it as a hot reload would."""

    def __init__(self, text: str) -> None:
        self.policy = parse_policy(text, "test.yaml")

    def __call__(self) -> Policy:
        return self.policy


def _line(message: Any) -> bytes:
    return json.dumps(message).encode()


def _decoded(lines: list[bytes]) -> list[Any]:
    return [json.loads(line) for line in lines]


class Rig:
    def __init__(self, policy: str = ALLOW_TMP) -> None:
        self.live = Live(policy)
        self.audit = MemoryAudit()
        self.log = MemoryLog()
        self.now = 100.0
        gate = build_gate(self.live, FakeResolver(), lambda: self.now)
        self.session = Session(gate, self.audit, self.log, Limits(request_timeout=5.0), clock=lambda: self.now)
        init = {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "c"}}
        self.exchange(
            {"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": init}, {"protocolVersion": "2025-11-25"}
        )
        self.session.from_client(_line({"jsonrpc": "2.0", "method": "notifications/initialized"}))

    def exchange(self, request: dict[str, Any], result: dict[str, Any] | None = None, error: bool = False) -> None:
        """The client sends ``request``; the server answers it with ``result`` (or an error)."""
        forwarded = self.session.from_client(_line(request)).to_server
        assert forwarded, "not forwarded"
        answer: dict[str, Any] = {"jsonrpc": "2.0", "id": request["id"]}
        answer |= {"error": {"code": -32603, "message": "no"}} if error else {"result": result or {}}
        assert self.session.from_server(_line(answer)).to_client  # the client gets its answer

    def restart(self) -> list[dict[str, Any]]:
        """The server dies and comes back; returns the replayed handshake as the new server gets it."""
        self.session.server_lost("exited")
        return _decoded(self.session.handshake_replay().to_server)

    def answer_initialize(self, init: dict[str, Any]) -> list[dict[str, Any]]:
        """The new server answers the replayed initialize; returns what Lilith then sends it."""
        answer = {"jsonrpc": "2.0", "id": init["id"], "result": {"protocolVersion": "2025-11-25"}}
        effects = self.session.from_server(_line(answer))
        assert effects.to_client == []  # the client never sent this request
        return _decoded(effects.to_server)


def _subscribe(request_id: int, uri: str, **meta: Any) -> dict[str, Any]:
    params: dict[str, Any] = {"uri": uri}
    if meta:
        params["_meta"] = meta
    return {"jsonrpc": "2.0", "id": request_id, "method": "resources/subscribe", "params": params}


def test_the_level_and_subscriptions_follow_the_answered_handshake() -> None:
    rig = Rig()
    rig.exchange({"jsonrpc": "2.0", "id": 1, "method": "logging/setLevel", "params": {"level": "info"}})
    rig.exchange({"jsonrpc": "2.0", "id": 2, "method": "logging/setLevel", "params": {"level": "debug"}})
    rig.exchange({"jsonrpc": "2.0", "id": 3, "method": "logging/setLevel", "params": {"level": "bogus"}}, error=True)
    rig.exchange(_subscribe(4, "file:///tmp/a", progressToken="p4", trace="t"))
    rig.exchange(_subscribe(5, "file:///tmp/b"))
    rig.exchange(_subscribe(6, "file:///tmp/c"), error=True)  # the server refused it
    unsubscribe = {"jsonrpc": "2.0", "id": 7, "method": "resources/unsubscribe", "params": {"uri": "file:///tmp/b"}}
    rig.exchange(unsubscribe)
    init, initialized = rig.restart()  # nothing else before the server has answered initialize
    assert init["method"] == "initialize"
    assert init["id"].startswith(INTERNAL_ID_PREFIX)
    assert initialized["method"] == "notifications/initialized"
    level, subscription = rig.answer_initialize(init)
    assert (level["method"], level["params"]) == ("logging/setLevel", {"level": "debug"})
    assert subscription["method"] == "resources/subscribe"
    assert subscription["params"] == {"uri": "file:///tmp/a", "_meta": {"trace": "t"}}  # the old token is not reused
    assert len({init["id"], level["id"], subscription["id"]}) == 3
    assert all(m["id"].startswith(INTERNAL_ID_PREFIX) for m in (level, subscription))
    # Their answers are Lilith's, never the client's; a subscription restored once is restored again.
    for request in (level, subscription):
        assert rig.session.from_server(_line({"jsonrpc": "2.0", "id": request["id"], "result": {}})).to_client == []
    assert rig.session.in_flight == 0
    init, _ = rig.restart()
    assert [m["method"] for m in rig.answer_initialize(init)] == ["logging/setLevel", "resources/subscribe"]
    # Each restored subscription was decided and recorded like the client's own.
    decisions = [(r["method"], r["uri"], r["decision"]) for r in rig.audit.records if r["event"] == "decision"]
    assert decisions.count(("resources/subscribe", "file:///tmp/a", "allow")) == 3


def test_a_subscription_the_policy_now_denies_is_not_restored() -> None:
    rig = Rig()
    rig.exchange(_subscribe(1, "file:///tmp/a"))
    rig.exchange(_subscribe(2, "file:///tmp/b"))
    rig.live.policy = parse_policy(ALLOW_TMP_A_ONLY, "test.yaml")  # a hot reload narrows the rules
    init, _ = rig.restart()
    [restored] = rig.answer_initialize(init)
    assert restored["params"]["uri"] == "file:///tmp/a"
    denied = [r for r in rig.audit.records if r["event"] == "decision" and r["decision"] == "deny"]
    assert [(r["uri"], r["request_id"][: len(INTERNAL_ID_PREFIX)]) for r in denied] == [
        ("file:///tmp/b", INTERNAL_ID_PREFIX)
    ]
    assert "restore_denied" in rig.log.names()
    # Dropped for good: a later reload that allows it again does not bring it back unasked.
    rig.live.policy = parse_policy(ALLOW_TMP, "test.yaml")
    rig.session.from_server(_line({"jsonrpc": "2.0", "id": restored["id"], "result": {}}))
    init, _ = rig.restart()
    assert [m["params"]["uri"] for m in rig.answer_initialize(init)] == ["file:///tmp/a"]


def test_a_restored_subscription_the_new_server_refuses_is_forgotten() -> None:
    rig = Rig()
    rig.exchange(_subscribe(1, "file:///tmp/a"))
    init, _ = rig.restart()
    [restored] = rig.answer_initialize(init)
    refusal = {"jsonrpc": "2.0", "id": restored["id"], "error": {"code": -32602, "message": "unknown resource"}}
    assert rig.session.from_server(_line(refusal)).to_client == []
    assert "handshake_replay_failed" in rig.log.names()
    init, _ = rig.restart()
    assert rig.answer_initialize(init) == []


def test_a_failed_replayed_handshake_restores_nothing() -> None:
    rig = Rig()
    rig.exchange(_subscribe(1, "file:///tmp/a"))
    init, _ = rig.restart()
    failure = {"jsonrpc": "2.0", "id": init["id"], "error": {"code": -32603, "message": "not today"}}
    effects = rig.session.from_server(_line(failure))
    assert effects.to_server == []
    assert effects.to_client == []


def test_replayed_requests_never_take_an_id_the_client_has_in_flight() -> None:
    rig = Rig()
    rig.session.server_lost("exited")
    client_id = f"{INTERNAL_ID_PREFIX}1"
    ping = {"jsonrpc": "2.0", "id": client_id, "method": "ping"}
    assert rig.session.from_client(_line(ping)).to_server  # sent while the server restarts
    [init, _] = _decoded(rig.session.handshake_replay().to_server)
    assert init["id"] != client_id
    answer = rig.session.from_server(_line({"jsonrpc": "2.0", "id": client_id, "result": {}}))
    assert _decoded(answer.to_client) == [{"jsonrpc": "2.0", "id": client_id, "result": {}}]
