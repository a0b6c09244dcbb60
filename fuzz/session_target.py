"""Target: a whole sans-IO ``Session`` (with a policy) fed arbitrary client and server bytes.

The input is read as a script of steps: raw bytes for either side (through a real ``LineFramer``), or a
well-formed message built from choices (methods, tool names, look-alike names, ids of every JSON type,
arguments, URIs, batches), so the fuzzer reaches the policy and the pending-request bookkeeping rather
than stopping at the JSON parser.

Properties: the session never raises; everything it emits is one line of JSON; nothing reaches the server
that the policy denies (a ``tools/call`` whose name or arguments fail, a resource or prompt a rule blocks);
a ``tools/list`` result shown to the client lists only tools the policy allows; what the session answers
the client by itself is always a JSON-RPC response; towards the server it only ever says "error".
"""

from __future__ import annotations

import functools
from typing import Any

import orjson

from fuzz.contract import FixedResolver, PropertyViolated, expect
from fuzz.reader import ByteReader
from lilith.audit.writer import exact_json
from lilith.core.codec import encode
from lilith.core.framing import LineFramer
from lilith.core.gate import Gate, RateLimit, ResourceAndPromptAccess, ToolCallPolicy
from lilith.core.message import IdKey, id_key
from lilith.core.session import Effects, Limits, Session
from lilith.core.taint_tracking import TaintTracking
from lilith.policy.loader import Policy, parse_policy

POLICY = """\
version: 1
static_rules:
  echo: ALLOW
  read_file: ALLOW
  fetch: ALLOW
  send_email: ALLOW
  "git_*": ALLOW
  git_push: DENY
argument_rules:
  - tool: read_file
    arg: path
    path_within: [/srv/data, ~/notes]
  - tool: fetch
    arg: url
    url_host_in: [example.com]
  - tool: "*"
    arg: "**"
    no_leading_dash: true
rate_limits:
  - tool: "git_*"
    max_calls: 3
    per_seconds: 10
tool_classes:
  send_email: [EXFILTRATION]
taint_rules:
  - tool: read_file
    action: ADD_TAINT
    tag: ACCESS_PRIVATE
  - tool: fetch
    action: ADD_TAINT
    tag: UNTRUSTED_SOURCE
protect_lethal_trifecta: true
resource_rules:
  - uri_pattern: "file:///srv/data/secret*"
    action: BLOCK
  - uri_pattern: "file:///srv/data/*"
    action: ALLOW
prompt_rules:
  - prompt: "review_*"
    action: ALLOW
"""

TOOLS = ("echo", "read_file", "fetch", "send_email", "git_log", "git_push", "rm", "Echo", "ech\u043e", "echo\u200b")
TOOLS_WITH_ODDITIES: tuple[Any, ...] = (*TOOLS, "echo\x00", "", None, 7, ["echo"])
PATHS = ("/srv/data/a.txt", "/srv/data/../../etc/passwd", "~/notes/x", "/srv/database", "-rf", "rel/p", "/srv/data\x00")
URLS = ("https://example.com/x", "https://example.com@evil.com/", "https://evil.com/", "http://EXAMPLE.com", "--upload")
URIS = ("file:///srv/data/a", "file:///srv/data/secret.txt", "file:///srv/data/%2e%2e/x", "file:///etc/passwd", "x:y")
PROMPTS = ("review_code", "exfiltrate", "review_", "Review_code")
METHODS = (
    "tools/call",
    "tools/list",
    "resources/read",
    "resources/subscribe",
    "resources/list",
    "prompts/get",
    "prompts/list",
    "initialize",
    "ping",
    "server/discover",
    "notifications/cancelled",
    "notifications/initialized",
    "x-vendor/thing",
)
# 2**70 belongs here once the audit writer handles integers beyond 64 bits
# (tests/regressions/test_audit_big_integers.py, strict xfail until then).
IDS: tuple[Any, ...] = (1, 2, "1", "a", 1.5, 0, -1, 2**40, 2**70, None, True, {"x": 1})
VERSIONS = ("2025-03-26", "2025-06-18", "2025-11-25", "2026-07-28", 3)


