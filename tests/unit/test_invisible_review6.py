"""Review 6: ``clean_text`` judges joiners and variation selectors inside one regex scan (lookarounds) and
counts what went from ``re.split``, instead of calling back into Python for every candidate character;
text with thousands of removals is cleaned a chunk at a time, so that memory stays bounded.

The change must not move a single character: the implementation it replaced is kept below as the
oracle, and the new one must give the same text, the same object when nothing went, and the same counts
(in the same order), on generated text that mixes everything the module treats specially, also with the
chunks and the split limit shrunk to a few characters so that every boundary case is met. Speed is
measured by ``bench/invisible_bench.py``, not here: no timed tests (Python calls and memory are counted
instead)."""

from __future__ import annotations

import re
import sys
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from lilith.core import invisible
from lilith.core.invisible import clean_text

# ---------------------------------------------------------------------------------------------- oracle
# The callback implementation as it was before review 6, over the module's own character classes (the
# sets did not change, only how they are matched).
_OLD_REMOVABLE = re.compile(f"[{invisible._BMP_CLASS}{invisible._EXACT_ASTRAL}\r]{invisible._SEQUENCE_REST}")
_OLD_NOT_VISIBLE = re.compile(f"[{invisible._ALWAYS}{invisible._JOINERS}{invisible._SELECTORS}\\s]")
_OLD_SELECTOR = re.compile(f"[{invisible._SELECTORS}]")
_OLD_BIDI = re.compile(f"[{invisible._BIDI}]")


def _old_clean_text(text: str, removed: dict[str, int]) -> str:
    if invisible.is_clean(text):
        return text
    changed = False

    def replace(match: re.Match[str]) -> str:
        nonlocal changed
        found = match.group()
        first, start = found[0], match.start()
        if len(found) > 1 or first in "\x1b\x9b":
            kind = "ansi"
        elif first == "\r":
            if text.startswith("\n", start + 1):
                return found  # CRLF
            kind = "control"
        elif first in invisible._JOINERS:
            if _old_joins_visible(text, start):
                return found
            kind = "zero_width"
        elif _OLD_SELECTOR.match(first) is not None:
            if _old_follows_visible(text, start):
                return found
            kind = "variation_selector"
        else:
            kind = _old_char_kind(first)
        removed[kind] = removed.get(kind, 0) + 1
        changed = True
        return ""

    cleaned = _OLD_REMOVABLE.sub(replace, text)
    return cleaned if changed else text


def _old_joins_visible(text: str, at: int) -> bool:
    if at == 0 or at + 1 >= len(text):
        return False
    before, after = text[at - 1], text[at + 1]
    return (
        not before.isascii()
        and not after.isascii()
        and (_OLD_NOT_VISIBLE.match(before) is None or _OLD_SELECTOR.match(before) is not None)
        and _OLD_NOT_VISIBLE.match(after) is None
    )


def _old_follows_visible(text: str, at: int) -> bool:
    if at == 0:
        return False
    before = text[at - 1]
    if before.isascii():
        return before in invisible._KEYCAP_BASES and text.startswith("\u20e3", at + 1)
    return _OLD_NOT_VISIBLE.match(before) is None


def _old_char_kind(char: str) -> str:
    code = ord(char)
    if code == 0x1B:
        return "ansi"
    if code < 0x20 or 0x7F <= code <= 0x9F:
        return "control"
    if 0xE0000 <= code <= 0xE007F:
        return "tag"
    if _OLD_BIDI.match(char) is not None:
        return "bidi"
    return "zero_width"


def _assert_same(text: str, already: dict[str, int] | None = None) -> None:
    old_removed, new_removed = dict(already or {}), dict(already or {})
    old, new = _old_clean_text(text, old_removed), clean_text(text, new_removed)
    assert new == old, (ascii(text), ascii(old), ascii(new))
    assert (new is text) == (old is text), ascii(text)
    assert list(new_removed.items()) == list(old_removed.items()), ascii(text)


