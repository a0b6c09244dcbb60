"""Both JSON paths of the codec (orjson, and the standard library for 19+ digit numbers) accept the same
bytes: UTF-8 only, never a byte order mark, never a guessed UTF-16/32 encoding."""

from __future__ import annotations

import json

import pytest

from lilith.core.codec import decode
from lilith.errors import ParseError

LONG = '"n":12345678901234567890123'  # routes a line to the standard library
SHORT = '"n":1'
BOM = b"\xef\xbb\xbf"


def _error(line: bytes) -> str:
    with pytest.raises(ParseError) as caught:
        decode(line, 64)
    return caught.value.message


def test_a_bom_is_refused_with_the_same_message_on_both_paths() -> None:
    short, long = _error(BOM + f"{{{SHORT}}}".encode()), _error(BOM + f"{{{LONG}}}".encode())
    assert short == long
    assert "byte order mark" in long


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be", "utf-16"])
def test_other_unicode_encodings_are_refused_on_the_long_number_path(encoding: str) -> None:
    zeros = "\u3030" * 12  # U+3030 is "00" in UTF-16: a run of digits, so the long number path
    line = f'{{"s":"{zeros}",{LONG}}}'.encode(encoding)
    _error(line)


def test_invalid_utf8_is_refused_on_the_long_number_path() -> None:
    _error(f'{{"s":"\xff",{LONG}}}'.encode("latin-1"))
    _error(f'{{"s":"x",{LONG}}}'.encode() + b"\xed\xa0\x80")  # an encoded surrogate


def test_the_long_number_path_still_reads_utf8_exactly() -> None:
    line = f'{{"s":"é ✓ \U0001f600",{LONG}}}'.encode()
    assert decode(line, 64) == json.loads(line.decode())
    assert decode(line, 64)["n"] == 12345678901234567890123
