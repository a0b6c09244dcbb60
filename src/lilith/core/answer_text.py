"""What a ``result_matches`` taint rule reads of a tool's answer (sans-IO).

Every part of an answer that a model may read as text:

- each content item's strings: a text item's ``text``, an embedded resource's ``resource.text`` (and its
  ``blob``, as UTF-8, unless it is declared an image, audio or video), a resource link's name, title, description and URI, and any
  other string an item carries (annotations, ``_meta``, at any depth), except the item's own ``type`` and
  ``mimeType`` and the base64 ``data`` of an image or audio item;
- the structured content;
- a malformed ``content`` (an object or a string instead of a list of items, or a list holding non-items),
  read as structured content is: a check that could not run must not pass;
- the text a task's creation offers the model at once (``_meta``
  ``io.modelcontextprotocol/model-immediate-response`` of a CreateTaskResult), and a task's ``statusMessage``
  (the 2026-07-28 tasks extension: it may be shown to the model);
- an error's message and data.

Structured content and error data are read as their compact JSON and, for each string that JSON escaping
changed (a newline became ``\\n``, a quote ``\\"``), as the string itself too, so a pattern meets a string as
the model reads it. At most ``RESULT_TEXT_LIMIT`` characters are read; parts are joined by newlines.
"""

from __future__ import annotations

import binascii
import re
from typing import Any

import orjson

MODEL_IMMEDIATE_RESPONSE = "io.modelcontextprotocol/model-immediate-response"
_NOT_TEXT = ("type", "mimeType")  # an item's own kind and media type (only at its top level)
_MEDIA = frozenset({"image", "audio"})  # items whose top-level ``data`` is base64 media, not text
_JSON_ESCAPED = re.compile(r'["\\\x00-\x1f]').search  # what JSON writes differently inside a string


def answer_text(response: dict[str, Any]) -> str:
    from lilith.policy.taint import RESULT_TEXT_LIMIT

    reader = _Reader(RESULT_TEXT_LIMIT)
    result = response.get("result")
    if isinstance(result, dict):
        content = result.get("content")
        if isinstance(content, list):
            for item in content:
                if isinstance(item, dict):
                    reader.item(item)
                elif item is not None:  # not an item, but shown all the same: read it
                    reader.json(item)
        elif content is not None:  # malformed (an object, a string): read every string a client may show
            reader.json(content)
        if "structuredContent" in result:
            reader.json(result["structuredContent"])
        meta = result.get("_meta")
        immediate = meta.get(MODEL_IMMEDIATE_RESPONSE) if isinstance(meta, dict) else None
        if isinstance(immediate, str):
            reader.add(immediate)
        status_message = result.get("statusMessage")
        if isinstance(status_message, str):
            reader.add(status_message)
    error = response.get("error")
    if isinstance(error, dict):
        reader.json(error.get("message"))
        if "data" in error:
            reader.json(error["data"])
    return "\n".join(reader.parts)[:RESULT_TEXT_LIMIT]


class _Reader:
    """Collects text parts until ``room`` characters are taken."""

    __slots__ = ("parts", "room")

    def __init__(self, room: int) -> None:
        self.parts: list[str] = []
        self.room = room

    def add(self, text: str) -> None:
        if self.room > 0:
            self.parts.append(text if len(text) <= self.room else text[: self.room])
            self.room -= len(text) + 1

    def item(self, item: dict[str, Any]) -> None:
        """The strings of one content item, in order."""
        skipped = (*_NOT_TEXT, "data") if item.get("type") in _MEDIA else _NOT_TEXT
        stack: list[Any] = [{key: value for key, value in item.items() if key not in skipped}]
        while stack and self.room > 0:
            value = stack.pop()
            if isinstance(value, str):
                self.add(value)
            elif isinstance(value, dict):
                children = []
                for key, child in value.items():
                    if key != "blob" or not isinstance(child, str):
                        children.append(child)
                    elif not _is_media(value.get("mimeType")):
                        children.append(_Blob(child))
                stack.extend(reversed(children))
            elif isinstance(value, list):
                stack.extend(reversed(value))
            elif isinstance(value, _Blob):
                self._blob(value.base64)

    def _blob(self, blob: str) -> None:
        """A resource's base64 ``blob``, read as UTF-8 with anything that is not replaced: one stray byte (a
        Latin-1 "é") must not hide the rest of a text from the patterns."""
        needed = 4 * self.room  # bytes: ``room`` characters of up to 4 bytes each
        try:
            raw = binascii.a2b_base64(blob[: (needed // 3 + 1) * 4])
        except binascii.Error:
            return
        self.add(raw.decode("utf-8", errors="replace"))

    def json(self, value: Any) -> None:
        """A value as compact JSON, then each of its strings that JSON escaping changed."""
        if isinstance(value, str):
            self.add(value)
            return
        self.add(_as_json(value))
        stack = [value]
        while stack and self.room > 0:
            item = stack.pop()
            if isinstance(item, dict):
                for key, child in item.items():
                    if isinstance(key, str) and _JSON_ESCAPED(key):
                        self.add(key)
                    stack.append(child)
            elif isinstance(item, list):
                stack.extend(item)
            elif isinstance(item, str) and _JSON_ESCAPED(item):
                self.add(item)


def _is_media(mime_type: Any) -> bool:
    """A blob declared as an image, audio or video is shown as such, not read as text."""
    return isinstance(mime_type, str) and mime_type.lower().startswith(("image/", "audio/", "video/"))


class _Blob:
    """A resource's ``blob``, read in its place among the item's strings."""

    __slots__ = ("base64",)

    def __init__(self, base64: str) -> None:
        self.base64 = base64


def _as_json(value: Any) -> str:
    try:
        return orjson.dumps(value, default=str).decode()
    except TypeError:  # an integer beyond 64 bits
        return str(value)