class _Sink:
    """Audit sink and event log in one. It serialises each record as the real audit writer does, because a
    record that cannot be written turns an allowed call into an internal error."""

    def __init__(self) -> None:
        self.unwritable: list[str] = []

    def record(self, record: dict[str, Any]) -> None:
        try:
            orjson.dumps(record, default=str)
        except TypeError:
            try:
                exact_json(record)  # the writer's fallback for what orjson refuses (integers beyond 64 bits)
            except (TypeError, ValueError) as exc:
                self.unwritable.append(str(exc))
                raise

    def log(self, level: str, event: str, **fields: Any) -> None:
        return None


class SessionHarness:
    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self.resolver = FixedResolver()
        self.now = 0.0
        sink = self.sink = _Sink()
        gate = Gate(
            [
                ToolCallPolicy(lambda: policy, self.resolver),
                ResourceAndPromptAccess(lambda: policy, self.resolver),
                TaintTracking(lambda: policy),
                RateLimit(lambda: policy, lambda: self.now),
            ]
        )
        limits = Limits(max_client_line_bytes=2048, max_server_line_bytes=2048, max_depth=12, max_batch=6)
        self.session = Session(gate, sink, sink, limits)
        self.client_framer = LineFramer(limits.max_client_line_bytes)
        self.server_framer = LineFramer(limits.max_server_line_bytes)
        self.methods_sent: dict[IdKey, str] = {}

    # ---------------------------------------------------------------- checks on what the session emits
    def after_client(self, effects: Effects) -> None:
        for raw in effects.to_server:
            for message in _one_line_messages(raw):
                self.check_forwarded(message)
        for raw in effects.to_client:
            for message in _one_line_messages(raw):
                expect("method" not in message and "id" in message, "Lilith answers a client only with responses")

    def after_server_lost(self, effects: Effects) -> None:
        """A lost server: its pending requests are answered, and the client is told that the server's own
        requests it still holds were cancelled (they can never be answered now)."""
        for raw in effects.to_client:
            for message in _one_line_messages(raw):
                answer = "method" not in message and "id" in message
                cancelled = message.get("method") == "notifications/cancelled" and "id" not in message
                expect(answer or cancelled, "after a server is lost Lilith sends answers and cancellations only")
        expect(not effects.to_server, "nothing goes to a server that is gone")

    def after_server(self, effects: Effects) -> None:
        for raw in effects.to_server:
            for message in _one_line_messages(raw):
                expect("error" in message and "method" not in message, "towards the server Lilith only errors")
        for raw in effects.to_client:
            for message in _one_line_messages(raw):
                self.check_shown(message)

    def check_forwarded(self, message: dict[str, Any]) -> None:
        method = message.get("method")
        params = message.get("params")
        params = params if isinstance(params, dict) else {}
        if "id" in message and isinstance(method, str):
            self.methods_sent[id_key(message["id"])] = method
        if method == "tools/call":
            name = params.get("name")
            if not isinstance(name, str):
                raise PropertyViolated(f"a forwarded tools/call names no tool: {name!r}")
            decision = self.policy.decide_tool_call(name, params.get("arguments", {}), self.resolver)
            expect(decision.allowed, f"a denied call was forwarded: {name!r} ({decision.rule})")
        elif method in ("resources/read", "resources/subscribe") and self.policy.resource_rules is not None:
            uri = params.get("uri")
            allowed = isinstance(uri, str) and self.policy.resource_rules.decide_uri(uri, self.resolver).allowed
            expect(allowed, f"a blocked resource was forwarded: {uri!r}")
        elif method == "prompts/get" and self.policy.prompt_rules is not None:
            name = params.get("name")
            allowed = isinstance(name, str) and self.policy.prompt_rules.decide(name).allowed
            expect(allowed, f"a blocked prompt was forwarded: {name!r}")

    def check_shown(self, message: dict[str, Any]) -> None:
        if "method" in message or not isinstance(message.get("result"), dict):
            return
        request_id = message.get("id")
        if isinstance(request_id, dict | list):
            return
        if self.methods_sent.get(id_key(request_id)) != "tools/list":
            return
        tools = message["result"].get("tools")
        for tool in tools if isinstance(tools, list) else []:
            name = tool.get("name") if isinstance(tool, dict) else None
            visible = isinstance(name, str) and self.policy.tool_visible(name)
            expect(visible, f"tools/list showed a tool the policy denies: {name!r}")


def _one_line_messages(raw: bytes) -> list[dict[str, Any]]:
    expect(raw.endswith(b"\n") and raw.count(b"\n") == 1, "every emitted message is exactly one line")
    value = orjson.loads(raw)
    items = value if isinstance(value, list) else [value]
    for item in items:
        expect(isinstance(item, dict) and item.get("jsonrpc") == "2.0", "every emitted message is JSON-RPC 2.0")
    return items


