"""Over-long lines (second interop review): the scanner that reads a request's id and method from the ends
of a line Lilith never holds whole (``lilith.core.peek``), the framer that keeps those ends, and what the
session does with them (``lilith.core.long_lines``)."""

from __future__ import annotations

import json
from typing import Any

import orjson
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from lilith.core.codec import decode
from lilith.core.framing import HEAD_BYTES, TAIL_BYTES, LineFramer, OversizedLine
from lilith.core.peek import Peek, peek_ends, peek_head
from lilith.errors import INTERNAL_ERROR, INVALID_REQUEST, ParseError
from tests.unit.fakes import MemoryAudit, MemoryLog, make_session

INTERESTING = {"id", "method", "params", "result", "error"}
TEXT = st.text(st.characters(exclude_categories=["Cs"]), max_size=12)  # lone surrogates: no JSON for orjson
KEYS = TEXT.filter(lambda key: key.casefold() not in INTERESTING)
IDS = st.one_of(st.integers(-(2**70), 2**70), TEXT)
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False), TEXT)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(TEXT, inner, max_size=4)),
    max_leaves=12,
)
# Any spacing a writer may use; ensure_ascii exercises \uXXXX escapes, also in keys.
DUMPS = st.fixed_dictionaries(
    {
        "ensure_ascii": st.booleans(),
        "separators": st.sampled_from([(",", ":"), (", ", ": "), (" ,\t", " :\r\n ")]),
    }
)


def dumps(value: Any, options: dict[str, Any]) -> bytes:
    return json.dumps(value, **options).encode()


def same(found: object, expected: object) -> bool:
    """Equal and of the same type (1 is not "1", and never True)."""
    return type(found) is type(expected) and found == expected


@st.composite
def requests(draw: st.DrawFn, id_last: bool = False) -> dict[str, Any]:
    """A JSON-RPC request with extra members; id and method first (Python SDK), or id last (TypeScript)."""
    request_id, method = draw(IDS), draw(TEXT)
    params = {"name": draw(TEXT), **draw(st.dictionaries(TEXT, VALUES, max_size=3))}
    extra = draw(st.dictionaries(KEYS, VALUES, max_size=3))
    if id_last:
        return {"method": method, "params": params, **extra, "jsonrpc": "2.0", "id": request_id}
    return {"jsonrpc": "2.0", "id": request_id, "method": method, "params": params, **extra}


# ------------------------------------------------------------------------------------------------ the scanner
@given(requests(), DUMPS)
def test_a_whole_request_gives_exactly_what_lilith_parser_finds(
    request: dict[str, Any], options: dict[str, Any]
) -> None:
    line = dumps(request, options)
    parsed = decode(line, 64)  # Lilith's own parser (orjson would read ints beyond 64 bits as floats)
    found = peek_head(line)
    assert same(found.request_id, parsed["id"]) and same(found.method, parsed["method"])
    assert found.tool == parsed["params"]["name"] and not found.answer


@given(requests(), DUMPS, st.data())
def test_any_prefix_gives_the_right_id_or_none(request: dict[str, Any], options: dict[str, Any], data: Any) -> None:
    line = dumps(request, options)
    head = line[: data.draw(st.integers(0, len(line)))]
    found = peek_head(head)
    assert found.request_id is None or same(found.request_id, request["id"])
    assert found.method is None or found.method == request["method"]
    assert found.tool is None or found.tool == request["params"]["name"]
    # id and method come first: once the bytes after them are there, both are found.
    through = len(dumps({"jsonrpc": "2.0", "id": request["id"], "method": request["method"]}, options)) - 1
    if len(head) > through:
        assert same(found.request_id, request["id"]) and found.method == request["method"]


