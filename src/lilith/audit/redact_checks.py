"""Checks a detector's match must pass before it is redacted: a card's Luhn digit, an IBAN's mod 97, the shape
of an HTTP credential. They keep look-alikes (order numbers, prose after "Bearer") out of the tags."""

from __future__ import annotations

import base64
import binascii


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


def iban_ok(compact: str) -> bool:
    """An IBAN without separators: a plausible length, check digits 02-98 and mod 97 == 1."""
    if not 15 <= len(compact) <= 34 or not "02" <= compact[2:4] <= "98":
        return False
    rearranged = compact[4:] + compact[:4]
    return int("".join(str(int(c, 36)) for c in rearranged)) % 97 == 1


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
