"""JSON decoding and encoding of one line, with nesting limits (sans-IO).

orjson does the work. Two cases it would get subtly wrong are routed to the standard library instead, so
nothing is silently changed in transit: integers beyond 64 bits (orjson reads them as floats) and their
re-serialisation. Both paths accept the same bytes: UTF-8 only, no byte order mark. What is forwarded is
always the serialisation of the parsed object that was checked, never the raw input, so duplicate keys and
parser differentials cannot smuggle anything past a check.
"""

from __future__ import annotations

import json
import re
from itertools import accumulate
from typing import Any

import orjson

from lilith.errors import ParseError

# Every digit becomes "0", everything else a space: a run of 19 zeros then means an integer orjson may not
# hold exactly. translate() + a substring search is ~5x faster than a regex scan of the same line.
_DIGITS_AS_ZEROS = bytes(0x30 if 0x30 <= byte <= 0x39 else 0x20 for byte in range(256))
_LONG_NUMBER = b"0" * 19
_OPENERS = (b"{", b"[")
# For the nesting check: what is neither a bracket nor a quote, a string with neither escapes nor quotes left.
_NOT_BRACKET_OR_QUOTE = bytes(byte for byte in range(256) if byte not in b'[]{}"')
_QUOTED = re.compile(rb'"[^"]*"')
_BRACKETS_AS_SQUARE = bytes.maketrans(b"{}", b"[]")
_BRACKET_RUN = re.compile(rb"\[+|\]+")
_LEAF_ROUNDS = 16  # rounds of deleting every "[]" before the rest is measured run by run
BOM_REFUSED = "UTF-8 byte order mark (BOM) is not supported: line 1 column 1 (char 0)"  # orjson's words


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def decode(line: bytes, max_depth: int) -> Any:
    """Parse one line of JSON; raise ParseError for anything that is not JSON within the limits."""
    try:
        if _LONG_NUMBER not in line.translate(_DIGITS_AS_ZEROS):
            value = orjson.loads(line)
        else:
            # Decoded as UTF-8 first: json.loads(bytes) would guess UTF-16/32 or skip a BOM, where orjson refuses.
            text = line.decode("utf-8")
            if text.startswith("\ufeff"):
                raise ValueError(BOM_REFUSED)
            value = json.loads(text, parse_constant=_reject_constant)
            # What orjson refuses must fail here too: lone surrogates (\ud800) and floats that overflow to inf.
            json.dumps(value, ensure_ascii=False, allow_nan=False).encode()
    except (ValueError, RecursionError, UnicodeDecodeError) as exc:
        raise ParseError(f"Parse error: {_short(exc)}") from None
    if line.count(_OPENERS[0]) + line.count(_OPENERS[1]) > max_depth and _too_deep(line, value, max_depth):
        raise ParseError(f"Parse error: nesting deeper than {max_depth} levels")
    return value


def _too_deep(line: bytes, value: Any, max_depth: int) -> bool:
    """``nesting_depth(value) > max_depth``, at C speed: walking millions of empty containers in Python
    (``[[],[],...]``) took ten times as long as parsing them. The line itself is measured first; the value
    is never deeper than the line it was parsed from, but may be shallower (a duplicate key drops the deep
    value it replaces), so a line that is too deep is judged again by the value's own serialisation."""
    if not _deeper_than(line, max_depth):
        return False
    try:
        again = orjson.dumps(value)
    except TypeError:  # an integer beyond 64 bits, or more than the 254 levels orjson writes
        try:
            again = json.dumps(value, separators=(",", ":")).encode()
        except RecursionError:
            return nesting_depth(value) > max_depth
    return _deeper_than(again, max_depth)


def _deeper_than(document: bytes, max_depth: int) -> bool:
    """Whether the brackets of a valid JSON ``document`` nest deeper than ``max_depth``, in time linear in
    its length. With the strings removed and only brackets kept, a round of deleting every ``[]`` deletes
    the leaves, which makes every container left one level less deep; after 16 rounds, what is left has at
    most one run of brackets per 8 containers of the document, and those runs are cheap to add up. Every
    step is a bytes method or a regex in C; none makes an object per string unless it holds a bracket."""
    skeleton = document
    if b"\\" in skeleton:  # only inside strings: pairs from the left, then escaped quotes, go
        skeleton = skeleton.replace(b"\\\\", b"").replace(b'\\"', b"")
    skeleton = skeleton.translate(None, _NOT_BRACKET_OR_QUOTE)
    if b'"' in skeleton:
        # The quotes left alternate, opening and closing. Deleting "" deletes an empty string, or joins two
        # strings with nothing but brackets-free text between them; what is left is quoted brackets.
        skeleton = skeleton.replace(b'""', b"")
        if b'"' in skeleton:
            skeleton = _QUOTED.sub(b"", skeleton)
    skeleton = skeleton.translate(_BRACKETS_AS_SQUARE)
    rounds = min(max_depth, _LEAF_ROUNDS)
    for _ in range(rounds):
        if not skeleton:
            return False
        skeleton = skeleton.replace(b"[]", b"")
    if not skeleton or rounds == max_depth:
        return bool(skeleton)
    # Alternating runs, opening first: the deepest point is where a run of "[" ends.
    runs = [len(run) for run in _BRACKET_RUN.findall(skeleton)]
    runs[1::2] = [-length for length in runs[1::2]]
    return rounds + max(accumulate(runs)) > max_depth


def nesting_depth(value: Any) -> int:
    """Depth of containers in a parsed JSON value (a scalar is 0), without recursion."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return deepest


def encode(value: Any) -> bytes:
    """Serialise to one line of compact JSON ending in a newline."""
    try:
        return orjson.dumps(value, option=orjson.OPT_APPEND_NEWLINE)
    except TypeError:
        # Integers beyond 64 bits, which the standard library writes exactly.
        return (json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False) + "\n").encode()


def _short(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) <= 120 else text[:117] + "..."
