"""JSON-RPC 2.0 message classification and validation (sans-IO).

A message stays the parsed dict it arrived as (unknown fields pass through untouched); ``Message`` only
adds what the proxy needs to route and check it. Ids keep their JSON type: ``1`` and ``"1"`` are different
requests, and ``IdKey`` tells them apart (Python alone would not: ``1 == "1"`` is false but ``1 == True``).
Numbers are compared as numbers, as a JavaScript peer reads them: ``7`` and ``7.0`` are the same id.
"""

from __future__ import annotations

import enum
import unicodedata
from typing import Any

from lilith.errors import InvalidRequest
from lilith.policy.confusables import skeleton

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
    if type(value) is str:
        return (str, value)
    if type(value) is int or type(value) is float:
        try:
            # As a double, like JavaScript: 7 and 7.0 collide, and so do integers beyond 2**53 that round alike.
            return (float, float(value))
        except OverflowError:
            return (int, value)
    return (type(value), value)


# Every method the MCP specification defines (2024-11-05 to 2026-07-28), in either direction.
STANDARD_METHODS = frozenset(
    {
        "initialize",
        "ping",
        "server/discover",
        "tools/list",
        "tools/call",
        "resources/list",
        "resources/templates/list",
        "resources/read",
        "resources/subscribe",
        "resources/unsubscribe",
        "prompts/list",
        "prompts/get",
        "logging/setLevel",
        "completion/complete",
        "tasks/get",
        "tasks/result",
        "tasks/list",
        "tasks/cancel",
        "sampling/createMessage",
        "elicitation/create",
        "roots/list",
        "notifications/initialized",
        "notifications/cancelled",
        "notifications/progress",
        "notifications/message",
        "notifications/resources/updated",
        "notifications/resources/list_changed",
        "notifications/tools/list_changed",
        "notifications/prompts/list_changed",
        "notifications/roots/list_changed",
        "notifications/elicitation/complete",
        "notifications/tasks/status",
    }
)
_STANDARD_BY_SKELETON = {skeleton(method): method for method in STANDARD_METHODS}


def imitated_method(method: str) -> str | None:
    """The standard method a non-standard one imitates — the same skeleton (case, width, homoglyphs,
    spaces and invisible characters aside: ``Tools/call``, ``ｔools/call``, ``tools/call\u200b``) — or None.
    Extensions with names of their own pass."""
    if method in STANDARD_METHODS:
        return None
    combining_dropped = "".join(c for c in method if unicodedata.category(c) != "Mn")
    return _STANDARD_BY_SKELETON.get(skeleton(combining_dropped))


def case_collision(value: Any) -> tuple[str, str] | None:
    """Two keys of one object anywhere in ``value`` that Go's encoding/json takes for the same key (``name``
    and ``NAME``, ``arguments`` and ``argumentſ``), or None. Go matches keys case-insensitively, by simple
    case folding rune by rune, and lets the last one win, so a server could act on a key Lilith never
    checked. Keys only full folding equates (``Straße`` and ``Strasse``, ``ﬁle`` and ``file``) are two."""
    # On every client message: one set of fully folded keys per object (in C). Keys that simple folding
    # equates are equal under full folding too, so only an object with a hit is looked at key by key.
    stack = [value]
    pop, push = stack.pop, stack.append
    while stack:
        item = pop()
        if type(item) is dict:
            if len(item) > 1 and len(set(map(str.casefold, item))) != len(item):
                pair = _colliding_pair(item)
                if pair is not None:
                    return pair
            children = item.values()
        else:
            children = item
        for child in children:
            kind = type(child)
            if kind is dict or kind is list:
                push(child)
    return None


def _colliding_pair(item: dict[str, Any]) -> tuple[str, str] | None:
    seen: dict[str, str] = {}
    for key in item:
        other = seen.setdefault(simple_fold(key), key)
        if other != key:
            return other, key
    return None


def simple_fold(key: str) -> str:
    """``key`` with each character replaced by one that stands for its simple case folding class: two keys
    are equal so exactly when Go's ``bytes.EqualFold`` says they are (``K``, ``k`` and the Kelvin sign;
    ``s`` and ``ſ``; ``ẞ`` and ``ß``; never ``ß`` and ``ss``), as far as the Unicode database of this Python
    agrees with Go's (pairs a later version adds, such as U+FB05/U+FB06 in 15.1, stay apart)."""
    if key.isascii():
        return key.lower()
    return "".join(map(_simple_fold_char, key))


def _simple_fold_char(char: str) -> str:
    folded = char.casefold()
    if len(folded) == 1:  # full and simple folding agree
        return folded
    # Full folding expands it (ß, ﬁ, İ, ᾈ); simple folding keeps one character: itself, or its lowercase
    # (ẞ -> ß, ᾈ -> ᾀ, ᾼ -> ᾳ), or the one it is canonically the same as (U+1FD3 -> U+0390).
    lower = char.lower()
    return unicodedata.normalize("NFC", lower if len(lower) == 1 else char)


_ID_TYPES = (str, int, float)


def is_valid_id(value: Any) -> bool:
    """A string or a number: what JSON-RPC allows as an id (null aside). bool is a subclass of int in
    Python but never an id."""
    return isinstance(value, _ID_TYPES) and value is not True and value is not False


def classify(value: Any) -> Message:
    """Validate one JSON-RPC 2.0 object; raise InvalidRequest (with the id, when usable) otherwise."""
    if not isinstance(value, dict):
        raise InvalidRequest("Invalid Request: a JSON-RPC message must be an object")
    raw_id = value.get("id")
    usable_id = raw_id if is_valid_id(raw_id) else None
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
