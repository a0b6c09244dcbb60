"""Requests the server sends the client (``sampling/createMessage``, ``elicitation/create``,
``roots/list``, …): which may reach the client at all, and those waiting for the client's answer."""

from __future__ import annotations

from typing import Any

from lilith.core.message import IdKey, Message, error_response
from lilith.core.pending import Pending
from lilith.core.ports import EventLog
from lilith.core.restore import ServerSetup
from lilith.errors import INTERNAL_ERROR, INVALID_REQUEST, METHOD_NOT_FOUND, InvalidRequest

MODERN_VERSION = "2026-07-28"  # from this version on, servers may not send requests to the client
# Server-to-client requests and the client capability each needs (declared in its initialize).
_CAPABILITY_OF = {"sampling/createMessage": "sampling", "elicitation/create": "elicitation", "roots/list": "roots"}
# Server-to-client requests waiting for the client's answer; beyond this a server's request is refused.
MAX_SERVER_REQUESTS = 4096


class ServerRequests(dict[IdKey, Pending]):
    """Server requests forwarded to the client and not answered yet, by id."""

    __slots__ = ("_log",)

    def __init__(self, log: EventLog) -> None:
        super().__init__()
        self._log = log

    def refusal(self, message: Message, protocol_version: str | None, setup: ServerSetup) -> dict[str, Any] | None:
        """The error to answer the server with if its request must not reach the client, or None."""
        why = _not_for_this_client(message.method or "", protocol_version, setup)
        if why is not None:
            self._log.log("warning", "server_request_refused", method=message.method, reason=why)
            return error_response(message.id, METHOD_NOT_FOUND, f"Method not found: {why}")
        key = message.id_key
        if key is None or key in self:
            self._log.log("warning", "server_duplicate_request_id", id=message.id)
            return error_response(message.id, INVALID_REQUEST, "Invalid Request: id already in flight")
        if len(self) >= MAX_SERVER_REQUESTS:
            self._log.log("warning", "server_requests_over_limit", limit=MAX_SERVER_REQUESTS)
            return error_response(message.id, INTERNAL_ERROR, "Lilith: too many requests waiting on the client")
        return None

    def add(self, message: Message) -> Pending:
        """A request (not refused) goes to the client."""
        key = message.id_key
        if key is None:  # never: refusal() turned it away
            raise InvalidRequest("Invalid Request: a request without an id")
        request = self[key] = Pending(message.method or "", message.id)
        return request


def _not_for_this_client(method: str, protocol_version: str | None, setup: ServerSetup) -> str | None:
    """Why a server-to-client request must not reach the client, or None."""
    if protocol_version is not None and protocol_version >= MODERN_VERSION and setup.initialize is None:
        return f"servers may not send requests in protocol version {protocol_version}"
    capability = _CAPABILITY_OF.get(method)
    if capability is None:
        return None
    declared = setup.client_params().get("capabilities")
    if not isinstance(declared, dict) or capability not in declared:
        return f"the client did not declare the {capability!r} capability"
    return None
