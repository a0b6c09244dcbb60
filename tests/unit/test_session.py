from __future__ import annotations

import json
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lilith.core.framing import OversizedLine
from lilith.core.session import Effects, Session
from lilith.errors import INVALID_PARAMS, INVALID_REQUEST, PARSE_ERROR, POLICY_DENIED, SERVER_UNAVAILABLE
from tests.unit.fakes import FakeResolver, MemoryAudit, MemoryLog, make_session


def line(value: Any) -> bytes:
    return json.dumps(value).encode()


def lines(raw: list[bytes]) -> list[Any]:
    return [orjson.loads(item) for item in raw]


def call(request_id: Any, tool: str, **arguments: Any) -> bytes:
    return line(
        {"jsonrpc": "2.0", "id": request_id, "method": "tools/call", "params": {"name": tool, "arguments": arguments}}
    )


def only_client(effects: Effects) -> dict[str, Any]:
    assert effects.to_server == []
    [reply] = lines(effects.to_client)
    assert isinstance(reply, dict)
    return reply


def test_allowed_call_is_forwarded_as_reserialised_json(session: Session, audit: MemoryAudit) -> None:
    effects = session.from_client(
        b'{"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "echo", "x-ext": {"k": 1}}}'
    )
    assert effects.to_client == []
    assert effects.to_server == [
        b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","x-ext":{"k":1}}}\n'
    ]
    assert audit.records[0]["decision"] == "allow"
    assert audit.records[0]["rule"] == "static_rules.echo"


def test_denied_call_never_forwarded_and_answered_with_lilith_error(session: Session, audit: MemoryAudit) -> None:
    reply = only_client(session.from_client(call(7, "git_push")))
    assert reply["id"] == 7
    assert reply["error"]["code"] == POLICY_DENIED
    assert reply["error"]["message"].startswith("Lilith: ")
    assert reply["error"]["data"] == {"rule": "static_rules.git_push", "reason": "tool 'git_push' is denied by policy"}
    assert audit.records[-1]["decision"] == "deny"


@pytest.mark.parametrize("tool", ["Echo", "ech\u043e", "echo ", "ECHO", "git_push"])
def test_names_that_do_not_spell_an_allowed_rule_stay_denied(session: Session, tool: str) -> None:
    assert only_client(session.from_client(call(1, tool)))["error"]["code"] == POLICY_DENIED


def test_nul_in_tool_name_is_invalid_params(session: Session) -> None:
    reply = only_client(session.from_client(call("a", "echo\u0000")))
    assert reply["error"]["code"] == INVALID_PARAMS
    assert reply["id"] == "a"


def test_missing_tool_name_is_invalid_params(session: Session) -> None:
    reply = only_client(session.from_client(line({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {}})))
    assert reply["error"]["code"] == INVALID_PARAMS


def test_duplicate_key_smuggling_checks_and_forwards_the_same_value(session: Session) -> None:
    raw = b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","name":"git_push"}}'
    reply = only_client(session.from_client(raw))
    assert reply["error"]["code"] == POLICY_DENIED


def test_not_json_gets_parse_error_with_null_id(session: Session) -> None:
    reply = only_client(session.from_client(b"{nope"))
    assert reply == {"jsonrpc": "2.0", "id": None, "error": reply["error"]}
    assert reply["error"]["code"] == PARSE_ERROR


@pytest.mark.parametrize(
    "value",
    [
        [1, 2],
        {"jsonrpc": "1.0", "id": 1, "method": "x"},
        {"id": 1, "method": "x"},
        {"jsonrpc": "2.0", "id": None, "method": "x"},
        {"jsonrpc": "2.0", "id": True, "method": "x"},
        {"jsonrpc": "2.0", "id": 1, "method": ""},
        {"jsonrpc": "2.0", "id": 1, "method": "to\u0000ols/call"},
        {"jsonrpc": "2.0", "id": 1, "method": "x", "params": 3},
        {"jsonrpc": "2.0", "id": 1},
        "hello",
        17,
    ],
)
def test_invalid_jsonrpc_is_rejected(session: Session, value: Any) -> None:
    reply = only_client(session.from_client(line(value)))
    assert reply["error"]["code"] == INVALID_REQUEST


