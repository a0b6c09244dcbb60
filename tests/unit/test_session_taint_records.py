"""Decision records show the session's taints before and after each call."""

from __future__ import annotations

import json
from typing import Any

from lilith.core.gate import build_gate
from lilith.core.session import Session
from lilith.policy.loader import parse_policy
from tests.unit.fakes import FakeResolver, MemoryAudit, MemoryLog

POLICY = """
version: 1
static_rules:
  read_file: ALLOW
  fetch_url: ALLOW
  send_email: ALLOW
tool_classes:
  send_email: [EXFILTRATION]
taint_rules:
  - tool: read_file
    action: ADD_TAINT
    tag: ACCESS_PRIVATE
  - tool: fetch_url
    action: ADD_TAINT
    tag: UNTRUSTED_SOURCE
protect_lethal_trifecta: true
"""


def _call(request_id: int, name: str) -> bytes:
    body: dict[str, Any] = {"jsonrpc": "2.0", "id": request_id, "method": "tools/call"}
    body["params"] = {"name": name, "arguments": {}}
    return json.dumps(body).encode()


def test_taints_before_and_after_each_decision() -> None:
    policy = parse_policy(POLICY, "p.yaml")
    audit = MemoryAudit()
    session = Session(build_gate(lambda: policy, FakeResolver(), lambda: 0.0), audit, MemoryLog())
    session.from_client(_call(1, "read_file"))
    session.from_client(_call(2, "fetch_url"))
    denied = session.from_client(_call(3, "send_email"))
    assert json.loads(denied.to_client[0])["error"]["code"] == -32000
    seen = [(r["tool"], r["taints_before"], r["taints_after"]) for r in audit.records if r["event"] == "decision"]
    assert seen == [
        ("read_file", [], ["ACCESS_PRIVATE"]),
        ("fetch_url", ["ACCESS_PRIVATE"], ["ACCESS_PRIVATE", "UNTRUSTED_SOURCE"]),
        ("send_email", ["ACCESS_PRIVATE", "UNTRUSTED_SOURCE"], ["ACCESS_PRIVATE", "UNTRUSTED_SOURCE"]),
    ]
