"""Target: the line framer, the JSON codec and message classification, in the order the proxy runs them.

Properties: any bytes give lines no longer than the cap (or one ``OversizedLine`` report) and never buffer
more than the cap; each line decodes or raises ``ParseError``; what decodes re-encodes to exactly one line
that decodes to the same value within the depth limit; each object classifies or raises ``InvalidRequest``,
and what classifies is internally consistent. Any other exception is a finding.
"""

from __future__ import annotations

from typing import Any

from fuzz.contract import expect
from fuzz.reader import ByteReader
from lilith.core.codec import decode, encode, nesting_depth
from lilith.core.framing import LineFramer, OversizedLine
from lilith.core.message import Kind, classify
from lilith.errors import InvalidRequest, ParseError


def codec_target(data: bytes) -> None:
    reader = ByteReader(data)
    cap = 1 + reader.below(512)
    step = 1 + reader.below(64)
    depth = 1 + reader.below(80)
    stream = reader.rest()
    framer = LineFramer(cap)
    for start in range(0, len(stream), step):
        for item in framer.feed(stream[start : start + step]):
            if isinstance(item, OversizedLine):
                expect(item.limit == cap, "an oversized line reports the configured cap")
                continue
            expect(0 < len(item) <= cap, f"a framed line is within the cap ({len(item)} > {cap})")
            expect(b"\n" not in item, "a framed line contains no newline")
            check_line(item, depth)
        expect(framer.buffered <= cap, f"the framer buffers at most the cap ({framer.buffered} > {cap})")
    check_line(stream, depth)


def check_line(line: bytes, depth: int) -> None:
    try:
        value = decode(line, depth)
    except ParseError:
        return
    expect(nesting_depth(value) <= depth, "decoded nesting stays within the limit")
    encoded = encode(value)
    expect(encoded.endswith(b"\n") and encoded.count(b"\n") == 1, "a message re-encodes to exactly one line")
    expect(decode(encoded[:-1], depth) == value, "re-encoding preserves the value")
    for item in value if isinstance(value, list) else [value]:
        check_message(item)


def check_message(value: Any) -> None:
    try:
        message = classify(value)
    except InvalidRequest:
        return
    body = message.body
    expect(body is value and body.get("jsonrpc") == "2.0", "a message is the object it came from, JSON-RPC 2.0")
    if message.kind is Kind.RESPONSE:
        expect(("result" in body) != ("error" in body), "a response has exactly one of result and error")
        expect("method" not in body, "a response has no method")
        return
    method = message.method
    expect(isinstance(method, str) and bool(method) and "\x00" not in method, "a method is a non-empty string")
    if message.kind is Kind.NOTIFICATION:
        expect("id" not in body, "a notification has no id")
    else:
        expect(message.id_key is not None and message.id is not None, "a request has a usable id")
        expect(not isinstance(message.id, bool), "true/false are never request ids")