def test_oversized_line_from_client_is_rejected(session: Session) -> None:
    assert only_client(session.from_client(OversizedLine(10)))["error"]["code"] == INVALID_REQUEST


def test_ids_keep_their_type_and_duplicates_in_flight_are_rejected(session: Session) -> None:
    assert session.from_client(call(1, "echo")).to_server
    assert session.from_client(call("1", "echo")).to_server
    assert session.from_client(call(1.5, "echo")).to_server
    reply = only_client(session.from_client(call(1, "echo")))
    assert reply["error"]["code"] == INVALID_REQUEST
    assert reply["id"] == 1
    # The server answers "1": only the string request completes; 1 stays in flight.
    out = session.from_server(b'{"jsonrpc":"2.0","id":"1","result":{}}')
    assert lines(out.to_client) == [{"jsonrpc": "2.0", "id": "1", "result": {}}]
    assert session.in_flight == 2
    # 1 is still in flight, "1" is free again.
    assert session.from_client(call("1", "echo")).to_server
    assert only_client(session.from_client(call(1, "echo")))["error"]["code"] == INVALID_REQUEST


def test_response_for_unknown_id_is_dropped_and_logged(session: Session, log: MemoryLog) -> None:
    out = session.from_server(b'{"jsonrpc":"2.0","id":99,"result":{}}')
    assert out.to_client == [] and out.to_server == []
    assert "server_response_unknown_id" in log.names()


def test_server_garbage_is_dropped_never_shown_to_client(session: Session, log: MemoryLog) -> None:
    for bad in (b"Traceback (most recent call last):", b'{"hello":1}', b"[1,2]", OversizedLine(5)):
        out = session.from_server(bad)
        assert out.to_client == [] and out.to_server == []
    assert len(log.events) == 4


def test_invalid_server_response_to_a_pending_request_fails_that_request(session: Session) -> None:
    session.from_client(call(5, "echo"))
    out = session.from_server(b'{"jsonrpc":"2.0","id":5,"result":{},"error":{"code":1,"message":"x"}}')
    [reply] = lines(out.to_client)
    assert reply["id"] == 5 and reply["error"]["message"].startswith("Lilith: ")
    assert session.in_flight == 0


def test_server_requests_and_client_responses_round_trip(session: Session, log: MemoryLog) -> None:
    hello = {"protocolVersion": "2025-11-25", "capabilities": {"sampling": {}}, "clientInfo": {"name": "c"}}
    session.from_client(line({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": hello}))
    sampling = {"jsonrpc": "2.0", "id": "s1", "method": "sampling/createMessage", "params": {"messages": []}}
    assert lines(session.from_server(line(sampling)).to_client) == [sampling]
    answer = {"jsonrpc": "2.0", "id": "s1", "result": {"role": "assistant", "content": {"type": "text", "text": "hi"}}}
    assert lines(session.from_client(line(answer)).to_server) == [answer]
    # A second answer to the same request is unknown now.
    assert session.from_client(line(answer)).to_server == []
    assert "client_response_unknown_id" in log.names()


def test_notifications_pass_both_ways_untouched(session: Session) -> None:
    for note in (
        {"jsonrpc": "2.0", "method": "notifications/progress", "params": {"progressToken": 1, "progress": 0.5}},
        {"jsonrpc": "2.0", "method": "notifications/message", "params": {"level": "info", "data": "x"}},
        {"jsonrpc": "2.0", "method": "notifications/tools/list_changed"},
        {"jsonrpc": "2.0", "method": "x-vendor/anything", "params": {"deep": {"a": [1, {"b": None}]}}},
    ):
        assert lines(session.from_server(line(note)).to_client) == [note]
        assert lines(session.from_client(line(note)).to_server) == [note]


def test_cancelled_request_is_forgotten(session: Session) -> None:
    session.from_client(call(3, "echo"))
    session.from_client(line({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 3}}))
    assert session.in_flight == 0


def test_unknown_methods_and_modern_era_pass(session: Session) -> None:
    discover = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "server/discover",
        "params": {"_meta": {"io.modelcontextprotocol/protocolVersion": "2026-07-28"}},
    }
    assert lines(session.from_client(line(discover)).to_server) == [discover]
    result = {
        "jsonrpc": "2.0",
        "id": 1,
        "result": {"supportedVersions": ["2026-07-28"], "resultType": "complete", "x": 1},
    }
    assert lines(session.from_server(line(result)).to_client) == [result]


def _initialize(session: Session, version: str) -> None:
    init = {
        "jsonrpc": "2.0",
        "id": 0,
        "method": "initialize",
        "params": {"protocolVersion": version, "capabilities": {}},
    }
    session.from_client(line(init))
    session.from_server(line({"jsonrpc": "2.0", "id": 0, "result": {"protocolVersion": version, "capabilities": {}}}))
    session.from_client(line({"jsonrpc": "2.0", "method": "notifications/initialized"}))


def test_batches_refused_unless_2025_03_26(session: Session) -> None:
    _initialize(session, "2025-06-18")
    batch = [{"jsonrpc": "2.0", "id": 1, "method": "ping"}]
    reply = only_client(session.from_client(line(batch)))
    assert reply["error"]["code"] == INVALID_REQUEST and reply["id"] is None


def test_batch_checks_every_element_and_reassembles_one_reply(session: Session) -> None:
    _initialize(session, "2025-03-26")
    batch = [
        {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "echo"}},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "git_push"}},
        {"jsonrpc": "2.0", "method": "notifications/progress", "params": {}},
        {"jsonrpc": "2.0", "id": 3, "method": "ping"},
    ]
    effects = session.from_client(line(batch))
    assert effects.to_client == []
    [forwarded] = lines(effects.to_server)
    assert [item.get("id") for item in forwarded] == [1, None, 3]
    out = session.from_server(line([{"jsonrpc": "2.0", "id": 3, "result": {}}]))
    assert out.to_client == []
    out = session.from_server(line({"jsonrpc": "2.0", "id": 1, "result": {"ok": True}}))
    [reply] = lines(out.to_client)
    assert sorted(item["id"] for item in reply) == [1, 2, 3]
    denied = next(item for item in reply if item["id"] == 2)
    assert denied["error"]["code"] == POLICY_DENIED


