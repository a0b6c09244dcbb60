"""Target: the audit chain verifier.

Properties: any bytes give a verdict, never an exception; a log sealed with the key verifies, and changing
any single byte of it (or swapping two records) is detected.
"""

from __future__ import annotations

import orjson

from fuzz.contract import expect
from fuzz.reader import ByteReader
from lilith.audit.chain import GENESIS, line_hash, seal, verify

KEY = b"fuzz-audit-key-0123456789abcdef0123"


def audit_target(data: bytes) -> None:
    reader = ByteReader(data)
    mode = reader.below(2)
    if mode == 0:
        raw = reader.rest()
        verify(raw, KEY)
        verify(raw, None)
        return
    records = [reader.chunk(40).decode("utf-8", "replace") for _ in range(1 + reader.below(4))]
    log = _sealed_log(records)
    verdict = verify(log, KEY)
    expect(verdict.ok and verdict.records == len(records), f"a sealed log verifies: {verdict}")
    position = reader.below(len(log))
    flip = 1 + reader.below(255)
    tampered = log[:position] + bytes([log[position] ^ flip]) + log[position + 1 :]
    expect(not verify(tampered, KEY).ok, f"a changed byte at {position} goes unnoticed")
    if len(records) > 1:
        lines = log.splitlines(keepends=True)
        swapped = b"".join([lines[1], lines[0], *lines[2:]])
        expect(not verify(swapped, KEY).ok, "swapped records go unnoticed")


def _sealed_log(texts: list[str]) -> bytes:
    previous = GENESIS
    out = []
    for seq, text in enumerate(texts, start=1):
        line = seal(orjson.dumps({"seq": seq, "prev": previous, "event": "decision", "tool": text}), KEY)
        previous = line_hash(line)
        out.append(line + b"\n")
    return b"".join(out)
