"""What the client may see of what the server says: every result, error, notification and request goes
through the interceptors' filters (sanitising, hidden tools, pins) first, and anything that cannot be
checked is replaced by an error or dropped, never passed on unchecked."""

from __future__ import annotations

from typing import Any

from lilith.core.gate import Gate
from lilith.core.message import Message, case_collision, error_response
from lilith.core.pending import Pending
from lilith.core.ports import EventLog
from lilith.errors import INTERNAL_ERROR

_RESPONSE_KEYS = frozenset({"jsonrpc", "id", "result", "error"})
_REQUEST_KEYS = frozenset({"jsonrpc", "id", "method", "params"})


class ServerView:
    """The gate's view of server messages. ``plain``: the line the message came in holds nothing a
    sanitiser would strip (``plain_line``)."""

    __slots__ = ("_gate", "_log")

    def __init__(self, gate: Gate, log: EventLog) -> None:
        self._gate = gate
        self._log = log

    def keys_collide(self, message: Message) -> bool:
        """Does a server message hold two keys that differ only in case? Sanitising and pin checks read one of
        them; a client that matches keys case-insensitively (Go's encoding/json) may read the other."""
        collision = case_collision(message.body)
        if collision is None:
            return False
        self._log.log("warning", "server_keys_collide", method=message.method, keys=list(collision))
        return True

    def request_or_notification(self, message: Message, plain: bool) -> dict[str, Any]:
        """A server notification or request as the client may see it (its params filtered, e.g. sanitised).
        Raises if a filter fails: the caller drops the message."""
        body = self._extras(message.method or "", message.body, _REQUEST_KEYS, plain)
        params = body.get("params")
        if params is None:
            return body
        shown = self._gate.filter_server_message(message.method or "", params, plain=plain)
        return body if shown is params else {**body, "params": shown}

    def response(self, pending: Pending, body: dict[str, Any], plain: bool) -> dict[str, Any]:
        """The server's answer to ``pending`` as the client may see it, or an error in its place."""
        try:
            body = self._extras(pending.method, body, _RESPONSE_KEYS, plain)
        except Exception as exc:
            return self._failed(pending, exc)
        if "result" not in body:
            return self._error(pending, body, plain)
        result = body["result"]
        if not isinstance(result, dict):  # MCP results are objects: anything else would skip every filter
            self._log.log("warning", "server_result_not_an_object", method=pending.method)
            return error_response(pending.request_id, INTERNAL_ERROR, "Lilith: the MCP server sent a malformed result")
        try:
            shown = self._gate.filter_result(pending.method, result, plain=plain)
        except Exception as exc:  # never pass an unfiltered result on: the client gets an error instead
            return self._failed(pending, exc)
        return body if shown is result else {**body, "result": shown}

    def _error(self, pending: Pending, body: dict[str, Any], plain: bool) -> dict[str, Any]:
        error = body.get("error")
        if error is None:
            return body
        try:
            shown = self._gate.filter_server_message(pending.method, error, plain=plain)
        except Exception as exc:
            return self._failed(pending, exc)
        return body if shown is error else {**body, "error": shown}

    def _extras(self, method: str, body: dict[str, Any], known: frozenset[str], plain: bool) -> dict[str, Any]:
        """Fields of a server message beyond the JSON-RPC ones (extensions pass) as the client may see them."""
        if len(body) <= len(known) and known.issuperset(body):
            return body
        extras = {key: value for key, value in body.items() if key not in known}
        shown = self._gate.filter_server_message(method, extras, plain=plain)
        return body if shown is extras else {**{k: v for k, v in body.items() if k in known}, **shown}

    def _failed(self, pending: Pending, exc: Exception) -> dict[str, Any]:
        self._log.log("error", "result_filter_failed", method=pending.method, error=f"{type(exc).__name__}: {exc}")
        return error_response(pending.request_id, INTERNAL_ERROR, "Lilith: the result could not be checked")


def plain_line(line: bytes) -> bool:
    """Does this JSON line hold only printable ASCII and no escape for a control character (``\\uXXXX``,
    ``\\r``, ``\\b``, ``\\f``)? Then no string decoded from it has anything to strip: checked in C on bytes
    the session already has, instead of walking every string of the message."""
    if not line.isascii() or b"\x7f" in line:
        return False
    return b"\\" not in line or not (b"\\u" in line or b"\\r" in line or b"\\b" in line or b"\\f" in line)


def preview(line: bytes) -> str:
    """The start of a line for a log event (never the whole of what a server sent)."""
    return line[:80].decode("utf-8", "replace")