def test_batch_size_is_capped(audit: MemoryAudit, log: MemoryLog) -> None:
    session = make_session(audit, log, max_batch=2)
    _initialize(session, "2025-03-26")
    batch = [{"jsonrpc": "2.0", "id": n, "method": "ping"} for n in range(3)]
    assert only_client(session.from_client(line(batch)))["error"]["code"] == INVALID_REQUEST


def test_server_lost_answers_every_pending_request(session: Session) -> None:
    session.from_client(call(1, "echo"))
    session.from_client(call("two", "echo"))
    out = session.server_lost("exited with status 3")
    replies = lines(out.to_client)
    assert sorted(str(reply["id"]) for reply in replies) == ["1", "two"]
    assert all(reply["error"]["code"] == SERVER_UNAVAILABLE for reply in replies)
    assert session.in_flight == 0


def test_handshake_replay_uses_internal_id_and_swallows_the_answer(session: Session) -> None:
    _initialize(session, "2025-11-25")
    replay = lines(session.handshake_replay().to_server)
    assert replay[0]["method"] == "initialize" and str(replay[0]["id"]).startswith("lilith-internal-")
    assert replay[1] == {"jsonrpc": "2.0", "method": "notifications/initialized"}
    out = session.from_server(
        line({"jsonrpc": "2.0", "id": replay[0]["id"], "result": {"protocolVersion": "2025-11-25"}})
    )
    assert out.to_client == []


def test_audit_failure_denies(session: Session, audit: MemoryAudit) -> None:
    audit.fail = True
    reply = only_client(session.from_client(call(1, "echo")))
    assert reply["error"]["code"] == POLICY_DENIED
    assert reply["error"]["data"]["rule"] == "audit-failure"


def test_exception_in_a_check_denies_and_session_survives(audit: MemoryAudit, log: MemoryLog) -> None:
    from lilith.core.gate import Gate
    from lilith.core.interceptor import Interceptor
    from lilith.core.message import Message
    from lilith.policy.decision import Decision

    class Broken(Interceptor):
        name = "broken"

        def check_request(self, message: Message) -> Decision | None:
            if message.method == "tools/call":
                raise ZeroDivisionError("boom")
            return None

    session = Session(Gate([Broken()]), audit, log)
    reply = only_client(session.from_client(call(1, "echo")))
    assert reply["error"]["code"] == POLICY_DENIED
    assert reply["error"]["data"]["rule"] == "broken.error"
    assert session.from_client(line({"jsonrpc": "2.0", "id": 2, "method": "ping"})).to_server


