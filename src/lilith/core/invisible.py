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
"""

from __future__ import annotations

import re
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
# One candidate character, then (for an escape or a C1 introducer) the rest of its sequence. Starting every
# match with one character class lets the regex engine skip ahead to candidates instead of trying each
# alternative at every position: the slow path costs little more than the check.
_SEQUENCE_REST = (
    r"(?:(?<=\x1b)(?:\[[\x30-\x3f]*[\x20-\x2f]*[\x40-\x7e]"  # CSI
    rf"|[\]PX^_]{_STRING}"  # OSC, DCS, SOS, PM, APC
    r"|[\x20-\x2f]*[\x30-\x7e])"  # the other escape sequences
    r"|(?<=\x9b)[\x30-\x3f]*[\x20-\x2f]*[\x40-\x7e]"  # 8-bit CSI
    rf"|(?<=[\x90\x98\x9d\x9e\x9f]){_STRING})?"  # 8-bit string introducers
)
_REMOVABLE = re.compile(f"[{_BMP_CLASS}{_EXACT_ASTRAL}\r]{_SEQUENCE_REST}")
_NOT_VISIBLE = re.compile(f"[{_ALWAYS}{_JOINERS}{_SELECTORS}\\s]")
_SELECTOR = re.compile(f"[{_SELECTORS}]")
_BIDI_CHARS = re.compile(f"[{_BIDI}]")
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
        elif first in _JOINERS:
            if _joins_visible(text, start):
                return found
            kind = "zero_width"
        elif _SELECTOR.match(first) is not None:
            if _follows_visible(text, start):
                return found
            kind = "variation_selector"
        else:
            kind = _char_kind(first)
        removed[kind] = removed.get(kind, 0) + 1
        changed = True
        return ""

    cleaned = _REMOVABLE.sub(replace, text)
    return cleaned if changed else text


def _joins_visible(text: str, at: int) -> bool:
    if at == 0 or at + 1 >= len(text):
        return False
    before, after = text[at - 1], text[at + 1]
    return (
        not before.isascii()
        and not after.isascii()
        and (_NOT_VISIBLE.match(before) is None or _SELECTOR.match(before) is not None)
        and _NOT_VISIBLE.match(after) is None
    )


def _follows_visible(text: str, at: int) -> bool:
    """Does the selector at ``at`` vary the character before it? Never an ASCII one but a keycap's base:
    between two letters it could only split a word the poison scan looks for."""
    if at == 0:
        return False
    before = text[at - 1]
    if before.isascii():
        return before in _KEYCAP_BASES and text.startswith("\u20e3", at + 1)
    return _NOT_VISIBLE.match(before) is None


def _char_kind(char: str) -> str:
    code = ord(char)
    if code == 0x1B:
        return "ansi"
    if code < 0x20 or 0x7F <= code <= 0x9F:
        return "control"
    if 0xE0000 <= code <= 0xE007F:
        return "tag"
    if _BIDI_CHARS.match(char) is not None:
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