def _client_message(reader: ByteReader) -> dict[str, Any]:
    method = reader.choice(METHODS)
    message: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
    shape = reader.below(8)
    # A request method sent without an id (a notification) is forwarded unchecked today: a known finding
    # (tests/regressions/test_request_methods_as_notifications.py, strict xfail). Only unknown methods are
    # sent id-less here until it is fixed; then drop the method condition.
    if not method.startswith("notifications/") and (shape != 0 or method in METHODS[:7]):
        message["id"] = reader.choice(IDS)
    params: dict[str, Any] = {}
    if method == "tools/call":
        params["name"] = reader.choice(TOOLS_WITH_ODDITIES if shape == 1 else TOOLS)
        arguments: dict[str, Any] = {}
        for _ in range(reader.below(3)):
            key = reader.choice(("path", "url", "x", "nested"))
            arguments[key] = reader.choice(PATHS if key == "path" else URLS) if key != "nested" else {"a": ["-x"]}
        params["arguments"] = arguments if shape != 2 else reader.choice(([], "x", None, {"path": 5}))
    elif method in ("resources/read", "resources/subscribe"):
        params["uri"] = reader.choice(URIS)
    elif method == "prompts/get":
        params["name"] = reader.choice(PROMPTS)
    elif method == "initialize":
        params["protocolVersion"] = reader.choice(VERSIONS)
    elif method == "notifications/cancelled":
        params["requestId"] = reader.choice(IDS)
    if shape != 3:
        message["params"] = params
    return message


def _server_message(reader: ByteReader) -> dict[str, Any]:
    kind = reader.below(5)
    request_id = reader.choice(IDS)
    if kind == 0:
        names = [reader.choice(TOOLS_WITH_ODDITIES) for _ in range(reader.below(5))]
        result: Any = {"tools": [{"name": name, "inputSchema": {}} for name in names]}
        if reader.below(2):
            result["tools"].append("not-a-tool")
    elif kind == 1:
        result = {"protocolVersion": reader.choice(VERSIONS), "capabilities": {}}
    elif kind == 2:
        return {"jsonrpc": "2.0", "id": request_id, "error": {"code": -1, "message": "no"}}
    elif kind == 3:
        method = reader.choice(("sampling/createMessage", "notifications/cancelled", "roots/list", "tools/call"))
        message: dict[str, Any] = {"jsonrpc": "2.0", "method": method, "params": {"requestId": request_id}}
        if reader.below(2):
            message["id"] = reader.choice(IDS)
        return message
    else:
        result = reader.choice(({}, {"resources": [{"uri": u} for u in URIS]}, {"prompts": [{"name": "exfiltrate"}]}))
    return {"jsonrpc": "2.0", "id": request_id, "result": result}


@functools.cache
def fuzz_policy() -> Policy:
    return parse_policy(POLICY, "fuzz-policy.yaml")  # immutable once loaded: one compile serves every input


def session_target(data: bytes) -> None:
    harness = SessionHarness(fuzz_policy())
    session = harness.session
    reader = ByteReader(data)
    while reader.more():
        step = reader.below(8)
        if step == 0:
            for line in harness.client_framer.feed(reader.chunk()):
                harness.after_client(session.from_client(line))
        elif step == 1:
            for line in harness.server_framer.feed(reader.chunk()):
                harness.after_server(session.from_server(line))
        elif step in (2, 3):
            harness.after_client(session.from_client(encode(_client_message(reader))[:-1]))
        elif step == 4:
            batch = [_client_message(reader) for _ in range(reader.below(4))]
            harness.after_client(session.from_client(encode(batch)[:-1]))
        elif step == 5:
            harness.after_server(session.from_server(encode(_server_message(reader))[:-1]))
        elif step == 6:
            harness.now += reader.below(20)
        elif reader.below(4) == 0:
            harness.after_server_lost(session.server_lost("was killed by the fuzzer"))
            expect(session.in_flight == 0, "a lost server leaves nothing in flight")
        else:
            for raw in session.handshake_replay().to_server:
                [message] = _one_line_messages(raw)
                expect(message.get("method") in ("initialize", "notifications/initialized"), "a replay is a handshake")
        expect(not harness.sink.unwritable, f"an audit record could not be written: {harness.sink.unwritable}")