@given(requests(id_last=True), DUMPS, st.data())
def test_the_ends_of_a_line_written_id_last_give_the_right_id_or_none(
    request: dict[str, Any], options: dict[str, Any], data: Any
) -> None:
    line = dumps(request, options)
    cut = data.draw(st.integers(0, len(line) - 1))
    gap = data.draw(st.integers(1, len(line) - cut))
    head, tail = line[:cut], line[cut + gap :]
    found = peek_ends(head, tail, whole=False)
    assert found.request_id is None or same(found.request_id, request["id"])
    assert found.method is None or found.method == request["method"]
    # The TypeScript SDK's layout with a huge argument: the id is in the last bytes, the method in the first.
    big = {**request, "params": {**request["params"], "text": "y" * 5000}}
    big = {key: big[key] for key in ("method", "params", *request)}  # the same order, params huge
    line = dumps(big, options)
    found = peek_ends(line[:200], line[-300:], whole=False)
    assert same(found.request_id, request["id"]) and found.method == request["method"]


@given(requests(), DUMPS, st.data())
def test_head_and_tail_with_nothing_between_read_as_the_whole_line(
    request: dict[str, Any], options: dict[str, Any], data: Any
) -> None:
    line = dumps(request, options)
    cut = data.draw(st.integers(0, len(line)))
    assert peek_ends(line[:cut], line[cut:], whole=True) == peek_head(line)


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=400), st.binary(max_size=400))
def test_arbitrary_bytes_never_raise_and_give_only_json_rpc_id_types(head: bytes, tail: bytes) -> None:
    for found in (peek_head(head), peek_ends(head, tail, whole=False), peek_ends(head, tail, whole=True)):
        assert isinstance(found, Peek)
        assert found.request_id is None or type(found.request_id) in (str, int)
        assert found.method is None or type(found.method) is str


