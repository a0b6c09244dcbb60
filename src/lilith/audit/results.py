"""What an audit ``result`` record says about a server's answer: its size, whether it is an error, a preview.

The preview is the start of the answer's text (``content[].text`` of a tool result, ``contents[].text`` of
a resource, an error's message), else compact JSON of the result. It is returned *unredacted* and a little
longer than what is kept (``PREVIEW_CHARS + PREVIEW_SLACK``): the audit writer redacts it and then keeps
the first ``PREVIEW_CHARS`` characters, so a secret that straddles the cut is still seen whole by the
redactor instead of leaving an unrecognisable fragment behind.

A preview made of JSON is a ``JsonText``: the text plus a bounded copy of the value it shows, so the
redactor can redact the value (where a key such as ``"pw"`` says what is secret) before it is serialised.
That holds for structured results and errors, and for a tool's text that is itself a short JSON object or
array (it is then shown as compact JSON).
"""

from __future__ import annotations

import json
from typing import Any

import orjson

from lilith.audit.redact import JsonText
from lilith.core.codec import decode
from lilith.errors import ParseError

PREVIEW_CHARS = 200
PREVIEW_SLACK = 64  # longer than any detector needs to recognise a secret that starts before the cut
_LIMIT = PREVIEW_CHARS + PREVIEW_SLACK
_MAX_DEPTH = 32
_JSON_TEXT_MAX = 4096  # a longer text is previewed as text: parsing it whole to show 200 characters costs too much


def summarise_result(message_body: dict[str, Any], raw_size: int) -> dict[str, Any]:
    """``{"size": raw_size, "is_error": bool | None, "preview": str}`` for one JSON-RPC response.

    ``is_error``: True for a JSON-RPC error or ``isError: true``, False for ``isError: false``, None when the
    result does not say (most results other than tool calls)."""
    if "error" in message_body:
        error = message_body["error"]
        message = error.get("message") if isinstance(error, dict) else None
        preview = message[:_LIMIT] if isinstance(message, str) else _bounded_json(error)
        return {"size": raw_size, "is_error": True, "preview": preview}
    result = message_body.get("result")
    is_error = None
    if isinstance(result, dict):
        flag = result.get("isError")
        is_error = flag if isinstance(flag, bool) else None
    return {"size": raw_size, "is_error": is_error, "preview": _preview(result)}


def _preview(result: Any) -> str:
    if isinstance(result, dict):
        text = _texts(result.get("content"), "text") or _texts(result.get("contents"), "text")
        if text is not None:
            return text
        if "structuredContent" in result:
            return _bounded_json(result["structuredContent"])
    return _bounded_json(result)


def _texts(items: Any, field: str) -> str | None:
    """The ``field`` strings of a list of content items joined by newlines, up to the limit; None if none."""
    if not isinstance(items, list):
        return None
    parts: list[str] = []
    length = 0
    for item in items:
        text = item.get(field) if isinstance(item, dict) else None
        if not isinstance(text, str):
            continue
        parts.append(text)
        length += len(text) + 1
        if length >= _LIMIT:
            break
    if not parts:
        return None
    if len(parts) == 1:
        parsed = _json_of(parts[0])
        if parsed is not None:
            return _bounded_json(parsed)
    return "\n".join(parts)[:_LIMIT]


def _json_of(text: str) -> dict[str, Any] | list[Any] | None:
    """The object or array a short text holds, if it is one."""
    if len(text) > _JSON_TEXT_MAX or text.lstrip()[:1] not in ("{", "["):
        return None
    try:
        value = decode(text.encode("utf-8", "surrogatepass"), _MAX_DEPTH)
    except ParseError:
        return None
    return value if isinstance(value, dict | list) else None


def _bounded_json(value: Any) -> JsonText:
    """Compact JSON of ``value`` cut at the limit, with the part of ``value`` it shows, without copying or
    serialising a huge value whole."""
    shown = _bounded(value, [_LIMIT], 0)
    return JsonText(_dumps(shown)[:_LIMIT], shown)


def _bounded(value: Any, budget: list[int], depth: int) -> Any:
    """A copy of what the first ``budget[0]`` characters of ``value``'s compact JSON show, in JSON types.

    ``budget`` counts down by the length of each piece of JSON as it would be written."""
    if budget[0] <= 0:
        return "…"  # past the cut: never copied
    if depth >= _MAX_DEPTH and isinstance(value, dict | list | tuple):
        budget[0] -= 3
        return "…"  # deeper than any preview needs; never copy what lies below
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        budget[0] -= 2  # { and }
        for key, item in value.items():
            if budget[0] <= 0:
                break
            name = _scalar(str(key))
            budget[0] -= len(_dumps(name)) + 1 + (1 if out else 0)  # "key": and a comma before all but the first
            out[name] = _bounded(item, budget, depth + 1)
        return out
    if isinstance(value, list | tuple):
        items: list[Any] = []
        budget[0] -= 2  # [ and ]
        for item in value:
            if budget[0] <= 0:
                break
            budget[0] -= 1 if items else 0
            items.append(_bounded(item, budget, depth + 1))
        return items
    scalar = _scalar(value)
    budget[0] -= len(_dumps(scalar))
    return scalar


def _scalar(value: Any) -> Any:
    """``value`` as a JSON scalar: a string cut at the limit, or its text if it is not a JSON type."""
    if isinstance(value, str):
        return value[:_LIMIT]  # never serialise a long string whole only to cut it
    if value is None or isinstance(value, bool | int | float):
        return value
    return str(value)[:_LIMIT]


def _dumps(value: Any) -> str:
    try:
        return orjson.dumps(value).decode()
    except TypeError:  # integers beyond 64 bits, which the standard library writes exactly
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
