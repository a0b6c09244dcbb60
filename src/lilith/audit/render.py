"""One readable line per audit record, for ``lilith audit tail`` and ``lilith audit query``.

Values come from the log and may come from an attacker (tool arguments, server info): every character that
is not printable, escape sequences included, is shown escaped, so a record can never drive the terminal.
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
    "head_missing": "33",
}
_MAX_VALUE = 160


def use_colour(choice: str, stream: TextIO) -> bool:
    """``always``/``never``, or ``auto``: only on a terminal, and never when ``NO_COLOR`` is set."""
    if choice != "auto":
        return choice == "always"
    isatty = getattr(stream, "isatty", None)
    return bool(isatty is not None and isatty()) and not os.environ.get("NO_COLOR")


def render_line(raw: bytes, colour: bool) -> str:
    try:
        record = orjson.loads(raw)
    except orjson.JSONDecodeError:
        record = None
    if not isinstance(record, dict):
        return f"<not a record: {len(raw)} bytes>"
    return render(record, colour)


def render(record: dict[str, Any], colour: bool) -> str:
    ts = record.get("ts")
    when = _time(ts) if isinstance(ts, int | float) and not isinstance(ts, bool) else "?"
    session = _safe(str(record.get("session", "?"))[:8])
    seq = record.get("seq", "?")
    event = _safe(str(record.get("event", "?")))
    shown_event = _paint(f"{event:<15}", _COLOURS.get(event), colour)
    parts: list[str] = []
    if event == "decision":
        decision = str(record.get("decision", "?"))
        parts.append(_paint(_safe(decision), _COLOURS.get(decision), colour))
        parts.extend(_value(record[name]) for name in _DECISION_FIELDS[1:] if record.get(name) is not None)
        skip = _ENVELOPE.union(_DECISION_FIELDS)
    else:
        skip = _ENVELOPE
    parts.extend(f"{_safe(str(name))}={_value(value)}" for name, value in record.items() if name not in skip)
    return f"{when} {session:<8} {seq!s:>6} {shown_event} {' '.join(parts)}".rstrip()


def _time(ts: float) -> str:
    local = time.localtime(ts)
    return time.strftime("%Y-%m-%d %H:%M:%S", local) + f".{int(ts % 1 * 1000):03d}"


def _value(value: Any) -> str:
    if isinstance(value, str) and value and value.isprintable() and " " not in value and '"' not in value:
        text = value
    else:
        text = orjson.dumps(value, default=str).decode()
    if len(text) > _MAX_VALUE:
        text = text[: _MAX_VALUE - 1] + "…"
    return _safe(text)


def _safe(text: str) -> str:
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else f"\\u{ord(ch):04x}" for ch in text)


def _paint(text: str, code: str | None, colour: bool) -> str:
    return f"\x1b[{code}m{text}\x1b[0m" if colour and code else text