# ------------------------------------------------------------------------------------------ generated
_PIECES = [
    # ASCII, keycap bases and line ends
    "a", "Z", "1", "#", "*", " ", "\t", "\n", "\r", "\r\n", "word", "0\ufe0f\u20e3",
    # accented letters, precomposed and combining
    "é", "ñ", "Ü", "e\u0301", "ø",
    # emoji, ZWJ sequences, presentation selectors, keycaps, flags, skin tones
    "👨", "👩", "👧", "❤", "🏳", "🌈", "🏴", "\U0001f3fd", "\u20e3", "\ufe0f", "\ufe0e", "👨\u200d👩\u200d👧",
    "🏳\ufe0f\u200d🌈", "❤\ufe0f", "🏴\U000e0067\U000e0062\U000e0065\U000e006e\U000e0067\U000e007f",
    # Indic and Persian joiners
    "क", "्", "ष", "क्\u200dष", "می\u200cخواهم", "\u200c", "\u200d",
    # tags, the other selectors (Mongolian, ideographic), and selector runs ("emoji smuggling")
    "\U000e0001", "\U000e0020", "\U000e0041", "\U000e007f", "\U000e0100", "\U000e01ef", "\u180b", "\u180f",
    "\ufe00", "\ufe0f\ufe01\ufe02",
    # bidi controls
    "\u202a", "\u202b", "\u202c", "\u202d", "\u202e", "\u2066", "\u2067", "\u2068", "\u2069", "\u200e", "\u200f",
    "\u061c",
    # the other default-ignorables and format characters
    "\u00ad", "\u034f", "\u115f", "\u1160", "\u17b4", "\u17b5", "\u180e", "\u200b", "\u2060", "\u2064", "\u206a",
    "\u206f", "\u3164", "\ufeff", "\uffa0", "\ufff0", "\ufffb", "\U00013430", "\U0001343f", "\U0001bca0",
    "\U0001d173", "\U000e0080", "\U000e01f0", "\U000e0fff",
    # visible format characters, non-ASCII spaces, a lone surrogate
    "\u0600", "\u06dd", "\U000110bd", "\xa0", "\u2000", "\u3000", "\u1680", "\u2028", "\ud800",
    # C0, DEL, C1, and ANSI sequences whole and in pieces
    "\x00", "\x07", "\x08", "\x0b", "\x7f", "\x85", "\x9c", "\x1b", "\x9b", "\x90", "\x98", "\x9d", "\x9e", "\x9f",
    "[", "]", "\\", ";", "m", "31", "\x1b[31m", "\x1b[8m", "\x1b]0;title\x07", "\x1b]8;;http://x\x1b\\", "\x1bc",
    "\x9b1m", "\x90q\x9c",
]  # fmt: skip
_TEXT = st.lists(st.one_of(st.sampled_from(_PIECES), st.characters()), max_size=40).map("".join)


@settings(max_examples=500)
@given(_TEXT)
@example("é\u200d" * 50)  # the dense case of the finding: every joiner kept but the last
@example("a\u200b" * 50)
@example("é\u200b\u200dé")  # a joiner next to a removed character is removed too
@example("é\u200d\ufe0fé")  # so is a selector after a joiner
@example("\x1b]0;é\u200d\u200bé\x07x")  # an OSC string swallows what it holds: one ANSI removal
def test_new_clean_text_matches_the_old_one(text: str) -> None:
    _assert_same(text)


@settings(max_examples=200)
@given(_TEXT)
def test_counts_add_to_what_the_caller_already_has(text: str) -> None:
    _assert_same(text, {"ansi": 2, "zero_width": 1})


@given(st.text(max_size=60))
def test_arbitrary_text_is_cleaned_the_same(text: str) -> None:
    _assert_same(text)


@settings(max_examples=400)
@given(st.lists(st.sampled_from(_PIECES), max_size=12).map("".join))
def test_short_mixes_of_the_special_pieces_are_cleaned_the_same(text: str) -> None:
    _assert_same(text)


# --------------------------------------------------------------------------------- many removals
@contextmanager
def _shrunk(split_limit: int, chunk: int) -> Iterator[None]:
    """The dense path's sizes shrunk, so that short generated text crosses many chunk boundaries."""
    saved = invisible._SPLIT_LIMIT, invisible._CHUNK
    invisible._SPLIT_LIMIT, invisible._CHUNK = split_limit, chunk
    try:
        yield
    finally:
        invisible._SPLIT_LIMIT, invisible._CHUNK = saved


@settings(max_examples=500)
@given(st.sampled_from([1, 2, 3]), st.sampled_from([1, 2, 3, 5, 8]), _TEXT)
@example(1, 1, "é\u200dé\u200b\u200dé\r\n\r1\ufe0f\u20e3")  # every character its own chunk
@example(1, 2, "\u200b\u200d\u200b\u200dé\u200dé")
@example(1, 3, "a\u200b\x1b[1mb\u200b")  # an escape sequence: no cuts
def test_text_cleaned_in_chunks_matches_the_old_one(split_limit: int, chunk: int, text: str) -> None:
    with _shrunk(split_limit, chunk):
        _assert_same(text)


