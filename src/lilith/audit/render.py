"""One readable line per audit record, for ``lilith audit tail`` and ``lilith audit query``.

Values come from the log and may come from an attacker (tool arguments, server info), and a log worth
reading may have been tampered with: every field shown, the envelope's included, goes through ``_safe``
(every character that is not printable, escape sequences included, is shown as a JSON escape), so a record
can never drive the terminal; a field of an unexpected type or size is shown as JSON, never crashes the line.
"""

from __future__ import annotations

import os
import time
from typing import Any, TextIO

import orjson

_ENVELOPE = frozenset({"v", "ts", "session", "seq", "prev", "mac", "event"})
_DECISION_FIELDS = ("decision", "method", "tool")
_COLOURS = {
    "allow": "32",
    "deny": "31",
    "would-deny": "33",
    "records_lost": "31",
    "record_revoked": "31",
    "head_mismatch": "31",  # records were cut off the end of the log
    "log_resumed": "33",
    "log_started_over": "33",
    "log_replaced": "31",  # the live file was deleted, moved away or emptied while Lilith wrote it
    "head_missing": "33",
}
_MAX_VALUE = 160
_MAX_DEPTH = 64  # deeper is shown as "…": orjson reads 1024 levels but writes only 254
_TIME_WIDTH = len("2026-01-01 00:00:00.000")


def is_terminal(stream: TextIO) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty is not None and isatty())


def use_colour(choice: str, stream: TextIO) -> bool:
    """``always``/``never``, or ``auto``: only on a terminal, and never when ``NO_COLOR`` is set."""
    if choice != "auto":
        return choice == "always"
    return is_terminal(stream) and not os.environ.get("NO_COLOR")


def json_line(raw: bytes, terminal: bool) -> str:
    """A line for ``--json``: the log's own bytes, except on a terminal, where what is not printable (C1
    controls, bidi overrides: JSON allows them raw in strings; anything in a line that is not JSON) is
    escaped. Inside a JSON string the escape stands for the same character, so the record stays the same."""
    text = raw.decode("utf-8", "replace")
    return _safe(text) if terminal else text


def render_line(raw: bytes, colour: bool) -> str:
    try:
        record = orjson.loads(raw)
    except orjson.JSONDecodeError:
        record = None
    if not isinstance(record, dict):
        return f"<not a record: {len(raw)} bytes>"
    return render(record, colour)


def render(record: dict[str, Any], colour: bool) -> str:
    when = _when(record["ts"]) if "ts" in record else "?"
    session = record.get("session")
    shown_session = _safe(session[:8]) if isinstance(session, str) else _shown(record, "session")
    seq = record.get("seq")
    shown_seq = str(seq) if isinstance(seq, int) and not isinstance(seq, bool) else _shown(record, "seq")
    event = _name(record.get("event", "?"))
    shown_event = _paint(f"{event:<15}", _COLOURS.get(event), colour)
    parts: list[str] = []
    if event == "decision":
        decision = _name(record.get("decision", "?"))
        parts.append(_paint(decision, _COLOURS.get(decision), colour))
        parts.extend(_value(record[name]) for name in _DECISION_FIELDS[1:] if record.get(name) is not None)
        skip = _ENVELOPE.union(_DECISION_FIELDS)
    else:
        skip = _ENVELOPE
    parts.extend(f"{_name(name)}={_value(value)}" for name, value in record.items() if name not in skip)
    return f"{when:<{_TIME_WIDTH}} {shown_session:<8} {shown_seq:>6} {shown_event} {' '.join(parts)}".rstrip()


def _shown(record: dict[str, Any], name: str) -> str:
    return _json(record[name]) if name in record else "?"


def _when(ts: Any) -> str:
    """Local time to the millisecond; a ts that is not a time (out of range, not a number) as it is."""
    if isinstance(ts, int | float) and not isinstance(ts, bool):
        try:
            local = time.localtime(ts)
            return time.strftime("%Y-%m-%d %H:%M:%S", local) + f".{int(ts % 1 * 1000):03d}"
        except (OverflowError, OSError, ValueError):
            pass
    return _json(ts)


def _name(value: Any) -> str:
    """An event, a decision or a field name: shown bare (if a string), escaped and cut to size."""
    return _safe(_cut(value)) if isinstance(value, str) else _json(value)


def _json(value: Any) -> str:
    """Any value as JSON, cut to size and escaped: a string is quoted, so it cannot pass for a number."""
    try:
        text = orjson.dumps(value, default=str)
    except TypeError:  # nested deeper than orjson writes, or an int beyond 64 bits
        text = orjson.dumps(_pruned(value, _MAX_DEPTH), default=str, option=orjson.OPT_NON_STR_KEYS)
    return _safe(_cut(text.decode()))


def _pruned(value: Any, depth: int) -> Any:
    """``value`` with what is nested deeper than ``depth`` replaced by "…", and huge ints as text."""
    if isinstance(value, dict):
        return {key: _pruned(item, depth - 1) for key, item in value.items()} if depth else "…"
    if isinstance(value, list):
        return [_pruned(item, depth - 1) for item in value] if depth else "…"
    if isinstance(value, int) and not isinstance(value, bool) and not -(1 << 63) <= value < 1 << 64:
        return str(value)
    return value


def _cut(text: str) -> str:
    return text[: _MAX_VALUE - 1] + "…" if len(text) > _MAX_VALUE else text


def _value(value: Any) -> str:
    if isinstance(value, str) and value and value.isprintable() and " " not in value and '"' not in value:
        return _safe(_cut(value))
    return _json(value)


def printable(text: str) -> str:
    """``text`` (from a log) with what is not printable escaped as ``tail`` does, for other readers' messages."""
    return _safe(text)


def _safe(text: str) -> str:
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else _escape(ord(ch)) for ch in text)


def _escape(code: int) -> str:
    """As JSON writes it: a character beyond the BMP (the invisible tag characters, say) as a surrogate pair."""
    if code < 0x10000:
        return f"\\u{code:04x}"
    code -= 0x10000
    return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"


def _paint(text: str, code: str | None, colour: bool) -> str:
    return f"\x1b[{code}m{text}\x1b[0m" if colour and code else text
