"""What an over-long line was, read from the two ends of it that were kept (sans-IO).

A line over the size limit is never parsed; the framer keeps only its first and last bytes
(``framing.OversizedLine``). To answer its request with an id the client can match, and to record what was
refused, this module reads those ends as the start and the end of one JSON object and picks out the
top-level members that say what the line was: ``id`` (a string or an integer, the types JSON-RPC allows, kept
exactly), ``method`` (a string), ``params.name`` (the tool) and whether a ``result`` or ``error`` member is
there (an answer). The head is read forward; the tail backward from the line's closing brace, because the
TypeScript SDK writes the id last (``{"method":…,"params":…,"jsonrpc":"2.0","id":7}``, and its servers
``{"result":…,"jsonrpc":"2.0","id":7}``).

No recursion, one linear pass over each end, nothing assumed about the bytes that were not kept (nested values
are followed by their brackets and strings only: they are skipped, not read). It fails closed: a syntax error
in what it reads gives nothing at all; a member named twice (or also under a
case variant of its name), a value of another type, or a value cut off by the end of the kept bytes gives
nothing for that member.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import orjson

_WHITESPACE = frozenset(b" \t\n\r")
_QUOTE, _BACKSLASH, _COLON, _COMMA = ord('"'), ord("\\"), ord(":"), ord(",")
_OPEN_OBJECT, _CLOSE_OBJECT, _OPEN_ARRAY, _CLOSE_ARRAY = ord("{"), ord("}"), ord("["), ord("]")
_MATCHING = {_CLOSE_OBJECT: _OPEN_OBJECT, _CLOSE_ARRAY: _OPEN_ARRAY}
_OPENERS, _CLOSERS = frozenset(_MATCHING.values()), frozenset(_MATCHING)
_STRUCTURAL = re.compile(rb'["{}\[\]]')
_SCALAR = re.compile(rb"[-+.0-9A-Za-z]+")  # a number or true/false/null (checked only where it matters)
_SCALAR_BYTES = frozenset(b"-+.0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
_INTEGER = re.compile(rb"-?(?:0|[1-9][0-9]*)")
_VALUED = ("id", "method")  # members whose value is wanted
_PRESENT = ("params", "result", "error")  # members that count by being there (their value is the long part)
_UNUSABLE = object()  # a member that was there, with a value of no use (wrong type, or under a case variant)


@dataclass(frozen=True, slots=True)
class Peek:
    """What the kept ends of a line show for sure; None (or False) where they do not."""

    request_id: str | int | None = None
    method: str | None = None
    tool: str | None = None  # params.name
    answer: bool = False  # a top-level result or error member


def peek_head(head: bytes) -> Peek:
    """Read the first bytes of a line (or a whole line) as the start of a JSON object."""
    seen = _Seen()
    return seen.settle() if _read_forward(head, seen) else Peek()


def peek_ends(head: bytes, tail: bytes, *, whole: bool) -> Peek:
    """Read a line's first bytes forward and its last bytes backward (``whole``: nothing between them was
    lost, so ``head + tail`` is the line). Both must read as parts of one object, else nothing is known."""
    if whole:
        return peek_head(head + tail)
    seen = _Seen()
    if not _read_forward(head, seen) or not _read_backward(tail, seen):
        return Peek()
    return seen.settle()


class _Cut(Exception):
    """The kept bytes end before what is being read does."""


class _NotJson(Exception):
    """The kept bytes cannot be part of a JSON object."""


class _Seen:
    """Members of interest met so far in either end: how often each, and its last value."""

    __slots__ = ("counts", "values")

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self.values: dict[str, object] = {}

    def add(self, name: str, value: object) -> None:
        self.counts[name] = self.counts.get(name, 0) + 1
        self.values[name] = value

    def once(self, name: str) -> object:
        return self.values[name] if self.counts.get(name) == 1 else None

    def settle(self) -> Peek:
        request_id = self.once("id")
        method = self.once("method")
        tool = self.once("tool") if self.once("params") is True else None
        answer = self.values.get("result") is True or self.values.get("error") is True
        return Peek(
            request_id if type(request_id) is str or type(request_id) is int else None,
            method if type(method) is str else None,
            tool if type(tool) is str else None,
            answer,
        )

    def key(self, key: str) -> None:
        """A top-level key, whatever its value and wherever that ends."""
        name = key.casefold()
        if name in _PRESENT:
            self.add(name, key == name)

    def member(self, key: str, token: bytes) -> None:
        """A top-level member whose value is ``token`` (complete)."""
        name = key.casefold()
        if name in _VALUED:
            self.add(name, _value(name, token) if key == name else _UNUSABLE)


def _value(name: str, token: bytes) -> object:
    if token[0] == _QUOTE:
        return _text(token)
    if name == "id" and _INTEGER.fullmatch(token):
        try:
            return int(token)
        except ValueError:  # more digits than int() converts: no id Lilith could answer with either
            return _UNUSABLE
    return _UNUSABLE


def _text(token: bytes) -> str:
    """A complete JSON string token, decoded as the codec would (orjson refuses what it refuses)."""
    try:
        value = orjson.loads(token)
    except orjson.JSONDecodeError:
        raise _NotJson from None
    if isinstance(value, str):
        return value
    raise _NotJson


# ---------------------------------------------------------------------------------------------- forward
def _read_forward(data: bytes, seen: _Seen) -> bool:
    """Note the top-level members in ``data``, the start of an object; False if it cannot be one."""
    try:
        i = _skip(data, 0)
        if data[i] != _OPEN_OBJECT:
            return False
        end = _object_forward(data, i, seen, top=True)
    except _Cut:
        return True
    except _NotJson:
        return False
    return all(byte in _WHITESPACE for byte in data[end:])  # only whitespace may follow the object


def _skip(data: bytes, i: int) -> int:
    """The index of the first non-whitespace byte from ``i``."""
    size = len(data)
    while i < size and data[i] in _WHITESPACE:
        i += 1
    if i >= size:
        raise _Cut
    return i


def _object_forward(data: bytes, i: int, seen: _Seen, *, top: bool) -> int:
    """Walk the members of the object opening at ``i`` and return the index after it. At the top level,
    members of interest are noted; inside the top-level ``params``, its ``name``."""
    i = _skip(data, i + 1)
    if data[i] == _CLOSE_OBJECT:
        return i + 1
    while True:
        if data[i] != _QUOTE:
            raise _NotJson
        key_end = _string_end(data, i)
        key = _text(data[i : key_end + 1])
        i = _skip(data, key_end + 1)
        if data[i] != _COLON:
            raise _NotJson
        if top:
            seen.key(key)
        start = _skip(data, i + 1)
        if top and key == "params" and data[start] == _OPEN_OBJECT:
            i = _object_forward(data, start, seen, top=False)  # two levels at most: no recursion to speak of
        else:
            i = _value_end(data, start)
            if top:
                seen.member(key, data[start:i])
            elif key.casefold() == "name":
                value = data[start:i]
                seen.add("tool", _text(value) if key == "name" and value[0] == _QUOTE else _UNUSABLE)
        i = _skip(data, i)
        if data[i] == _COMMA:
            i = _skip(data, i + 1)
        elif data[i] == _CLOSE_OBJECT:
            return i + 1
        else:
            raise _NotJson


def _value_end(data: bytes, i: int) -> int:
    """The index after the value that starts at ``i``."""
    first = data[i]
    if first == _QUOTE:
        return _string_end(data, i) + 1
    if first in _OPENERS:
        return _container_end(data, i)
    scalar = _SCALAR.match(data, i)
    if scalar is None:
        raise _NotJson
    if scalar.end() >= len(data):
        raise _Cut  # the number may go on in the bytes that were not kept
    return scalar.end()


def _string_end(data: bytes, i: int) -> int:
    """The index of the quote that closes the string opening at ``i``."""
    j = i + 1
    quote = data.find(b'"', j)
    backslash = data.find(b"\\", j)
    while True:
        if quote < 0:
            raise _Cut
        if backslash < 0 or backslash > quote:
            return quote
        j = backslash + 2  # the escaped byte is never the end (\uXXXX's digits hold no quote either)
        if j > quote:
            quote = data.find(b'"', j)
        backslash = data.find(b"\\", j)


def _container_end(data: bytes, i: int) -> int:
    """The index after the array or object opening at ``i`` (brackets matched, strings skipped)."""
    open_brackets = bytearray()
    j = i
    while True:
        found = _STRUCTURAL.search(data, j)
        if found is None:
            raise _Cut
        k = found.start()
        byte = data[k]
        if byte == _QUOTE:
            j = _string_end(data, k) + 1
            continue
        j = k + 1
        if byte in _OPENERS:
            open_brackets.append(byte)
        elif not open_brackets or open_brackets.pop() != _MATCHING[byte]:
            raise _NotJson
        elif not open_brackets:
            return j


# --------------------------------------------------------------------------------------------- backward
def _read_backward(data: bytes, seen: _Seen) -> bool:
    """Note the top-level members in ``data``, the end of an object, from its closing brace back; False if
    it cannot be the end of one."""
    try:
        i = _skip_back(data, len(data) - 1)
        if data[i] != _CLOSE_OBJECT:
            return False
        i = _skip_back(data, i - 1)
        if data[i] == _OPEN_OBJECT:
            return True
        while True:
            start = _value_start(data, i)
            value = data[start : i + 1]
            i = _skip_back(data, start - 1)
            if data[i] != _COLON:
                return False
            i = _skip_back(data, i - 1)
            if data[i] != _QUOTE:
                return False
            key_start = _string_start(data, i)
            key = _text(data[key_start : i + 1])
            seen.key(key)
            seen.member(key, value)
            i = _skip_back(data, key_start - 1)
            if data[i] == _OPEN_OBJECT:
                return True  # the object's first member
            if data[i] != _COMMA:
                return False
            i = _skip_back(data, i - 1)
    except _Cut:
        return True
    except _NotJson:
        return False


def _skip_back(data: bytes, i: int) -> int:
    """The index of the last non-whitespace byte at or before ``i``."""
    while i >= 0 and data[i] in _WHITESPACE:
        i -= 1
    if i < 0:
        raise _Cut
    return i


def _value_start(data: bytes, i: int) -> int:
    """The index where the value ending at ``i`` starts."""
    last = data[i]
    if last == _QUOTE:
        return _string_start(data, i)
    if last in _CLOSERS:
        return _container_start(data, i)
    j = i
    while j >= 0 and data[j] in _SCALAR_BYTES:
        j -= 1
    if j == i:
        raise _NotJson
    if j < 0:
        raise _Cut  # the number may have begun in the bytes that were not kept
    return j + 1


def _string_start(data: bytes, i: int) -> int:
    """The index of the quote that opens the string whose closing quote is at ``i``. Inside a string every
    quote is escaped, that is preceded by an odd run of backslashes; a run that reaches the start of the kept
    bytes has an unknown length, so it gives up there."""
    k = i
    while True:
        k = data.rfind(b'"', 0, k)
        if k < 0:
            raise _Cut
        run_start = k
        while run_start > 0 and data[run_start - 1] == _BACKSLASH:
            run_start -= 1
        if run_start == 0:
            raise _Cut
        if (k - run_start) % 2 == 0:
            return k
        k = run_start


def _container_start(data: bytes, i: int) -> int:
    """The index of the bracket that opens the array or object closing at ``i``."""
    expected = bytearray()
    j = i
    while j >= 0:
        byte = data[j]
        if byte == _QUOTE:
            j = _string_start(data, j) - 1
            continue
        if byte in _CLOSERS:
            expected.append(_MATCHING[byte])
        elif byte in _OPENERS:
            if not expected or expected.pop() != byte:
                raise _NotJson
            if not expected:
                return j
        j -= 1
    raise _Cut
