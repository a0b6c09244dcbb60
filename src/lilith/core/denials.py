"""How the client is answered when the policy denies its request."""

from __future__ import annotations

from typing import Any

from lilith.core.message import error_response
from lilith.errors import POLICY_DENIED
from lilith.policy.decision import Decision


def denial(request_id: Any, decision: Decision) -> dict[str, Any]:
    """A JSON-RPC error (-32000, with the rule and reason), or with ``on_deny: tool_result`` a CallToolResult
    with ``isError``, which a model reads and can recover from."""
    if decision.as_tool_result:
        text = f"Lilith: {decision.reason} (rule: {decision.rule})"
        return {
            "jsonrpc": "2.0",
            "id": request_id,
            "result": {"content": [{"type": "text", "text": text}], "isError": True},
        }
    return error_response(
        request_id, POLICY_DENIED, f"Lilith: {decision.reason}", {"rule": decision.rule, "reason": decision.reason}
    )
