"""Characters a reader cannot see, or that a terminal obeys instead of showing: found and removed.

Removed wherever they appear in text a server shows the client:

- ANSI/VT escape sequences, whole (CSI ``ESC [ ... m``, OSC/DCS/APC strings up to their terminator or the
  end of the text, two-character escapes, and their 8-bit C1 forms), so concealed text (``ESC [8m``)
  becomes plain visible text and nothing is left for a terminal to obey;
- the other C0 controls except tab and line feed (a carriage return survives only before a line feed:
  CRLF line ends stay, a bare CR that rewinds a terminal line goes), DEL and the C1 controls;
- bidi controls (U+202A-U+202E embeddings and overrides, U+2066-U+2069 isolates, U+200E/U+200F/U+061C marks);
- every other default-ignorable code point (Unicode's Default_Ignorable_Code_Point, whose published
  ranges have not changed from Unicode 9 to 16: zero-width spaces and joiners, U+00AD soft hyphen, U+034F,
  the Hangul fillers U+115F, U+1160, U+3164, U+FFA0, U+17B4/U+17B5, U+180E, U+2060-U+206F, U+FEFF,
  U+1BCA0-U+1BCA3, U+1D173-U+1D17A, the reserved U+FFF0-U+FFF8 and U+E0000-U+E0FFF), and every other
  format character (category Cf: U+FFF9-U+FFFB interlinear annotations, U+13430-U+1343F): a renderer
  shows none of them, so each can split a word a scan looks for. The prepended concatenation marks
  (U+0600-U+0605, U+06DD, U+070F, U+0890/U+0891, U+08E2, U+110BD, U+110CD) are format characters
  that Unicode keeps visible, and they stay;
- Unicode tag characters U+E0000-U+E007F (invisible copies of ASCII; this also turns the subdivision
  flags, e.g. England's, into a plain black flag).

Kept where they do visible work, removed elsewhere:

- U+200C/U+200D (zero-width non-joiner and joiner) between two visible non-ASCII characters: emoji
  sequences and Persian or Indic words need them; inside ASCII text they can only hide data;
- a variation selector (U+FE00-U+FE0F, U+E0100-U+E01EF, the Mongolian U+180B-U+180D and U+180F) right
  after a visible non-ASCII character, or in a keycap (``1`` U+FE0F U+20E3); after any other ASCII
  character it varies nothing; a run of them (the "emoji smuggling" encoding, one byte per selector)
  keeps at most the first.

The check is built to be cheap when there is nothing to remove (most text): an ASCII string costs one
byte-level pass in C, any other string one regex scan, and clean text comes back as the same object.
Cleaning is one more scan, also in C: whether a joiner or selector stays is judged by lookarounds in
the regex, so text dense in them (or in characters to remove) costs no Python call per character, and
text with thousands of removals is cleaned a chunk at a time, so that memory stays bounded.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

from lilith.errors import ProtocolError

_C0_C1 = "\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f"  # not \t \n; \r is judged by what follows it
_BIDI = "\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
# Default_Ignorable_Code_Point (DerivedCoreProperties.txt, the same ranges in Unicode 9.0 to 16.0) less
# what the other classes hold, and the format characters (Cf) outside it but for the prepended
# concatenation marks: Egyptian hieroglyph format controls and interlinear annotations.
_ZERO_WIDTH_BMP = (
    "\u00ad\u034f\u115f\u1160\u17b4\u17b5\u180e\u200b\u2060-\u2065\u206a-\u206f\u3164\ufeff\uffa0\ufff0-\ufffb"
)
_ZERO_WIDTH = (
    _ZERO_WIDTH_BMP + "\U00013430-\U0001343f\U0001bca0-\U0001bca3\U0001d173-\U0001d17a"
    "\U000e0080-\U000e00ff\U000e01f0-\U000e0fff"
)
_TAGS = "\U000e0000-\U000e007f"
_ALWAYS = _C0_C1 + _BIDI + _ZERO_WIDTH + _TAGS
_JOINERS = "\u200c\u200d"
_SELECTORS_BMP = "\u180b-\u180d\u180f\ufe00-\ufe0f"
_SELECTORS = _SELECTORS_BMP + "\U000e0100-\U000e01ef"
_KEYCAP_BASES = "0123456789#*"  # "1" U+FE0F U+20E3 is the keycap emoji 1
# Beyond the BMP, a regex tests a class's ranges one by one for every character it scans, so the classes
# that scan whole texts name few: the exact one joins the adjacent ranges of U+E0000-U+E0FFF (tags,
# reserved, selectors), the cheap check's covers the other three with one (the rare scripts in between
# only take the exact path).
_BMP_CLASS = _C0_C1 + _BIDI + _ZERO_WIDTH_BMP + _JOINERS + _SELECTORS_BMP
_EXACT_ASTRAL = "\U00013430-\U0001343f\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0000-\U000e0fff"
_COVERING_ASTRAL = "\U00013430-\U0001d17a\U000e0000-\U000e0fff"

_SHORT = 256  # up to this length, str.isprintable() is the cheapest proof that ASCII text is clean
_ASCII_CONTROLS = bytes([*range(0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0x7F])
_SUSPECT = re.compile(f"[{_BMP_CLASS}{_COVERING_ASTRAL}]")
_BARE_CR = re.compile("\r(?!\n)")
_STRING = r"[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"  # an OSC/DCS/SOS/PM/APC body and its terminator, if any
# After an escape or a C1 introducer, the rest of its sequence.
_SEQUENCE_REST = (
    r"(?:(?<=\x1b)(?:\[[\x30-\x3f]*[\x20-\x2f]*[\x40-\x7e]"  # CSI
    rf"|[\]PX^_]{_STRING}"  # OSC, DCS, SOS, PM, APC
    r"|[\x20-\x2f]*[\x30-\x7e])"  # the other escape sequences
    r"|(?<=\x9b)[\x30-\x3f]*[\x20-\x2f]*[\x40-\x7e]"  # 8-bit CSI
    rf"|(?<=[\x90\x98\x9d\x9e\x9f]){_STRING})?"  # 8-bit string introducers
)
_INTRODUCERS = "\x1b\x9b\x90\x98\x9d-\x9f"  # the characters that can begin a sequence
# The tail is tried only after an introducer, as ``(?:...|)``: the regex engine runs an alternation much
# faster than an optional group, and most removed characters begin no sequence.
_ALWAYS_REMOVED = f"(?<=[{_ALWAYS}])(?:(?<=[{_INTRODUCERS}]){_SEQUENCE_REST}|)"
# A joiner or a selector is kept or removed by its neighbours in the text as the server sent it. The
# lookarounds below judge it inside the scan: a kept one costs no call into Python.
_VISIBLE = f"[^\\x00-\\x7f{_ALWAYS}{_JOINERS}{_SELECTORS}\\s]"  # a visible non-ASCII character
_VISIBLE_OR_SELECTOR = f"[^\\x00-\\x7f{_ALWAYS}{_JOINERS}\\s]"
_JOINER_REMOVED = f"(?<=[{_JOINERS}])(?:(?<!{_VISIBLE_OR_SELECTOR}[{_JOINERS}])|(?!{_VISIBLE}))"
_SELECTOR_REMOVED = (  # kept after a visible character, or in a keycap
    f"(?<=[{_SELECTORS}])(?<!{_VISIBLE}[{_SELECTORS}])(?:(?<![{_KEYCAP_BASES}][{_SELECTORS}])|(?!\u20e3))"
)
# What is removed: one candidate character that the lookarounds condemn, with the rest of its sequence.
# Starting every match with one character class lets the regex engine skip ahead to candidates instead
# of trying each alternative at every position: cleaning costs little more than the check. The one group
# makes ``split`` return the kept text and the removed text, alternating, from a single pass in C.
_REMOVABLE = re.compile(
    f"([{_BMP_CLASS}{_EXACT_ASTRAL}\r](?:{_ALWAYS_REMOVED}|(?<=\r)(?!\n)|{_JOINER_REMOVED}|{_SELECTOR_REMOVED}))"
)
_FEW = 8  # up to this many removals, counting them one by one beats building a Counter
# Every removed piece that ``split`` returns is a new string (~80 bytes): a 64 MB line of zero-width
# spaces would hold 1.6 GB of them. Beyond this many, the text is cleaned a chunk at a time.
_SPLIT_LIMIT = 4096
_CHUNK = 16384  # characters
_INTRODUCER = re.compile(f"[{_INTRODUCERS}]")


def _members(ranges: str) -> frozenset[str]:
    """The characters of a class written as above: characters and ``first-last`` ranges."""
    spans = re.findall("(.)(?:-(.))?", ranges, re.DOTALL)
    return frozenset(chr(code) for first, last in spans for code in range(ord(first), ord(last or first) + 1))


_SELECTOR_CHARS = _members(_SELECTORS)
_BIDI_CHARS = _members(_BIDI)
_TAG_TEXT = re.compile("[\U000e0020-\U000e007e]+")


def is_clean(text: str) -> bool:
    """True when ``text`` certainly holds nothing to remove (False may still clean to the same text)."""
    if text.isascii():
        if len(text) <= _SHORT and text.isprintable():  # most keys and short values: no copy
            return True
        data = text.encode("ascii")
        if len(data.translate(None, _ASCII_CONTROLS)) != len(data):
            return False
    elif _SUSPECT.search(text) is not None:
        return False
    return "\r" not in text or _BARE_CR.search(text) is None


def clean_text(text: str, removed: dict[str, int]) -> str:
    """``text`` without the characters this module removes; the same object if nothing was removed.
    ``removed`` counts what went, by kind (ansi, control, bidi, zero_width, tag, variation_selector)."""
    if is_clean(text):
        return text
    pieces = _REMOVABLE.split(text, _SPLIT_LIMIT)  # kept text and removed text, alternating
    if len(pieces) == 1:
        return text
    if len(pieces) > 2 * _SPLIT_LIMIT:
        return _clean_dense(text, removed)
    if len(pieces) > 2 * _FEW + 1:
        _add(Counter(pieces[1::2]), removed)
    else:
        for item in pieces[1::2]:
            kind = _kind(item)
            removed[kind] = removed.get(kind, 0) + 1
    return "".join(pieces[::2])


def _clean_dense(text: str, removed: dict[str, int]) -> str:
    """``clean_text`` for text with thousands of removals, holding only a chunk's removed pieces at once."""
    counts: Counter[str] = Counter()
    if _INTRODUCER.search(text) is not None:
        # An escape sequence may run on for any length, so no cut is safe: count the removals one by one
        # as a scan streams them by, then clean in a second scan.
        counts.update(map(re.Match.group, _REMOVABLE.finditer(text)))
        _add(counts, removed)
        return _REMOVABLE.sub("", text)
    kept = [_clean_chunk(text, start, counts) for start in range(0, len(text), _CHUNK)]
    _add(counts, removed)
    return "".join(kept)


