"""Parser differentials: duplicate and case-folded keys, escapes, encodings, malformed JSON-RPC, and
methods that look like a policed method. Raw byte payloads use ``@ID1@`` for the case's first id."""

from __future__ import annotations

from tests.redteam.attack_classes import reference
from tests.redteam.catalogue.payloads import raw_call
from tests.redteam.model import (
    INVALID_PARAMS,
    INVALID_REQUEST,
    PARSE_ERROR,
    Answered,
    Case,
    Check,
    Denied,
    Forwarded,
    Observation,
    Ref,
    Rejected,
    call,
    request,
    sends,
)

GO_JSON = "Go encoding/json: case-insensitive key matching, last key wins; CVE-2026-27896 (Go MCP SDK)"
RFC8259 = "RFC 8259 (JSON): sections 2, 4 (duplicate names), 6 (numbers), 8.1 (UTF-8, no BOM)"
JSONRPC = "JSON-RPC 2.0 specification, section 4 (request object)"


def _server_got_echo_only(obs: Observation) -> None:
    calls = [m for m in obs.server if isinstance(m, dict) and m.get("method") == "tools/call"]
    assert [m["params"]["name"] for m in calls] == ["echo"], calls


def _server_got_ping_only(obs: Observation) -> None:
    assert [m.get("method") for m in obs.server if isinstance(m, dict)] == ["ping"], obs.server


