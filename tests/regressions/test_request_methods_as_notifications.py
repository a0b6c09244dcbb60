"""A request method sent as a notification (no ``id``) bypasses the policy (found by ``make fuzz``, session).

``Session._client_notification`` forwarded every notification without running the gate, so
``{"jsonrpc":"2.0","method":"tools/call","params":{"name":"delete_file",…}}`` reaches the server although
``delete_file`` is denied; a server that dispatches on ``method`` alone runs it. The same holds for
``resources/read`` past a ``resource_rules`` BLOCK and ``prompts/get`` past ``prompt_rules``.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from lilith.core.gate import build_gate
from lilith.core.session import Session
from lilith.policy.loader import parse_policy
from tests.integration.conftest import StartProxy
from tests.integration.harness import recorded
from tests.unit.fakes import FakeResolver, MemoryAudit, MemoryLog

POLICY = """\
version: 1
static_rules:
  echo: ALLOW
resource_rules:
  - uri_pattern: "file:///tmp/*"
    action: ALLOW
prompt_rules:
  - prompt: "review_*"
    action: ALLOW
"""
DENIED: dict[str, dict[str, Any]] = {
    "tools/call": {"name": "delete_file", "arguments": {"path": "/etc/passwd"}},
    "resources/read": {"uri": "file:///etc/shadow"},
    "prompts/get": {"name": "exfiltrate"},
}


@pytest.mark.parametrize("method", list(DENIED))
def test_a_denied_request_sent_without_an_id_is_not_forwarded(method: str) -> None:
    policy = parse_policy(POLICY, "p.yaml")
    audit = MemoryAudit()
    session = Session(build_gate(lambda: policy, FakeResolver(), lambda: 0.0), audit, MemoryLog())
    effects = session.from_client(orjson.dumps({"jsonrpc": "2.0", "method": method, "params": DENIED[method]}))
    assert effects.to_server == []
    assert effects.to_client == []  # a notification is never answered
    [record] = audit.records
    assert (record["decision"], record["rule"]) == ("deny", "protocol.request-without-id")


def test_the_server_never_receives_a_denied_call_sent_as_a_notification(start_proxy: StartProxy) -> None:
    started = start_proxy()
    proxy = started.proxy
    proxy.initialize()
    proxy.send({"jsonrpc": "2.0", "method": "tools/call", "params": DENIED["tools/call"]})
    assert "result" in proxy.call("ping")  # everything sent before it has reached the server
    received = [m for m in recorded(started.record) if isinstance(m, dict)]
    assert all(m.get("params", {}).get("name") != "delete_file" for m in received), received