@pytest.mark.parametrize("shift", range(0, 14, 2))
def test_real_chunk_boundaries_cut_nothing(shift: int) -> None:
    unit = "é\u200d👩\u200b\ufe0f1\ufe0f\u20e3\r\n\r\u202ea\u200d"  # 14 characters
    repeats = max(3 * invisible._CHUNK // len(unit), invisible._SPLIT_LIMIT) + 2
    text = "x" * shift + unit * repeats  # the cuts fall on each character in turn
    assert text.count("\u200b") > invisible._SPLIT_LIMIT
    _assert_same(text)


def test_many_removals_hold_little_memory() -> None:
    """One ``split`` of a text of zero-width spaces held a new string per removal (~80 bytes each: 1.6 GB
    for a 64 MB line); chunk by chunk, what is held stays a small multiple of the text."""
    text = "\u200b" * 400_000  # 800 KB as Python holds it
    tracemalloc.start()
    try:
        assert clean_text(text, {}) == ""
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 6_000_000, peak  # one split: 40 MB; the callback before review 6: 3.3 MB


# ------------------------------------------------------------------------------------------ exhaustive
def _every_code_point(stop: int) -> list[str]:
    return [chr(code) for code in range(0x80, stop)]


@pytest.mark.parametrize("context", ["é{}\u200dé", "é\u200d{}é", "é{}\ufe0fé", "{}\ufe0f\u20e3", "é{}é"])
def test_every_bmp_character_as_a_neighbour_is_judged_the_same(context: str) -> None:
    """Whether a joiner or selector is kept hangs on its neighbour being a visible character (the old
    code asked ``isascii`` and a ``\\s`` class; the new one a negated class): the two agree everywhere."""
    text = "".join(context.format(char) for char in _every_code_point(0x10000))
    _assert_same(text)


@pytest.mark.parametrize("first", [0x13400, 0x1BC90, 0x1D160, 0xE0000, 0xE0100, 0xE0F00])
def test_astral_ranges_and_their_edges_are_judged_the_same(first: int) -> None:
    chars = [chr(code) for code in range(first, min(first + 0x100, sys.maxunicode + 1))]
    for context in ("é{}\u200dé", "é\u200d{}é", "é{}\ufe0fé", "x{}y"):
        _assert_same("".join(context.format(char) for char in chars))


def test_every_candidate_character_alone_and_between_letters_is_judged_the_same() -> None:
    candidate = re.compile(f"[{invisible._BMP_CLASS}{invisible._EXACT_ASTRAL}\r]")
    chars = [chr(code) for code in range(sys.maxunicode + 1) if candidate.match(chr(code))]
    assert len(chars) > 4_000  # the whole class, not an empty loop
    for char in chars:
        _assert_same(char)
        _assert_same(f"é{char}é")
        _assert_same(f"a{char}1")


def test_kept_joiners_and_selectors_leave_the_text_untouched() -> None:
    text = "👨\u200d👩\u200d👧 क्\u200dष می\u200cخواهم ❤\ufe0f 1\ufe0f\u20e3 🏳\ufe0f\u200d🌈"
    removed: dict[str, int] = {}
    assert clean_text(text, removed) is text
    assert removed == {}


def test_the_dense_case_keeps_every_joiner_but_the_last() -> None:
    text = "é\u200d" * 10_000
    removed: dict[str, int] = {}
    assert clean_text(text, removed) == text[:-1]
    assert removed == {"zero_width": 1}


def test_dense_removals_are_counted_by_kind() -> None:
    text = ("a\u200b" * 5_000) + ("b\u202e" * 300) + "\x1b[1m\x07" + "\U000e0041" * 7
    removed: dict[str, int] = {}
    assert clean_text(text, removed) == "a" * 5_000 + "b" * 300
    assert removed == {"zero_width": 5_000, "bidi": 300, "ansi": 1, "control": 1, "tag": 7}


# ------------------------------------------------------------------------------------- work done in C
def _python_calls(work: Callable[[], object]) -> int:
    """How many Python-level functions ``work`` ran (not timed: counted, so the test cannot flake)."""
    calls = 0

    def profile(frame: FrameType, event: str, arg: Any) -> None:
        nonlocal calls
        calls += event == "call"

    sys.setprofile(profile)
    try:
        work()
    finally:
        sys.setprofile(None)
    return calls


@pytest.mark.parametrize(
    "unit",
    ["é\u200d", "a\u200b", "👨\u200d👩\u200d👧 ❤\ufe0f 1\ufe0f\u20e3 ", "क्\u200dष ", "x\u202e", "\U000e0041"],
)
def test_the_work_per_character_is_done_in_c(unit: str) -> None:
    """The finding: a Python call (and a regex lookup) for every joiner or removed character, ~3 µs each.
    Now a text of 10,000 of them takes a handful more Python calls than a text of 10 (one or two for
    each chunk of many thousand characters, when there are thousands of removals)."""
    text = unit * 10_000
    few = _python_calls(lambda: clean_text(unit * 10, {}))
    many = _python_calls(lambda: clean_text(text, {}))
    assert many - few <= 5 + len(text) // 1000, (few, many)


def test_many_removals_with_an_escape_sequence_are_counted_in_c() -> None:
    """With an escape sequence in the text no cut is safe: one scan counts, another cleans, both in C."""
    text = "a\u200b" * 10_000 + "\x1b[1m"
    removed: dict[str, int] = {}
    assert _python_calls(lambda: clean_text(text, removed)) < 20
    assert removed == {"zero_width": 10_000, "ansi": 1}
