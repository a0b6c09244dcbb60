"""Requests the server sends the client (``sampling/createMessage``, ``elicitation/create``,
``roots/list``, …): which may reach the client at all, those waiting for the client's answer, and the
ids of a lost server's requests the client may still answer."""

from __future__ import annotations

from typing import Any

from lilith.core.message import IdKey, Message, error_response, id_key
from lilith.core.pending import Pending
from lilith.core.ports import EventLog
from lilith.core.restore import ServerSetup
from lilith.errors import INTERNAL_ERROR, INVALID_REQUEST, METHOD_NOT_FOUND, InvalidRequest

MODERN_VERSION = "2026-07-28"  # from this version on, servers may not send requests to the client
# Server-to-client requests and the client capability each needs (declared in its initialize).
_CAPABILITY_OF = {"sampling/createMessage": "sampling", "elicitation/create": "elicitation", "roots/list": "roots"}
# Server-to-client requests waiting for the client's answer; beyond this a server's request is refused.
MAX_SERVER_REQUESTS = 4096
# Ids of a lost server's requests kept from reuse toward the client (the oldest is forgotten first).
MAX_ORPHANS = 4 * MAX_SERVER_REQUESTS
RENAMED_ID_PREFIX = "lilith-srq-"


class ServerRequests(dict[IdKey, Pending]):
    """Server requests forwarded to the client and not answered yet, by the id the client knows them by.

    Each keeps the server's own id (``Pending.request_id``). Toward the client that id is passed on as it
    is, unless the client may still answer another request by it: a request of a server that is gone
    (an orphan), since a restarted server numbers its requests afresh and the client's late answer to the
    old question must never be taken for an answer to the new one. Such a request is renamed toward the
    client (a ``lilith-srq-N`` string) and its answer renamed back. An orphan's id stays taken until the
    client answers it (that answer is dropped) or ``MAX_ORPHANS`` newer orphans push it out."""

    __slots__ = ("_log", "_orphans", "_renamed", "_seq")

    def __init__(self, log: EventLog) -> None:
        super().__init__()
        self._log = log
        self._renamed: dict[IdKey, IdKey] = {}  # the server's id -> the id the client knows, when they differ
        self._orphans: dict[IdKey, None] = {}  # ids of a lost server's requests the client may still answer
        self._seq = 0

    def refusal(self, message: Message, protocol_version: str | None, setup: ServerSetup) -> dict[str, Any] | None:
        """The error to answer the server with if its request must not reach the client, or None."""
        why = _not_for_this_client(message.method or "", protocol_version, setup)
        if why is not None:
            self._log.log("warning", "server_request_refused", method=message.method, reason=why)
            return error_response(message.id, METHOD_NOT_FOUND, f"Method not found: {why}")
        key = message.id_key
        if key is None or self._in_flight(key):
            self._log.log("warning", "server_duplicate_request_id", id=message.id)
            return error_response(message.id, INVALID_REQUEST, "Invalid Request: id already in flight")
        if len(self) >= MAX_SERVER_REQUESTS:
            self._log.log("warning", "server_requests_over_limit", limit=MAX_SERVER_REQUESTS)
            return error_response(message.id, INTERNAL_ERROR, "Lilith: too many requests waiting on the client")
        return None

    def add(self, message: Message) -> tuple[Pending, Any]:
        """A request (not refused) goes to the client: its bookkeeping, and the id the client gets."""
        key = message.id_key
        if key is None:  # never: refusal() turned it away
            raise InvalidRequest("Invalid Request: a request without an id")
        client_id = message.id
        client_key = key
        if key in self or key in self._orphans:  # taken toward the client (an orphan, or a renamed request)
            client_id = self._fresh_id()
            client_key = self._renamed[key] = id_key(client_id)
        request = self[client_key] = Pending(message.method or "", message.id)
        return request, client_id

    def answer(self, message: Message) -> dict[str, Any] | None:
        """The client's answer as the server that asked gets it, taken off the table; None (logged) for an
        answer to no request in flight, or to an orphan (the server that asked is gone)."""
        key = message.id_key
        request = self.pop(key, None) if key is not None else None
        if request is None:
            if key is not None and key in self._orphans:
                del self._orphans[key]
                self._log.log("info", "client_answer_for_lost_server_dropped", id=message.id)
            else:
                self._log.log("warning", "client_response_unknown_id", id=message.id)
            return None
        server_key = id_key(request.request_id)
        if server_key == key:
            return message.body
        del self._renamed[server_key]
        return {**message.body, "id": request.request_id}

    def withdrawn(self, key: IdKey) -> Any:
        """The server cancelled its request ``key``: taken off the table; the id the client knows it by, or
        None if it was not in flight."""
        client_key = self._renamed.pop(key, None)
        if client_key is not None:
            del self[client_key]
            return client_key[1]  # a renamed request's id is Lilith's string
        request = self.get(key)
        if request is None or id_key(request.request_id) != key:  # absent, or another request renamed so
            return None
        del self[key]
        return request.request_id

    def known_to_client(self, key: IdKey) -> bool:
        """May the client take this id for a request the server has not cancelled (one in flight under it,
        renamed, or an orphan)?"""
        return key in self or key in self._orphans

    def orphan_all(self) -> list[Any]:
        """The server is gone: every request still waiting on the client becomes an orphan; the ids the
        client knows them by (to cancel them toward the client)."""
        client_ids = [
            request.request_id if id_key(request.request_id) == key else key[1] for key, request in self.items()
        ]
        for key in self:
            self._orphans.pop(key, None)
            self._orphans[key] = None
        while len(self._orphans) > MAX_ORPHANS:
            del self._orphans[next(iter(self._orphans))]
        self.clear()
        self._renamed.clear()
        return client_ids

    def _in_flight(self, key: IdKey) -> bool:
        """Does the server have a request with this id waiting on the client?"""
        if key in self._renamed:
            return True
        request = self.get(key)
        return request is not None and id_key(request.request_id) == key

    def _fresh_id(self) -> str:
        """An id no request the client may still answer has."""
        while True:
            self._seq += 1
            client_id = f"{RENAMED_ID_PREFIX}{self._seq}"
            key = id_key(client_id)
            if key not in self and key not in self._orphans:
                return client_id


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
