"""Client messages refused for the protocol's sake, whatever the policy says and whatever its mode.

Each refusal keeps a check from being skipped, so ``mode: audit``, which relaxes only what the policy
decides (a would-be denial is forwarded and recorded as ``would-deny``), does not relax these:

- a method that imitates a standard one (``Tools/call``, ``tools/call\\u200b``): a server might run it as
  the real one, which the policy never checked;
- keys that differ only in case (``name``/``NAME``): a server might read the key that was not checked;
- a policed request sent without an id: it cannot be answered, and a server that acts on the method alone
  would run it unchecked;
- a ``tasks/result`` for a task this session did not see a tool call create (or saw created twice): its
  result would reach the client without its tool's answer checks (``result_matches``) and ``result``
  record, which audit mode runs too, and an unchecked, unrecorded result is what an audit log must not miss.
"""

from __future__ import annotations

from typing import Any

from lilith.core.message import Kind, Message, error_response
from lilith.errors import INVALID_PARAMS, InvalidRequest
from lilith.policy.decision import Decision

# Requests the policy decides on: sent as notifications they are dropped, never forwarded unchecked.
POLICED_METHODS = frozenset({"tools/call", "resources/read", "resources/subscribe", "prompts/get"})
RULE_UNKNOWN_TASK = "tasks.unknown_task"
UNKNOWN_TASK = Decision(
    False, RULE_UNKNOWN_TASK, "tasks/result names a task that no tools/call of this session created"
)


RULE_TOO_MANY_IN_FLIGHT = "protocol.too-many-in-flight"


def too_many_in_flight(limit: int) -> Decision:
    """The recorded decision on a request beyond ``Limits.max_in_flight`` requests waiting for the server."""
    return Decision(False, RULE_TOO_MANY_IN_FLIGHT, f"{limit} requests are already waiting for the MCP server")


def imitation_refusal(message: Message, imitated: str) -> InvalidRequest:
    """The error for a method that imitates the standard method ``imitated`` (``imitated_method``)."""
    text = f"Invalid Request: method {message.method!r} imitates {imitated!r}"
    return InvalidRequest(text, request_id=message.id if message.kind is Kind.REQUEST else None)


def key_collision_refusal(message: Message, keys: tuple[str, str]) -> InvalidRequest:
    """The error for two keys of one object equal under case folding (``case_collision``)."""
    text = f"Invalid Request: keys {keys[0]!r} and {keys[1]!r} differ only in case"
    return InvalidRequest(text, request_id=message.id if message.kind is Kind.REQUEST else None)


def request_without_id(method: str) -> Decision:
    """The recorded decision on a policed request sent as a notification (it is dropped, never answered)."""
    return Decision(False, "protocol.request-without-id", f"{method} sent as a notification (no id)")


def unknown_task_refusal(request_id: Any, decision: Decision) -> dict[str, Any]:
    """The specification answers a task unknown to the receiver with -32602; so does Lilith, for this session
    (``decision``: ``UNKNOWN_TASK`` as recorded, or the audit failure that replaced it)."""
    data = {"rule": decision.rule, "reason": decision.reason}
    return error_response(request_id, INVALID_PARAMS, f"Lilith: {decision.reason}", data)
