from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lilith.core.codec import decode, encode, nesting_depth
from lilith.errors import ParseError


def test_round_trip_is_compact_and_newline_terminated() -> None:
    assert encode(decode(b' {"a": [1, "x", null, true]} ', 64)) == b'{"a":[1,"x",null,true]}\n'


def test_duplicate_keys_collapse_to_what_was_checked() -> None:
    value = decode(b'{"name":"safe","name":"evil"}', 64)
    assert value == {"name": "evil"}
    assert encode(value) == b'{"name":"evil"}\n'


def test_big_integers_survive_exactly() -> None:
    line = b'{"id":123456789012345678901234567890}'
    assert encode(decode(line, 64)) == line + b"\n"


@pytest.mark.parametrize(
    "line",
    [b"not json", b"{", b"NaN", b'"\xff"', b'"\\ud800"', b"[" * 100_000, b'{"a":1e999}', b"1" * 5000],
)
def test_bad_input_is_a_parse_error(line: bytes) -> None:
    with pytest.raises(ParseError):
        decode(line, 64)


def test_depth_limit_is_configurable() -> None:
    nested = b"[" * 10 + b"]" * 10
    assert nesting_depth(decode(nested, 10)) == 10
    with pytest.raises(ParseError, match="nesting deeper than 9"):
        decode(nested, 9)


@given(st.binary(max_size=300))
def test_any_bytes_parse_or_raise_parse_error(data: bytes) -> None:
    try:
        decode(data, 64)
    except ParseError:
        pass


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text() | st.floats(allow_nan=False, allow_infinity=False),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children, max_size=4),
    max_leaves=20,
)


@given(json_values)
def test_encode_then_decode_is_identity(value: object) -> None:
    assert decode(encode(value)[:-1], 1000) == value
