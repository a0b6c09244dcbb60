"""Dotted paths into a tool call's arguments (``a.b.0.c``), shared by argument rules and conditions.

A segment walks a mapping key, or a list index when it is a plain decimal number (``0``, ``12``; not
``01`` or ``-1``). Keys containing ``.`` cannot be addressed. A path that does not lead anywhere gives
``MISSING``, never an exception.
"""

from __future__ import annotations

from typing import Any

MISSING: Any = object()
_DIGITS = frozenset("0123456789")


def is_index(segment: str) -> bool:
    return bool(segment) and all(ch in _DIGITS for ch in segment) and (segment == "0" or segment[0] != "0")


def split_path(text: str) -> tuple[str, ...]:
    """The segments of a dotted path; ``ValueError`` when one is empty."""
    segments = tuple(text.split("."))
    if any(not segment for segment in segments):
        raise ValueError(f"{text!r} has an empty segment (write a dotted path such as 'a.b.0')")
    return segments


def lookup(arguments: Any, segments: tuple[str, ...]) -> Any:
    current = arguments
    for segment in segments:
        if isinstance(current, dict):
            if segment not in current:
                return MISSING
            current = current[segment]
        elif isinstance(current, list) and is_index(segment) and int(segment) < len(current):
            current = current[int(segment)]
        else:
            return MISSING
    return current
