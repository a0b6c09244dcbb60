"""Property: the real proxy forwards exactly what the pure policy allows, unchanged, and nothing else.

Hypothesis generates tool calls (policy names, look-alikes, traversal and flag-like arguments) against one
fixed policy; they go through one real ``lilith`` process in front of the hostile server, which records
what it receives. The same calls go through the pure decision chain (``build_gate``, the model) in the
same order, so taints carry over identically in both.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lilith.core.gate import build_gate
from lilith.core.message import Kind, Message, id_key
from lilith.errors import ProtocolError
from lilith.policy.loader import parse_policy
from lilith.runtime.resolver import ServerPathResolver
from tests.integration.conftest import StartProxy

POLICY = """\
version: 1
static_rules:
  echo: ALLOW
  add: ALLOW
  read_file: ALLOW
  write_file: ALLOW
  "git_*": ALLOW
  git_push: DENY
  "fs_?ead": ALLOW
  delete_file: DENY
argument_rules:
  - tool: read_file
    arg: path
    path_within: [/srv/data]
  - tool: write_file
    arg: path
    not_match: '\\.\\.'
  - tool: "*"
    arg: "**"
    no_leading_dash: true
tool_classes:
  echo: [EXFILTRATION]
taint_rules:
  - tool: read_file
    action: ADD_TAINT
    tag: SECRET
    when: {arg: path, op: glob, value: "/srv/data/secret*"}
  - tool_class: EXFILTRATION
    action: CHECK_TAINT
    forbidden_tags: [SECRET]
    exceptions:
      - when: {arg: redact, op: eq, value: true}
  - tool: fs_read
    action: REMOVE_TAINT
    tag: SECRET
    when: {arg: confirm, op: eq, value: yes}
"""

NAMES = [
    "echo",
    "add",
    "read_file",
    "write_file",
    "git_log",
    "git_push",
    "git_",
    "fs_read",
    "fs_xead",
    "delete_file",
    # look-alikes of allowed names: case, homoglyphs, invisible and trailing characters, glob text itself
    "Echo",
    "\u0435cho",
    "echo\u200b",
    "echo ",
    "read_file\u0000",
    "read-file",
    "git_*",
    "git\u005fpush",
    "fs_read\n",
    "r\u0435ad_file",
]
PATHS = [
    "/srv/data/notes.txt",
    "/srv/data/secret.txt",
    "/srv/data/../../etc/passwd",
    "/srv/data/./secret.txt",
    "/srv/data%2f..%2fetc",
    "/srv/database/x",
    "/srv//data/a",
    "~/../../srv/data/a",
    "srv/data/a",
    "/srv/data/a\n/etc/passwd",
    "-rf",
    "--upload-pack=/tmp/x",
]
_SCALARS = st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.sampled_from(PATHS) | st.text(max_size=8)
ARGUMENTS = st.dictionaries(
    st.sampled_from(["path", "text", "redact", "confirm", "a", "b", "-x"]),
    st.recursive(_SCALARS, lambda inner: st.lists(inner, max_size=3), max_leaves=4),
    max_size=4,
)
CALLS = st.lists(st.tuples(st.sampled_from(NAMES), ARGUMENTS), min_size=1, max_size=6)


def _tool_calls(record: Path) -> list[dict[str, Any]]:
    received = []
    for raw in record.read_bytes().splitlines():
        message = json.loads(raw)
        if isinstance(message, dict) and message.get("method") == "tools/call":
            received.append(message)
    return received


def test_the_proxy_forwards_exactly_what_the_policy_allows(start_proxy: StartProxy) -> None:
    run = start_proxy(policy=POLICY)
    run.proxy.initialize()
    policy = parse_policy(POLICY, "model.yaml")
    model = build_gate(lambda: policy, ServerPathResolver(os.environ, None), lambda: 0.0)
    expected: list[dict[str, Any]] = []
    counts = {"allowed": 0, "denied": 0}

    @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(CALLS)
    def calls_go_where_the_policy_says(calls: list[tuple[str, dict[str, Any]]]) -> None:
        for name, arguments in calls:
            params = {"name": name, "arguments": arguments}
            request_id = run.proxy.request("tools/call", params)
            body = {"jsonrpc": "2.0", "id": request_id, "method": "tools/call", "params": params}
            message = Message(Kind.REQUEST, body, "tools/call", id_key(request_id))
            try:
                decision = model.check(message)
                allowed = decision is None or decision.allowed
            except ProtocolError:
                allowed = False
            reply = _reply(run.proxy, request_id)
            lilith_said_no = "error" in reply and str(reply["error"].get("message", "")).startswith(
                ("Lilith:", "Invalid params")
            )
            assert lilith_said_no is not allowed, (name, arguments, reply)
            if allowed:
                model.forwarded(message)
                expected.append(body)
            counts["allowed" if allowed else "denied"] += 1
        # Everything the server received is exactly what the model allowed, in order and unchanged.
        assert _tool_calls(run.record) == expected

    calls_go_where_the_policy_says()
    assert counts["allowed"] > 20 and counts["denied"] > 20  # both sides of the policy were exercised
    assert run.proxy.close() == 0
    assert _tool_calls(run.record) == expected


def _reply(proxy: Any, request_id: int) -> dict[str, Any]:
    while True:
        reply = proxy.recv(timeout=10)
        if reply.get("id") == request_id and "method" not in reply:
            return dict(reply)
