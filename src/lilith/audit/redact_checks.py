"""Checks a detector's match must pass before it is redacted: a card's Luhn digit, an IBAN's mod 97, the shape
of an HTTP credential. They keep look-alikes (order numbers, prose after "Bearer") out of the tags."""

from __future__ import annotations

import base64
import binascii
from bisect import bisect_left, bisect_right
from collections.abc import Iterator
from itertools import accumulate


def _luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i & 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def is_card(digits: str) -> bool:
    """12-19 digits, a payment-network first digit (2-6: Mastercard, Amex/Diners/JCB, Visa, Discover/UnionPay) and Luhn."""
    return 12 <= len(digits) <= 19 and "2" <= digits[0] <= "6" and _luhn(digits)


# Digit values for Luhn windows (as bytes, so prefix sums run in C): a digit, and the digit doubled (minus 9).
_PLAIN = bytes.maketrans(b"0123456789", bytes(range(10)))
_DOUBLED = bytes.maketrans(b"0123456789", bytes((0, 2, 4, 6, 8, 1, 3, 5, 7, 9)))
_CARD_FIRST = frozenset("23456")


def card_windows(groups: list[str]) -> Iterator[tuple[int, int, str]]:
    """Cards in a run of digit groups: ``(first group, last group, digits)`` of each window of whole groups
    that ``is_card``, left to right, the longest window from each start, windows never overlapping.

    Linear: a window holds at most 19 digits, so each start has at most eight ends to try, and each try is
    two look-ups. A window's Luhn sum is a difference of prefix sums: counted from its right end, the doubled
    digits are those at positions of the parity of the end, so one running sum per parity covers every window.
    """
    digits = "".join(groups)
    if not any(d in digits for d in _CARD_FIRST):
        return
    plain = digits.encode().translate(_PLAIN)
    sums: list[list[int]] = []
    for parity in (0, 1):  # doubled at even, at odd positions
        values = bytearray(plain)
        values[parity::2] = digits[parity::2].encode().translate(_DOUBLED)
        sums.append(list(accumulate(values, initial=0)))
    bounds = list(accumulate(map(len, groups), initial=0))  # digit offset where each group starts
    i = 0
    last = len(groups)
    while i < last:
        start = bounds[i]
        if digits[start] in _CARD_FIRST:
            # ends (indices into bounds) that make a window of 12 to 19 digits, longest first
            for end_index in range(bisect_right(bounds, start + 19) - 1, bisect_left(bounds, start + 12) - 1, -1):
                end = bounds[end_index]
                luhn = sums[end & 1]
                if (luhn[end] - luhn[start]) % 10 == 0:
                    yield i, end_index - 1, digits[start:end]
                    i = end_index
                    break
            else:
                i += 1
        else:
            i += 1


# An IBAN's letters and digits as the digits of its mod-97 number (A = 10 ... Z = 35).
_IBAN_NUMBER = str.maketrans(
    {c: str(int(c, 36)) for c in "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"}
)


def iban_ok(compact: str) -> bool:
    """An IBAN without separators: a plausible length, check digits 02-98 and mod 97 == 1."""
    if not 15 <= len(compact) <= 34 or not "02" <= compact[2:4] <= "98":
        return False
    return int((compact[4:] + compact[:4]).translate(_IBAN_NUMBER)) % 97 == 1


def alnum_end(text: str, count: int) -> int:
    """The index just after the ``count``-th letter or digit of ``text`` if a group ends there, else 0."""
    seen = 0
    for i, ch in enumerate(text):
        if ch.isalnum():
            seen += 1
            if seen == count:
                end = i + 1
                return end if end == len(text) or text[end] in " -" else 0
    return 0


def is_credential(scheme: str, cred: str) -> bool:
    """Whether the word after "Bearer"/"Basic" is a credential rather than prose ("Bearer token") or the
    name of a challenge's parameter (``Bearer resource_metadata="…"``)."""
    name = cred.rstrip("=")
    if name != cred and name.replace("_", "").isalpha() and name.islower():
        return False
    if scheme[1:] == "asic":
        try:
            if b":" in base64.b64decode(cred + "=" * (-len(cred) % 4), validate=True):
                return True  # base64 of user:password
        except (binascii.Error, ValueError):
            pass
    return any(c.isdigit() or c in "._~+/=-" for c in cred) or not cred[1:].islower()
