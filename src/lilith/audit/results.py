"""What an audit ``result`` record says about a server's answer: its size, whether it is an error, a preview.

The preview is the start of the answer's text (``content[].text`` of a tool result, ``contents[].text`` of
a resource, an error's message), else compact JSON of the result. It is returned *unredacted* and a little
longer than what is kept (``PREVIEW_CHARS + PREVIEW_SLACK``): the audit writer redacts it and then keeps
the first ``PREVIEW_CHARS`` characters, so a secret that straddles the cut is still seen whole by the
redactor instead of leaving an unrecognisable fragment behind.
"""

from __future__ import annotations

from typing import Any

import orjson

PREVIEW_CHARS = 200
PREVIEW_SLACK = 64  # longer than any detector needs to recognise a secret that starts before the cut
_LIMIT = PREVIEW_CHARS + PREVIEW_SLACK
_MAX_DEPTH = 32


def summarise_result(message_body: dict[str, Any], raw_size: int) -> dict[str, Any]:
    """``{"size": raw_size, "is_error": bool | None, "preview": str}`` for one JSON-RPC response.

    ``is_error``: True for a JSON-RPC error or ``isError: true``, False for ``isError: false``, None when the
    result does not say (most results other than tool calls)."""
    if "error" in message_body:
        error = message_body["error"]
        message = error.get("message") if isinstance(error, dict) else None
        preview = message if isinstance(message, str) else _bounded_json(error, _LIMIT)
        return {"size": raw_size, "is_error": True, "preview": preview[:_LIMIT]}
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
            return _bounded_json(result["structuredContent"], _LIMIT)
    return _bounded_json(result, _LIMIT)


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
    return "\n".join(parts)[:_LIMIT] if parts else None


def _bounded_json(value: Any, limit: int) -> str:
    """Compact JSON of ``value``, cut at ``limit`` characters, without serialising a huge value whole."""
    out: list[str] = []
    budget = [limit]
    _emit(value, out, budget, 0)
    return "".join(out)[:limit]


def _emit(value: Any, out: list[str], budget: list[int], depth: int) -> None:
    if budget[0] <= 0:
        return
    if depth >= _MAX_DEPTH and isinstance(value, dict | list | tuple):
        _put('"…"', out, budget)  # deeper than any preview needs; never serialise what lies below whole
    elif isinstance(value, dict):
        _put("{", out, budget)
        for n, (key, item) in enumerate(value.items()):
            if budget[0] <= 0:
                return
            _put(("," if n else "") + _scalar(str(key)) + ":", out, budget)
            _emit(item, out, budget, depth + 1)
        _put("}", out, budget)
    elif isinstance(value, list | tuple):
        _put("[", out, budget)
        for n, item in enumerate(value):
            if budget[0] <= 0:
                return
            if n:
                _put(",", out, budget)
            _emit(item, out, budget, depth + 1)
        _put("]", out, budget)
    else:
        _put(_scalar(value), out, budget)


def _scalar(value: Any) -> str:
    if isinstance(value, str) and len(value) > _LIMIT:
        value = value[:_LIMIT]  # never serialise a long string whole only to cut it
    try:
        return orjson.dumps(value, default=str).decode()
    except (TypeError, orjson.JSONEncodeError):
        return '"?"'


def _put(text: str, out: list[str], budget: list[int]) -> None:
    out.append(text)
    budget[0] -= len(text)