DIFFERENTIAL_CASES = [
    Case(
        "RT-DIF-001",
        "parser-differential",
        'duplicate "name": denied first, allowed last: only the checked message is forwarded',
        sends(
            b'{"jsonrpc":"2.0","id":@ID1@,"method":"tools/call",'
            b'"params":{"name":"delete_file","arguments":{"path":"/"},"name":"echo"}}'
        ),
        (Forwarded(unchanged=False), Check("the server saw only `echo`", _server_got_echo_only)),
        f"{reference('parser-differential')}; {RFC8259}",
        server_must_not_receive=("delete_file",),
    ),
    Case(
        "RT-DIF-002",
        "parser-differential",
        'duplicate "name": allowed first, denied last: the last one is what is checked',
        sends(
            b'{"jsonrpc":"2.0","id":@ID1@,"method":"tools/call",'
            b'"params":{"name":"echo","arguments":{},"name":"delete_file"}}'
        ),
        (Denied("static_rules.delete_file"),),
        reference("parser-differential"),
    ),
    Case(
        "RT-DIF-003",
        "parser-differential",
        'duplicate "method": tools/call then ping: forwarded as the ping it was checked as',
        sends(b'{"jsonrpc":"2.0","id":@ID1@,"method":"tools/call","params":{"name":"delete_file"},"method":"ping"}'),
        (Forwarded(unchanged=False), Check("the server saw a ping, not a tools/call", _server_got_ping_only)),
        reference("parser-differential"),
        server_must_not_receive=("tools/call",),
    ),
    Case(
        "RT-DIF-004",
        "parser-differential",
        'duplicate "method": ping then tools/call',
        sends(b'{"jsonrpc":"2.0","id":@ID1@,"method":"ping","method":"tools/call","params":{"name":"delete_file"}}'),
        (Denied("static_rules.delete_file"),),
        reference("parser-differential"),
    ),
    Case(
        "RT-DIF-005",
        "parser-differential",
        'duplicate "arguments": the secret path last is what is checked',
        sends(raw_call(b'{"path":"@ROOT@/allowed/notes.txt"},"arguments":{"path":"/etc/shadow"}', name=b'"read_file"')),
        (Denied("read-within-allowed"),),
        reference("parser-differential"),
    ),
    Case(
        "RT-DIF-006",
        "parser-differential",
        'duplicate "arguments": the secret path first never reaches the server',
        sends(raw_call(b'{"path":"/etc/shadow"},"arguments":{"path":"@ROOT@/allowed/notes.txt"}', name=b'"read_file"')),
        (Forwarded(unchanged=False),),
        reference("parser-differential"),
        server_must_not_receive=("/etc/shadow",),
    ),
    Case(
        "RT-DIF-007",
        "parser-differential",
        "a key spelled with JSON escapes (n\\u0061me) is the same key",
        sends(
            b'{"jsonrpc":"2.0","id":@ID1@,"method":"tools/call","params":{"n\\u0061me":"delete_file","arguments":{}}}'
        ),
        (Denied("static_rules.delete_file"),),
        reference("parser-differential"),
    ),
    Case(
        "RT-DIF-008",
        "parser-differential",
        "a tool name spelled with JSON escapes (delete\\u005ffile) is the same name",
        sends(raw_call(b"{}", name=b'"delete\\u005ffile"')),
        (Denied("static_rules.delete_file"),),
        reference("parser-differential"),
    ),
    Case(
        "RT-DIF-009",
        "parser-differential",
        "two JSON documents on one line",
        sends(raw_call(b"{}") + b'{"jsonrpc":"2.0","id":"RT-DIF-009-b","method":"ping"}'),
        (Rejected(PARSE_ERROR, ref=None),),
        f"{reference('parser-differential')}; {RFC8259}",
    ),
    Case(
        "RT-DIF-010",
        "parser-differential",
        "trailing garbage after the document",
        sends(raw_call(b"{}") + b" ;rm -rf /"),
        (Rejected(PARSE_ERROR, ref=None),),
        reference("parser-differential"),
    ),
    Case(
        "RT-DIF-011",
        "parser-differential",
        "a UTF-8 byte order mark before the document",
        sends(b"\xef\xbb\xbf" + raw_call(b"{}")),
        (Rejected(PARSE_ERROR, ref=None),),
        f"{reference('parser-differential')}; {RFC8259}",
    ),
    Case(
        "RT-DIF-012",
        "parser-differential",
        "invalid UTF-8 inside a string",
        sends(raw_call(b'{"path":"@ROOT@/allowed/\xff\xfe"}', name=b'"read_file"')),
        (Rejected(PARSE_ERROR, ref=None),),
        reference("parser-differential"),
    ),
    Case(
        "RT-DIF-013",
        "parser-differential",
        "an overlong UTF-8 encoding of `/` (C0 AF)",
        sends(raw_call(b'{"path":"@ROOT@/allowed/..\xc0\xaf..\xc0\xafsecret"}', name=b'"read_file"')),
        (Rejected(PARSE_ERROR, ref=None),),
        reference("parser-differential"),
    ),
    Case(
        "RT-DIF-014",
        "parser-differential",
        "a lone surrogate escape",
        sends(raw_call(b'{"x":"\\ud800"}')),
        (Rejected(PARSE_ERROR, ref=None),),
        reference("parser-differential"),
    ),
    Case(
        "RT-DIF-015",
        "parser-differential",
        "NaN, which Python's json would accept",
        sends(raw_call(b'{"x":NaN}')),
        (Rejected(PARSE_ERROR, ref=None),),
        f"{reference('parser-differential')}; {RFC8259}",
    ),
    Case(
        "RT-DIF-016",
        "parser-differential",
        "single-quoted JSON",
        sends(b"{'jsonrpc':'2.0','id':1,'method':'ping'}"),
        (Rejected(PARSE_ERROR, ref=None),),
        reference("parser-differential"),
    ),
    Case(
        "RT-DIF-017",
        "parser-differential",
        "a comment inside the document",
        sends(raw_call(b'{/* "name":"delete_file" */}')),
        (Rejected(PARSE_ERROR, ref=None),),
        reference("parser-differential"),
    ),
    Case(
        "RT-DIF-018",
        "parser-differential",
        '"jsonrpc":"2.0 " (a trailing space) is not 2.0',
        sends({"jsonrpc": "2.0 ", "id": Ref(1), "method": "ping"}),
        (Rejected(INVALID_REQUEST),),
        f"{reference('parser-differential')}; {JSONRPC}",
    ),
    Case(
        "RT-DIF-019",
        "parser-differential",
        '"jsonrpc" missing',
        sends({"id": Ref(1), "method": "tools/call", "params": {"name": "delete_file"}}),
        (Rejected(INVALID_REQUEST),),
        f"{reference('parser-differential')}; {JSONRPC}",
    ),
    Case(
        "RT-DIF-020",
        "parser-differential",
        "params as a string",
        sends({"jsonrpc": "2.0", "id": Ref(1), "method": "tools/call", "params": "delete_file"}),
        (Rejected(INVALID_REQUEST),),
        reference("parser-differential"),
    ),
    Case(
        "RT-DIF-021",
        "parser-differential",
        "tools/call params as a positional list",
        sends({"jsonrpc": "2.0", "id": Ref(1), "method": "tools/call", "params": ["delete_file", {}]}),
        (Rejected(INVALID_PARAMS),),
        reference("parser-differential"),
    ),
    Case(
        "RT-DIF-022",
        "parser-differential",
        "the tool name as a list",
        sends(call(["echo", "delete_file"])),
        (Rejected(INVALID_PARAMS),),
        reference("parser-differential"),
    ),
    Case(
        "RT-DIF-023",
        "parser-differential",
        "the tool name as a number",
        sends(call(7)),
        (Rejected(INVALID_PARAMS),),
        reference("parser-differential"),
    ),
    Case(
        "RT-DIF-024",
        "parser-differential",
        "an empty tool name",
        sends(call("")),
        (Rejected(INVALID_PARAMS),),
        reference("parser-differential"),
    ),
    Case(
        "RT-DIF-025",
        "parser-differential",
        "a request that also carries a result",
        sends({**call("delete_file"), "result": {}}),
        (Rejected(INVALID_REQUEST),),
        f"{reference('parser-differential')}; {JSONRPC}",
    ),
]

