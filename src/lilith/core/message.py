"""JSON-RPC 2.0 message classification and validation (sans-IO).

A message stays the parsed dict it arrived as (unknown fields pass through untouched); ``Message`` only
adds what the proxy needs to route and check it. Ids keep their exact JSON type: ``1`` and ``"1"`` are
different requests, and ``IdKey`` tells them apart (Python alone would not: ``1 == 1.0 == True``).
"""

from __future__ import annotations

import enum
from typing import Any

from lilith.errors import InvalidRequest

IdKey = tuple[type, Any]


class Kind(enum.Enum):
    REQUEST = "request"
    NOTIFICATION = "notification"
    RESPONSE = "response"


class Message:
    """A validated message. A plain slotted class: built once per message on the hot path, where a frozen
    dataclass costs several times more to construct."""

    __slots__ = ("body", "id_key", "kind", "method")

    def __init__(self, kind: Kind, body: dict[str, Any], method: str | None = None, id_key: IdKey | None = None):
        self.kind = kind
        self.body = body
        self.method = method
        self.id_key = id_key

    @property
    def id(self) -> Any:
        return self.body.get("id")


def id_key(value: Any) -> IdKey:
    return (type(value), value)


_ID_TYPES = (str, int, float)


def _is_valid_id(value: Any) -> bool:
    # bool is a subclass of int in Python but never a JSON-RPC id.
    return isinstance(value, _ID_TYPES) and value is not True and value is not False


def classify(value: Any) -> Message:
    """Validate one JSON-RPC 2.0 object; raise InvalidRequest (with the id, when usable) otherwise."""
    if not isinstance(value, dict):
        raise InvalidRequest("Invalid Request: a JSON-RPC message must be an object")
    raw_id = value.get("id")
    usable_id = raw_id if _is_valid_id(raw_id) else None
    if value.get("jsonrpc") != "2.0":
        raise InvalidRequest('Invalid Request: "jsonrpc" must be "2.0"', request_id=usable_id)
    method = value.get("method")
    if method is not None or "method" in value:
        if not isinstance(method, str) or not method:
            raise InvalidRequest('Invalid Request: "method" must be a non-empty string', request_id=usable_id)
        if "\x00" in method:
            raise InvalidRequest('Invalid Request: "method" contains a NUL character', request_id=usable_id)
        params = value.get("params")
        if params is not None and not isinstance(params, dict | list):
            raise InvalidRequest('Invalid Request: "params" must be an object', request_id=usable_id)
        if "result" in value or "error" in value:
            raise InvalidRequest("Invalid Request: a request cannot carry a result or error", request_id=usable_id)
        if "id" not in value:
            return Message(Kind.NOTIFICATION, value, method)
        if usable_id is None:
            raise InvalidRequest("Invalid Request: request id must be a string or a number")
        return Message(Kind.REQUEST, value, method, id_key(raw_id))
    has_result = "result" in value
    has_error = "error" in value
    if has_result == has_error:
        raise InvalidRequest("Invalid Request: a response needs exactly one of result and error", request_id=usable_id)
    if has_error:
        error = value["error"]
        if (
            not isinstance(error, dict)
            or not isinstance(error.get("code"), int)
            or isinstance(error.get("code"), bool)
            or not isinstance(error.get("message"), str)
        ):
            raise InvalidRequest("Invalid Request: malformed error object", request_id=usable_id)
        if raw_id is None and "id" in value:
            return Message(Kind.RESPONSE, value, None, None)
    if usable_id is None:
        raise InvalidRequest("Invalid Request: response id must be a string or a number")
    return Message(Kind.RESPONSE, value, None, id_key(raw_id))


def error_response(request_id: Any, code: int, message: str, data: Any = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if data is not None:
        error["data"] = data
    return {"jsonrpc": "2.0", "id": request_id, "error": error}
