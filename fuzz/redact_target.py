"""Target: the audit redactor.

Properties: any JSON value (or any text) is redacted without raising; the result is JSON-serialisable the
way the audit writer serialises it; the input is not modified; the same input under the same key gives
the same output; containers keep their shape (a list keeps its length, a mapping its number of keys).
"""

from __future__ import annotations

import copy
from typing import Any

import orjson

from fuzz.contract import expect
from fuzz.reader import ByteReader
from lilith.audit.redact import Redactor

KEY = b"fuzz-redaction-key-0123456789abcdef"


def redact_target(data: bytes) -> None:
    reader = ByteReader(data)
    as_json = reader.below(2) == 0
    raw = reader.rest()
    value: Any
    if as_json:
        try:
            value = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return
    else:
        value = raw.decode("utf-8", "replace")  # the codec lets no lone surrogate through
    redactor = Redactor(KEY)
    before = copy.deepcopy(value)
    out = redactor.redact_value(value)
    expect(value == before, "redaction leaves its input unchanged")
    expect(Redactor(KEY).redact_value(value) == out, "redaction is deterministic under one key")
    orjson.dumps(out, default=str)  # what the writer does with it; raising here is a finding
    _same_shape(value, out)


def _same_shape(value: Any, out: Any) -> None:
    if isinstance(value, list):
        expect(isinstance(out, list) and len(out) == len(value), "a list keeps its length")
        for item, redacted in zip(value, out, strict=True):
            _same_shape(item, redacted)
    elif isinstance(value, dict):
        expect(isinstance(out, dict) and len(out) == len(value), "a mapping keeps every key")
    elif isinstance(value, str):
        expect(isinstance(out, str), "a string stays a string")