def _keeping_every_id(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """json.loads keeps the last of two ids: keep all of them (and those under case variants) aside."""
    value = dict(pairs)
    value["\x00ids"] = [item for key, item in pairs if key.casefold() == "id"]
    return value


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(requests(), DUMPS, st.data())
def test_a_mutated_line_never_gives_an_id_it_does_not_hold(
    request: dict[str, Any], options: dict[str, Any], data: Any
) -> None:
    """Bytes inserted anywhere: when the result still parses, the scanner finds its id or none; an id named
    twice is seen only where both are in the kept bytes (the middle of a line is gone), so then the scanner
    may give either, but never one the line does not hold. (A line that does not parse is refused anyway.)"""
    line = bytearray(dumps(request, options))
    for _ in range(data.draw(st.integers(1, 3))):
        at = data.draw(st.integers(0, len(line)))
        line[at:at] = data.draw(st.sampled_from([b'"', b"\\", b"{", b"}", b"[", b"]", b",", b":", b'"id":7,', b"1"]))
    raw = bytes(line)
    cut = data.draw(st.integers(0, len(raw)))
    found = peek_head(raw[:cut]), peek_ends(raw[: cut // 2], raw[cut:], whole=False), peek_head(raw)
    try:
        parsed = json.loads(raw, object_pairs_hook=_keeping_every_id)
        decode(raw, 64)  # what Lilith's codec accepts
    except (ValueError, ParseError):
        return
    assume(isinstance(parsed, dict))
    ids = parsed["\x00ids"]
    for each in found:
        if each.request_id is not None:
            assert any(same(each.request_id, held) for held in ids)
            assert len(ids) > 1 or same(each.request_id, parsed["id"])
    if len(ids) > 1:
        assert found[2].request_id is None  # the whole line seen: an id named twice is no id


def test_an_id_named_twice_or_of_another_type_is_no_id() -> None:
    start = b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"x":"'
    assert peek_ends(start, b'"}},"id":2}', whole=False) == Peek(None, "tools/call", "echo")
    assert peek_head(b'{"id":1,"ID":1,"method":"m"') == Peek(None, "m")  # a case variant counts as the key
    assert peek_head(b'{"id":1,"id":1,"method":"m"') == Peek(None, "m")
    for other in (b"1.0", b"1e3", b"true", b"null", b"[1]", b'{"a":1}', b"-01"):
        assert peek_head(b'{"method":"m","id":' + other + b',"x":1').request_id is None, other
    assert peek_head(b'{"id":' + b"9" * 5000 + b',"method":"m"}').request_id is None  # int() refuses it
    assert peek_head(b'[{"id":1,"method":"m"},') == Peek()  # a batch: not one request
    assert peek_head(b'{"id":1,"method":"m"} trailing') == Peek()  # not JSON


def test_a_value_cut_off_by_the_kept_bytes_is_unknown() -> None:
    assert peek_head(b'{"id":12').request_id is None  # 12 may be 123…
    assert peek_head(b'{"id":12,').request_id == 12
    assert peek_head(b'{"id":"ab').request_id is None
    assert peek_ends(b'{"method":"m","p":"', b"7}", whole=False).request_id is None  # 7 may be …17
    assert peek_ends(b'{"method":"m","p":"', b'"ab"}', whole=False).request_id is None  # a key or a value?
    # A backslash run reaching the start of the tail has an unknown length: the quote may be escaped.
    assert peek_ends(b'{"p":"', b'\\\\","id":"x\\"y"}', whole=False) == Peek('x"y')
    assert peek_ends(b'{"p":"', b'\\","id":5}', whole=False) == Peek(5)
    # The line {"method":"m","xx\"id":7} has a key that ends in "id", not an id; nor has {"method":"m","xx\\\"id":7}.
    assert peek_ends(b'{"method":"m","xx', b'"id":7}', whole=False) == Peek(None, "m")
    assert peek_ends(b'{"method":"m","xx', b'\\\\"id":7}', whole=False) == Peek(None, "m")


def test_escaped_keys_and_ids_are_read_as_a_json_parser_reads_them() -> None:
    line = b'{"\\u0069d":"a\\"b\\\\","m\\u0065thod":"tools/call","result":{"x":"'
    assert peek_head(line) == Peek('a"b\\', "tools/call", None, True)
    assert peek_ends(
        b'{"result":{"text":"', b'\\u0022"},"jsonrpc":"2.0","\\u0069d":"\\ud83d\\ude00"}', whole=False
    ) == (Peek("\U0001f600", None, None, True))


# ------------------------------------------------------------------------------------------------- the framer
def test_the_framer_keeps_only_the_ends_of_a_line_fed_in_any_chunks() -> None:
    line = b'{"jsonrpc":"2.0","method":"tools/call","params":{"x":"' + b"y" * 300_000 + b'"},"id":"last"}'
    for step in (1000, 4093, 65536):
        framer = LineFramer(100_000)
        reports: list[bytes | OversizedLine] = []
        held = 0
        for start in range(0, len(line), step):
            reports += framer.feed(line[start : start + step])
            held = max(held, framer.buffered)
        reports += framer.feed(b"\r\n")
        early, ended = reports
        assert isinstance(early, OversizedLine) and isinstance(ended, OversizedLine)
        assert not early.ended and early.head == line[:HEAD_BYTES]
        assert ended.ended and ended.early and ended.head == line[:HEAD_BYTES] and ended.tail == line[-TAIL_BYTES:]
        assert ended.size == len(line) and held <= 100_000
        assert peek_ends(ended.head, ended.tail, whole=ended.gap == 0) == Peek("last", "tools/call")


def test_a_line_that_arrives_whole_is_reported_once_with_its_ends() -> None:
    line = b'{"id":1,"method":"m","p":"' + b"z" * 50_000 + b'"}'
    [report] = LineFramer(1000).feed(line + b"\n")
    assert report == OversizedLine(1000, line[:HEAD_BYTES], line[-TAIL_BYTES:], len(line) - HEAD_BYTES - TAIL_BYTES)
    short = b'{"id":1,"p":"' + b"z" * 2000 + b'"}'
    [report] = LineFramer(1000).feed(short + b"\n")
    assert isinstance(report, OversizedLine) and report.gap == 0 and report.head + report.tail == short


# ------------------------------------------------------------------------------------------------ the session
def _reply(raw: list[bytes]) -> dict[str, Any]:
    [line] = raw
    value = orjson.loads(line)
    assert isinstance(value, dict)
    return value


def test_the_refusal_carries_the_id_and_is_recorded_even_when_the_record_fails() -> None:
    for failing in (False, True):
        audit, log = MemoryAudit(), MemoryLog()
        audit.fail = failing
        session = make_session(audit, log)
        head = b'{"method":"tools/call","params":{"name":"echo","arguments":{"x":"'
        out = session.from_client(OversizedLine(64, head, b'"}},"jsonrpc":"2.0","id":"ts-1"}', 10**6))
        assert out.to_server == []
        reply = _reply(out.to_client)
        assert reply["id"] == "ts-1" and reply["error"]["code"] == INVALID_REQUEST
        assert reply["error"]["message"] == "Invalid Request: line exceeds 64 bytes"  # not an audit failure
        if failing:
            assert audit.records == [] and "audit_write_failed" in log.names()
        else:
            [record] = audit.records
            assert record["decision"] == "deny" and record["rule"] == "protocol.line-too-long"
            assert (record["method"], record["tool"], record["request_id"]) == ("tools/call", "echo", "ts-1")
            assert record["arguments"] is None


def test_a_line_answered_as_it_crossed_the_limit_is_not_answered_again_at_its_end() -> None:
    audit, log = MemoryAudit(), MemoryLog()
    session = make_session(audit, log)
    head = b'{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"echo","arguments":{"x":"'
    assert _reply(session.from_client(OversizedLine(64, head, ended=False)).to_client)["id"] == 9
    assert session.from_client(OversizedLine(64, head, b'"}}}', 10**6, early=True)).to_client == []
    assert len(audit.records) == 1 and log.names() == ["client_line_too_long"]
    # A head that does not show the id waits for the end, which does.
    head = b'{"method":"tools/call","params":{"name":"echo","arguments":{"x":"'
    assert session.from_client(OversizedLine(64, head, ended=False)).to_client == []
    out = session.from_client(OversizedLine(64, head, b'"}},"jsonrpc":"2.0","id":10}', 10**6, early=True))
    assert _reply(out.to_client)["id"] == 10 and len(audit.records) == 2


def test_a_client_answer_or_an_unknown_line_gets_id_null_and_no_record() -> None:
    audit, log = MemoryAudit(), MemoryLog()
    session = make_session(audit, log)
    for head in (b'{"jsonrpc":"2.0","id":0,"result":{"x":"', b'{"pad":"', b"garbage"):
        assert _reply(session.from_client(OversizedLine(64, head, b'"}', 10**6)).to_client)["id"] is None
    assert audit.records == []


def test_an_over_long_server_answer_fails_its_request_and_nothing_else() -> None:
    audit, log = MemoryAudit(), MemoryLog()
    session = make_session(audit, log)
    session.from_client(b'{"jsonrpc":"2.0","id":"a","method":"tools/call","params":{"name":"echo"}}')
    session.from_client(b'{"jsonrpc":"2.0","id":"b","method":"tools/call","params":{"name":"echo"}}')
    head = b'{"result":{"content":[{"type":"text","text":"'
    out = session.from_server(OversizedLine(64, head, b'"}]},"jsonrpc":"2.0","id":"b"}', 10**6))
    reply = _reply(out.to_client)
    assert reply["id"] == "b" and reply["error"]["code"] == INTERNAL_ERROR
    assert reply["error"]["message"] == "Lilith: the MCP server sent an answer longer than 64 bytes"
    assert session.in_flight == 1  # "a" still waits; "b" is off the table: its real answer would be unknown
    out = session.from_server(OversizedLine(64, head, b'"}]},"jsonrpc":"2.0","id":"b"}', 10**6))
    assert out.to_client == [] and out.to_server == []
    # A request of the server's is refused to the server, never shown to the client.
    out = session.from_server(OversizedLine(64, b'{"jsonrpc":"2.0","id":"s1","method":"sampling/createMessage"'))
    assert out.to_client == [] and _reply(out.to_server)["id"] == "s1"
