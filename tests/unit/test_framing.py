from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from lilith.core.framing import LineFramer, OversizedLine


def test_splits_lines_across_chunks_and_strips_cr() -> None:
    framer = LineFramer(100)
    assert framer.feed(b'{"a":1}\n{"b"') == [b'{"a":1}']
    assert framer.feed(b":2}\r\n\n  \n") == [b'{"b":2}']
    assert framer.buffered == 0


def test_oversized_line_reported_as_soon_as_cap_is_crossed_then_discarded_up_to_its_end() -> None:
    framer = LineFramer(10)
    assert framer.feed(b"x" * 11) == [OversizedLine(10, b"x" * 11, ended=False)]
    assert framer.buffered == 0
    assert framer.feed(b"y" * 1000) == []  # a line that never ends holds no memory (but its ends)
    assert framer.feed(b"zz\nok\n") == [OversizedLine(10, b"x" * 11, b"y" * 1000 + b"zz", early=True), b"ok"]


def test_oversized_complete_line_in_one_chunk() -> None:
    framer = LineFramer(5)
    assert framer.feed(b"123456\nabc\n") == [OversizedLine(5, b"123456"), b"abc"]


@given(st.lists(st.binary(min_size=0, max_size=40).filter(lambda b: b"\n" not in b), max_size=8), st.integers(1, 7))
def test_any_chunking_gives_the_same_lines(lines: list[bytes], step: int) -> None:
    data = b"".join(line + b"\n" for line in lines)
    framer = LineFramer(1000)
    out: list[bytes | OversizedLine] = []
    for start in range(0, len(data), step):
        out.extend(framer.feed(data[start : start + step]))
    expected = [line.removesuffix(b"\r") for line in lines if line.removesuffix(b"\r").strip()]
    assert out == expected