def _clean_chunk(text: str, start: int, counts: Counter[str]) -> str:
    """The cleaned chunk of ``text`` at ``start``, its removals added to ``counts``. With no escape
    sequence in the text, each removal is one character judged by its two neighbours: the chunk is split
    with its neighbour on either side, which is judged here without its own neighbour and so left out
    (its own chunk judges it)."""
    end = min(start + _CHUNK, len(text))
    before, after = (1 if start > 0 else 0), (1 if end < len(text) else 0)
    pieces = _REMOVABLE.split(text[start - before : end + after])
    found = pieces[1::2]
    if before:  # the neighbour was kept (it begins the first piece) or removed (it is the first removal)
        if pieces[0]:
            pieces[0] = pieces[0][1:]
        else:
            del found[0]
    if after:
        if pieces[-1]:
            pieces[-1] = pieces[-1][:-1]
        else:
            del found[-1]
    counts.update(found)
    return "".join(pieces[::2])


def _add(counts: Counter[str], removed: dict[str, int]) -> None:
    for item, count in counts.items():
        kind = _kind(item)
        removed[kind] = removed.get(kind, 0) + count


def _kind(found: str) -> str:
    if len(found) > 1 or found == "\x9b":  # a sequence, or a CSI introducer that began none
        return "ansi"
    if found == "\r":
        return "control"
    if found in _JOINERS:
        return "zero_width"
    if found in _SELECTOR_CHARS:
        return "variation_selector"
    return _char_kind(found)