tool_names = st.sampled_from(["echo", "git_log", "git_push", "rm", "Echo", "git_", "ech\u043e"]) | st.text(max_size=8)


@settings(max_examples=300)
@given(st.lists(st.tuples(st.integers(0, 5) | st.text(max_size=2), tool_names), max_size=12))
def test_property_denied_calls_never_reach_the_server(calls: list[tuple[Any, str]]) -> None:
    from lilith.policy.loader import parse_policy
    from tests.unit.fakes import POLICY

    policy = parse_policy(POLICY, "p.yaml")
    session = make_session(MemoryAudit(), MemoryLog())
    for request_id, tool in calls:
        effects = session.from_client(call(request_id, tool))
        for raw in effects.to_server:
            forwarded = orjson.loads(raw)
            params = forwarded["params"]
            assert policy.decide_tool_call(params["name"], params.get("arguments", {}), FakeResolver()).allowed


@settings(max_examples=300)
@given(st.binary(max_size=200))
def test_property_any_bytes_from_either_side_never_raise(data: bytes) -> None:
    session = make_session(MemoryAudit(), MemoryLog())
    session.from_client(data)
    session.from_server(data)


def _list_tools(session: Session, names: list[str]) -> list[str]:
    session.from_client(line({"jsonrpc": "2.0", "id": "L", "method": "tools/list"}))
    tools = [{"name": name, "inputSchema": {"type": "object"}} for name in names]
    out = session.from_server(line({"jsonrpc": "2.0", "id": "L", "result": {"tools": tools, "nextCursor": "c"}}))
    [reply] = lines(out.to_client)
    assert reply["result"]["nextCursor"] == "c"
    return [tool["name"] for tool in reply["result"]["tools"]]


def test_tools_list_shows_only_callable_tools(session: Session) -> None:
    names = ["echo", "git_log", "git_push", "rm", "Echo", "ech\u043e", "echo\u0000"]
    assert _list_tools(session, names) == ["echo", "git_log"]


def test_audit_mode_forwards_and_records_would_deny(audit: MemoryAudit, log: MemoryLog) -> None:
    session = make_session(audit, log, "version: 1\nmode: audit\nstatic_rules:\n  echo: ALLOW\n")
    assert session.from_client(call(1, "rm")).to_server
    assert audit.records[-1]["decision"] == "would-deny"
    assert audit.records[-1]["rule"] == "default-deny"
    assert _list_tools(session, ["echo", "rm"]) == ["echo", "rm"]


def test_on_deny_tool_result_lets_the_model_recover(audit: MemoryAudit, log: MemoryLog) -> None:
    session = make_session(audit, log, "version: 1\non_deny: tool_result\nstatic_rules:\n  echo: ALLOW\n")
    reply = only_client(session.from_client(call(4, "rm")))
    assert reply["id"] == 4
    assert reply["result"]["isError"] is True
    assert reply["result"]["content"][0]["text"].startswith("Lilith: ")
    assert audit.records[-1]["decision"] == "deny"


def test_a_failing_result_filter_fails_closed(audit: MemoryAudit, log: MemoryLog) -> None:
    from lilith.core.gate import Gate
    from lilith.core.interceptor import Interceptor
    from lilith.core.message import Message
    from lilith.policy.decision import Decision

    class BrokenFilter(Interceptor):
        name = "broken"

        def check_request(self, message: Message) -> Decision | None:
            return None

        def filter_result(self, method: str, result: dict[str, Any], *, plain: bool = False) -> dict[str, Any]:
            raise KeyError("boom")

    session = Session(Gate([BrokenFilter()]), audit, log)
    session.from_client(line({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}))
    out = session.from_server(line({"jsonrpc": "2.0", "id": 1, "result": {"tools": [{"name": "secret_tool"}]}}))
    [reply] = lines(out.to_client)
    assert "secret_tool" not in json.dumps(reply)
    assert reply["error"]["message"].startswith("Lilith: ")
