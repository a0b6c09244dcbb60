"""Skeletons of names: one spelling for every name that a reader, or a lenient server, would take for the same.

Two names are *confusable* when their skeletons are equal. The skeleton of a name is, in this order:

1. Unicode NFKC, which folds compatibility forms: fullwidth ``ｅｃｈｏ``, mathematical ``𝐞𝐜𝐡𝐨``, ligatures,
   ``ſ`` (long s), the Kelvin sign, Roman numerals, ``․`` and friends;
2. the homoglyph table below (before and after case folding, so upper- and lower-case look-alikes both map);
3. full Unicode case folding (``ECHO``, ``Echo`` → ``echo``);
4. removal of what cannot be seen: format characters (Cf: zero-width space and joiners, BOM, soft hyphen,
   bidi controls, tag characters), controls (Cc), spaces and line/paragraph separators (Z*), and the other
   default-ignorable code points (variation selectors, the combining grapheme joiner, Hangul fillers);
5. NFKC again, so that a mark split from its letter by an invisible character is composed with it.

This is the idea of a Unicode TS #39 skeleton, not its full data. We looked for a maintained package that
computes TS #39 skeletons: ``confusable-homoglyphs`` ships the data but no skeleton and a 900 kB table to
load; ``disarm`` is a young native-code package. Neither is worth a runtime dependency of a security proxy,
so the table here is small and written by hand: the Cyrillic, Greek, Armenian and Latin-extension letters
that look like ASCII letters, and the dashes that look like ``-``. NFKC already covers fullwidth and
mathematical forms. ASCII is never mapped to other ASCII (``rn``/``m``, ``1``/``l``, ``0``/``O`` stay
apart): no server reads them as the same name, and folding them would refuse honest names. The result
depends on the Unicode version of the running Python (``unicodedata.unidata_version``) and on nothing else.
"""

from __future__ import annotations

import unicodedata

# Look-alikes of ASCII letters and of '-', from scripts whose letters are drawn like Latin ones.
# Upper-case entries map to upper case and lower-case to lower case; case folding comes after.
_LOOKALIKES = {
    # Cyrillic
    "А": "A", "В": "B", "Е": "E", "Ѕ": "S", "І": "I", "Ј": "J", "К": "K", "М": "M", "Н": "H", "О": "O",
    "Р": "P", "С": "C", "Т": "T", "Х": "X", "У": "Y", "Ү": "Y", "Ԛ": "Q", "Ԝ": "W", "Ӏ": "I", "Һ": "H",
    "Ѵ": "V",
    "а": "a", "е": "e", "ѕ": "s", "і": "i", "ј": "j", "о": "o", "р": "p", "с": "c", "у": "y", "х": "x",
    "һ": "h", "ԁ": "d", "ԛ": "q", "ԝ": "w", "ӏ": "l", "ѵ": "v", "ү": "y",
    # Greek
    "Α": "A", "Β": "B", "Ε": "E", "Ζ": "Z", "Η": "H", "Ι": "I", "Κ": "K", "Μ": "M", "Ν": "N", "Ο": "O",
    "Ρ": "P", "Τ": "T", "Υ": "Y", "Χ": "X", "Ϲ": "C", "Ϳ": "J",
    "α": "a", "γ": "y", "ι": "i", "ν": "v", "ο": "o", "ρ": "p", "χ": "x", "ϲ": "c", "ϳ": "j",
    # Armenian
    "Օ": "O", "Ս": "U",
    "օ": "o", "ս": "u", "հ": "h", "ո": "n", "ց": "g",
    # Latin letters outside ASCII drawn like ASCII ones
    "ı": "i", "ȷ": "j", "ɑ": "a", "ɡ": "g", "ɩ": "i", "ɪ": "i",
    # dashes and minus signs
    "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2212": "-",
}  # fmt: skip
_TABLE = str.maketrans(_LOOKALIKES)

# Default-ignorable code points (Unicode DerivedCoreProperties) that are not of category Cf; Cf, Cc and
# Z* are removed by category. Ranges are inclusive and include the unassigned code points reserved there.
_IGNORABLE_RANGES = (
    (0x034F, 0x034F),  # combining grapheme joiner
    (0x115F, 0x1160),  # Hangul choseong and jungseong fillers
    (0x17B4, 0x17B5),  # Khmer inherent vowels
    (0x180B, 0x180F),  # Mongolian free variation selectors and vowel separator
    (0x2060, 0x206F),  # word joiner, invisible operators, bidi isolates, and their unassigned neighbours
    (0x3164, 0x3164),  # Hangul filler
    (0xFE00, 0xFE0F),  # variation selectors
    (0xFFA0, 0xFFA0),  # halfwidth Hangul filler
    (0xFFF0, 0xFFF8),  # unassigned, reserved as ignorable
    (0xE0000, 0xE0FFF),  # tag characters, variation selectors supplement, and the reserved rest
)
_INVISIBLE_CATEGORIES = frozenset({"Cf", "Cc", "Zs", "Zl", "Zp"})
# In ASCII, NFKC and the table change nothing and the only invisible code points are controls and space.
_ASCII_INVISIBLE = str.maketrans(dict.fromkeys([*range(0x21), 0x7F]))


def is_invisible(ch: str) -> bool:
    """True for a code point that takes no visible space of its own in a name."""
    if unicodedata.category(ch) in _INVISIBLE_CATEGORIES:
        return True
    code = ord(ch)
    return any(low <= code <= high for low, high in _IGNORABLE_RANGES)


def fold_lookalikes(text: str) -> str:
    """``text`` in NFKC with the table's look-alike letters and dashes replaced by the ASCII they imitate,
    case, spaces and everything else kept: steps 1 and 2 of a skeleton, for reading prose (the poison scan),
    where dropping the spaces would join the words."""
    return unicodedata.normalize("NFKC", text).translate(_TABLE)


def skeleton(text: str) -> str:
    """The skeleton of ``text`` (see the module documentation); equal skeletons mean confusable names."""
    if text.isascii():  # the common case, answered without the Unicode tables
        return text.lower().translate(_ASCII_INVISIBLE)
    folded = unicodedata.normalize("NFKC", text).translate(_TABLE).casefold().translate(_TABLE)
    visible = "".join(ch for ch in folded if not is_invisible(ch))
    return unicodedata.normalize("NFKC", visible)