def _char_kind(char: str) -> str:
    code = ord(char)
    if code == 0x1B:
        return "ansi"
    if code < 0x20 or 0x7F <= code <= 0x9F:
        return "control"
    if 0xE0000 <= code <= 0xE007F:
        return "tag"
    if char in _BIDI_CHARS:
        return "bidi"
    return "zero_width"


def clean_value(value: Any, removed: dict[str, int]) -> Any:
    """A JSON value with every string (keys included) cleaned; the very same object when nothing changed,
    and new containers only along the paths that did. Two keys that become one when cleaned are refused:
    choosing either would be a guess."""
    if isinstance(value, str):
        return clean_text(value, removed)
    if isinstance(value, dict):
        return _clean_object(value, removed)
    if isinstance(value, list):
        return _clean_list(value, removed)
    return value  # numbers, booleans, null (JSON from the codec has no other types)


# The two walkers below inline the common cases (short printable ASCII strings, nested containers) rather
# than calling clean_value for every node: a typical tool result costs about a microsecond less per call.
def _clean_list(value: list[Any], removed: dict[str, int]) -> list[Any]:
    copy: list[Any] | None = None
    for index, item in enumerate(value):
        kind = type(item)
        if kind is str:
            new = item if item.isascii() and len(item) <= _SHORT and item.isprintable() else clean_text(item, removed)
        elif kind is dict:
            new = _clean_object(item, removed)
        elif kind is list:
            new = _clean_list(item, removed)
        else:
            new = clean_value(item, removed)
        if new is not item:
            if copy is None:
                copy = list(value)
            copy[index] = new
    return value if copy is None else copy