# Keys that equal a checked key only under case folding: invisible to Lilith, read by a Go server.
CASE_FOLDED = (
    ("RT-DIF-026", b'"params":{"name":"echo","NAME":"delete_file","arguments":{}}', "NAME beside name"),
    ("RT-DIF-027", b'"params":{"name":"echo","Name":"delete_file","arguments":{}}', "Name beside name"),
    (
        "RT-DIF-028",
        b'"params":{"name":"read_file","arguments":{"path":"@ROOT@/allowed/notes.txt"},'
        b'"Arguments":{"path":"/etc/shadow"}}',
        "Arguments beside arguments",
    ),
    (
        "RT-DIF-029",
        b'"params":{"name":"read_file","arguments":{"path":"@ROOT@/allowed/notes.txt"},'
        b'"argument\xc5\xbf":{"path":"/etc/shadow"}}',
        "argument\u017f (long s folds to s) beside arguments",
    ),
    (
        "RT-DIF-030",
        b'"params":{"name":"read_file","arguments":{"path":"@ROOT@/allowed/notes.txt","PATH":"/etc/shadow"}}',
        "PATH beside path inside the arguments",
    ),
    ("RT-DIF-031", b'"params":{"name":"echo"},"Params":{"name":"delete_file"}', "Params beside params"),
)

CASE_FOLD_CASES = [
    Case(
        case_id,
        "parser-differential",
        f"case-folded duplicate key: {what}",
        sends(b'{"jsonrpc":"2.0","id":@ID1@,"method":"tools/call",' + body + b"}"),
        (Answered(),),
        f"{reference('parser-differential')}; {GO_JSON}",
        server_must_not_receive=("delete_file", "/etc/shadow"),
    )
    for case_id, body, what in CASE_FOLDED
] + [
    Case(
        "RT-DIF-032",
        "parser-differential",
        "case-folded duplicate key: Method beside method",
        sends(b'{"jsonrpc":"2.0","id":@ID1@,"method":"ping","Method":"tools/call","params":{"name":"delete_file"}}'),
        (Answered(),),
        f"{reference('parser-differential')}; {GO_JSON}",
        server_must_not_receive=("delete_file",),
    ),
]


# Methods that look like a policed method: each carries a request the policy would deny.
METHOD_LOOKALIKES = (
    ("RT-MTH-002", "Tools/call", {"name": "delete_file", "arguments": {"path": "/"}}, "delete_file"),
    ("RT-MTH-003", "TOOLS/CALL", {"name": "delete_file", "arguments": {"path": "/"}}, "delete_file"),
    ("RT-MTH-004", "tools/call ", {"name": "delete_file", "arguments": {"path": "/"}}, "delete_file"),
    ("RT-MTH-005", "tools/call\u200b", {"name": "delete_file", "arguments": {"path": "/"}}, "delete_file"),
    ("RT-MTH-006", "resources/Read", {"uri": "file://@ROOT@/secret/key.txt"}, "secret/key.txt"),
    ("RT-MTH-007", "prompts/GET", {"name": "exfiltrate"}, "exfiltrate"),
)

METHOD_CASES = [
    Case(
        "RT-MTH-001",
        "parser-differential",
        "NUL inside the method",
        sends(request("tools/call\u0000", {"name": "delete_file"})),
        (Rejected(INVALID_REQUEST),),
        reference("parser-differential"),
    ),
    Case(
        "RT-MTH-008",
        "parser-differential",
        "an empty method",
        sends(request("", {"name": "delete_file"})),
        (Rejected(INVALID_REQUEST),),
        f"{reference('parser-differential')}; {JSONRPC}",
    ),
    Case(
        "RT-MTH-009",
        "parser-differential",
        "a method that is not a string",
        sends({"jsonrpc": "2.0", "id": Ref(1), "method": ["tools/call"], "params": {"name": "delete_file"}}),
        (Rejected(INVALID_REQUEST),),
        f"{reference('parser-differential')}; {JSONRPC}",
    ),
] + [
    Case(
        case_id,
        "parser-differential",
        f"look-alike method {method!r} carrying a denied request",
        sends(request(method, params)),
        (Answered(),),
        reference("parser-differential"),
        server_must_not_receive=(marker,),
    )
    for case_id, method, params, marker in METHOD_LOOKALIKES
]

CASES = DIFFERENTIAL_CASES + CASE_FOLD_CASES + METHOD_CASES