def _clean_object(value: dict[Any, Any], removed: dict[str, int]) -> dict[Any, Any]:
    rebuilt: dict[Any, Any] | None = None
    for index, (key, item) in enumerate(value.items()):
        if type(key) is str and key.isascii() and len(key) <= _SHORT and key.isprintable():
            new_key = key
        else:
            new_key = clean_text(key, removed) if isinstance(key, str) else key
        kind = type(item)
        if kind is str:
            new = item if item.isascii() and len(item) <= _SHORT and item.isprintable() else clean_text(item, removed)
        elif kind is dict:
            new = _clean_object(item, removed)
        elif kind is list:
            new = _clean_list(item, removed)
        else:
            new = clean_value(item, removed)
        if rebuilt is None:
            if new_key is key and new is item:
                continue
            rebuilt = dict(list(value.items())[:index])
        if new_key in rebuilt:
            raise ProtocolError("two keys of an object are the same once invisible characters are removed")
        rebuilt[new_key] = new
    return value if rebuilt is None else rebuilt


def strings(value: Any) -> list[str]:
    """Every string in a JSON value, keys included, in document order."""
    found: list[str] = []
    _collect(value, found)
    return found


def _collect(value: Any, found: list[str]) -> None:
    if isinstance(value, str):
        found.append(value)
    elif isinstance(value, dict):
        for key, item in value.items():
            if isinstance(key, str):
                found.append(key)
            if isinstance(item, str):
                found.append(item)
            elif isinstance(item, dict | list):
                _collect(item, found)
    elif isinstance(value, list):
        for item in value:
            _collect(item, found)


def tag_text(text: str) -> str:
    """The ASCII that Unicode tag characters in ``text`` spell out (invisible to a reader, not to a model)."""
    if text.isascii():
        return ""
    return " ".join("".join(chr(ord(c) - 0xE0000) for c in run) for run in _TAG_TEXT.findall(text))
