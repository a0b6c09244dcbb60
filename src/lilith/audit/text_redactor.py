"""Redaction of free text: every detected value becomes ``<kind:hash>`` (see ``redact``).

Speed: the audit path must sustain tens of thousands of records a second, so the common case (short strings
with nothing interesting in them) must cost well under a microsecond each. Every detector therefore sits
behind a cheap pre-filter (a substring test, ``'@' in s``, a length bound or one shared "enough digits"
scan) and the expensive checks (Luhn, IBAN mod 97, IPv6 parsing, base64, HMAC) run only on candidates.

JSON text carried in a string may hide a value behind escapes (``bob\\u0040example.com`` is an email to whoever
decodes it): a string with a backslash before ``u`` or a quote is also read with its escapes decoded (see
``_escaped``). Strings without a backslash pay one substring test for it.

Cost: every detector is linear in its input, but some cost a few tenths of a microsecond per character on
hostile text (runs of digit groups, look-alike flags), and redaction runs while the session waits. So a
string longer than ``SCAN_CHARS`` is redacted on its first ``SCAN_CHARS`` characters only (cut back to the
last separator, so no token is cut in two) and the rest is replaced by ``<truncated:N:hash>``: the string's
length in characters and the keyed hash of the whole string, so equal values still correlate. Nothing is
dropped silently: the tag says a value was cut, how long it was, and identifies it.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

from lilith.audit.custom_patterns import CompiledPattern, compile_custom
from lilith.audit.redact_checks import alnum_end, card_windows, iban_ok, is_card, is_credential
from lilith.audit.redact_patterns import (
    ASSIGN_HINTS,
    ASSIGN_RE,
    AUTH_SCHEME_RE,
    AWS_RE,
    CARD_DOTTED_RE,
    CARD_RE,
    CARD_SEPARATORS_RE,
    DIGITS_GATE_RE,
    EMAIL_ASCII_RE,
    EMAIL_ENCODED_RE,
    EMAIL_RE,
    ESCAPE_RE,
    FLAG_VALUE_RE,
    GITHUB_RE,
    GOOGLE_RE,
    IBAN_DIGITS_RE,
    IBAN_GATE_RE,
    IBAN_LENGTHS,
    IBAN_RE,
    IPV4_GATE_RE,
    IPV4_RE,
    IPV6_RE,
    JWT_RE,
    PEM_RE,
    PHONE_00_RE,
    PHONE_RE,
    SK_RE,
    SLACK_RE,
    SPACED_SECRET_RE,
    SSN_RE,
    STRIPE_RE,
    TAG_RE,
    URL_CRED_RE,
    USER_FLAG_RE,
)
from lilith.audit.secret_names import is_secret_setting

# 64 KiB: four times the longest honest value seen in tool arguments that is worth reading in an audit log
# (file contents, prompts), and at the worst detector cost (~0.5 µs per character) about 30 ms of redaction.
SCAN_CHARS = 1 << 16
_CUT_SLACK = 1024  # how far before SCAN_CHARS a cut may move back to end at a separator
_SEPARATORS = (" ", "\n", "\t", '"', "'", ",", ";", "&", "<", ">")
_SETTING_MEMO_MAX = 1024  # option names looked up by the "--name value" detector (each at most 64 characters)


class TextRedactor:
    """Replaces personal data and credentials in strings with ``<kind:hash>`` tags.

    ``key``: the HMAC key for the tags (keep it out of the audit log). ``custom``: ``(kind, regex)`` pairs
    from configuration, compiled once here; a bad pattern raises ``ConfigError``. ``hash_chars``: hex digits
    of HMAC-SHA256 kept in a tag (4 to 64).
    """

    _OWN_TAG: ClassVar[re.Pattern[str]] = TAG_RE  # what this redactor's tags look like

    def __init__(self, key: bytes, custom: Sequence[tuple[str, str]] = (), hash_chars: int = 6) -> None:
        if not isinstance(key, bytes | bytearray) or not key:
            raise ValueError("redaction key must be non-empty bytes")
        if not 4 <= hash_chars <= 64:
            raise ValueError("hash_chars must be between 4 and 64")
        # HMAC-SHA256 (RFC 2104) with the inner and outer pads hashed once: a tag then costs two copies of a
        # hash state instead of a new ``hmac.HMAC`` object (about half the time).
        block = bytes(key) if len(key) <= 64 else hashlib.sha256(key).digest()
        block = block.ljust(64, b"\0")
        self._inner = hashlib.sha256(bytes(b ^ 0x36 for b in block))
        self._outer = hashlib.sha256(bytes(b ^ 0x5C for b in block))
        self._hash_chars = hash_chars
        self._custom: list[tuple[CompiledPattern, Callable[[Any], str]]] = [
            (compile_custom(kind, pattern), self._tagger(kind)) for kind, pattern in custom
        ]
        tag = self._tagger
        self._pem = tag("private_key")
        self._jwt = tag("jwt")
        self._aws = tag("aws_key")
        self._github = tag("github_token")
        self._slack = tag("slack_token")
        self._stripe = tag("stripe_key")
        self._google = tag("google_api_key")
        self._ssn = tag("ssn")
        self._phone = tag("phone")
        self._ipv4_tag = tag("ipv4")
        self._settings: dict[str, bool] = {}  # option name -> is_secret_setting (names are short: bounded)

    # --- tags ---------------------------------------------------------------------------------------------
    def tag(self, kind: str, value: str) -> str:
        """The tag for ``value``: ``<kind:first hash_chars hex digits of HMAC-SHA256(key, value)>``."""
        inner = self._inner.copy()
        inner.update(value.encode("utf-8", "surrogatepass"))
        outer = self._outer.copy()
        outer.update(inner.digest())
        return f"<{kind}:{outer.hexdigest()[: self._hash_chars]}>"

    def truncated_tag(self, value: str) -> str:
        """What replaces the unscanned end of a long string: ``<truncated:N:hash>``, N the length of the whole
        ``value`` in characters and hash its keyed hash (as in ``tag``)."""
        hashed = self.tag("truncated", value)  # <truncated:hash>
        return f"<truncated:{len(value)}:{hashed[len('<truncated:') :]}"

    def clip(self, s: str, keep: int) -> str:
        """``s`` redacted on its first ``keep`` characters at most (cut back to the last separator in the last
        ``_CUT_SLACK`` of them, so that no token is cut in two), then ``truncated_tag(s)``."""
        if len(s) <= keep:
            return self.redact_text(s)
        separator = max(s.rfind(c, max(0, keep - _CUT_SLACK), keep) for c in _SEPARATORS)
        cut = separator + 1 if separator >= 0 else keep
        return self.redact_text(s[:cut]) + self.truncated_tag(s)

    def _tagger(self, kind: str) -> Callable[[Any], str]:
        tag = self.tag

        def repl(m: Any) -> str:
            return tag(kind, m.group(0))

        return repl

    def _tag_group(self, m: re.Match[str], group: str) -> str:
        """The match with only ``group`` replaced by its ``secret`` tag."""
        start, end = m.span(group)
        base = m.start()
        whole = m.group(0)
        return whole[: start - base] + self.tag("secret", m.string[start:end]) + whole[end - base :]

    def _assign_repl(self, m: re.Match[str]) -> str:
        s = m.string
        lt = s.rfind("<", max(0, m.start() - 33), m.start() + 1)
        if lt >= 0:  # the "key:" of one of our own tags, such as <github_token:3f2a9c>
            t = self._OWN_TAG.match(s, lt)
            if t is not None and t.end() >= m.end():
                return m.group(0)
        for name in ("eq", "dq", "sq", "bare"):
            if m.start(name) >= 0:
                break
        if self._OWN_TAG.fullmatch(m.group(name)):  # already redacted by an earlier detector
            return m.group(0)
        return self._tag_group(m, name)

    def _url_cred_repl(self, m: re.Match[str]) -> str:
        return self._tag_group(m, "pw")

    def _auth_scheme_repl(self, m: re.Match[str]) -> str:
        return self._tag_group(m, "cred") if is_credential(m.group("scheme"), m.group("cred")) else m.group(0)

    def _flag_value_repl(self, m: re.Match[str]) -> str:
        name = m.group("name")
        secret = self._settings.get(name)
        if secret is None:
            secret = is_secret_setting(name)
            if len(self._settings) >= _SETTING_MEMO_MAX:
                self._settings.clear()
            self._settings[name] = secret
        return self._tag_group(m, "value") if secret else m.group(0)

    def _user_flag_repl(self, m: re.Match[str]) -> str:
        if m.group("user").isdigit() and m.group("pw").isdigit():  # docker -u 1000:1000: a uid and a gid
            return m.group(0)
        return self._tag_group(m, "pw")

    def _spaced_secret_repl(self, m: re.Match[str]) -> str:
        return self._tag_group(m, "value")

    def _sk_repl(self, m: re.Match[str]) -> str:
        key = m.group(0)
        return self.tag("api_key", key) if any(c.isdigit() for c in key[3:]) else key

    def _email_repl(self, m: re.Match[str]) -> str:
        return self.tag("email", m.group(0).replace("%40", "@"))  # a URL-encoded address correlates with it

    def _iban_repl(self, m: re.Match[str]) -> str:
        cand = m.group(0)
        if IBAN_DIGITS_RE.search(cand) is None:  # what the digits gate lets through, with or without the gate
            return cand
        length = IBAN_LENGTHS.get(cand[:2].upper())
        if length is not None:
            end = alnum_end(cand, length)
            compact = cand[:end].replace(" ", "").replace("-", "").upper()
            if end and iban_ok(compact):
                return self.tag("iban", compact) + cand[end:]
            return cand
        if "-" in cand or not cand.isupper():
            return cand
        # A country missing from the table: upper case only, checksum alone. The match may run on into
        # following upper-case words; try ends at group boundaries, longest first.
        ends = [len(cand)] + [i for i in range(len(cand) - 1, 3, -1) if cand[i] == " "]
        for end in ends:
            compact = cand[:end].replace(" ", "")
            if iban_ok(compact):
                return self.tag("iban", compact) + cand[end:]
        return cand

    def _card_repl(self, m: re.Match[str]) -> str:
        run = m.group(0)
        if len(run) <= 19 * 4:  # a card written whole, the common case
            digits = run.replace(" ", "").replace("-", "").replace(".", "")
            if is_card(digits):
                return self.tag("card", digits)
        parts = CARD_SEPARATORS_RE.split(run)  # groups at even indices, what separates them at odd ones
        if len(parts) == 1:
            return run
        groups = parts[::2]
        # A run of digit groups may hold a card next to other numbers ("ref 12 4111 1111 1111 1111"): windows
        # of whole groups, left to right, longest first (see ``card_windows``).
        out: list[str] = []
        pos = 0
        for first, last, digits in card_windows(groups):
            out.append("".join(parts[pos : 2 * first]))
            out.append(self.tag("card", digits))
            pos = 2 * last + 1
        if not out:
            return run
        out.append("".join(parts[pos:]))
        return "".join(out)

    def _ipv4(self, m: re.Match[str]) -> str:
        start = m.start()
        if start and m.string[start - 1] in "0123456789.":  # part of a longer dotted number
            return m.group(0)
        return self._ipv4_tag(m)

    def _ipv6_repl(self, m: re.Match[str]) -> str:
        cand = m.group(0)
        if cand.strip(":") == "":
            return cand
        try:
            ipaddress.IPv6Address(cand)
        except ValueError:
            return cand
        return self.tag("ipv6", cand)

    # --- text ---------------------------------------------------------------------------------------------
    def redact_text(self, s: str, *, escapes: bool = True) -> str:
        """``s`` with every detected value replaced by its tag (``s`` itself when nothing was found).
        ``escapes``: also read JSON escapes in ``s`` (False for a copy whose escapes were decoded already).
        Longer than ``SCAN_CHARS``: see ``clip``."""
        if len(s) > SCAN_CHARS:
            return self.clip(s, SCAN_CHARS)
        raw = s
        # Decide on the key = value pass before any tag is inserted: tags such as <aws_key:…> contain keywords.
        assign = False
        percent = "%" in s  # URL-encoded: %3D and %3A as separators, %40 as the @ of an email
        if "=" in s or ":" in s or (percent and "%3" in s):
            low = s.lower()
            for hint in ASSIGN_HINTS:
                if hint in low:
                    assign = True
                    break
        for pattern, repl in self._custom:
            s = pattern.sub(repl, s)
        n = len(s)
        if n >= 15:  # the shortest prefixed secret (Slack) is 15 characters
            if "-----BEGIN" in s:
                s = PEM_RE.sub(self._pem, s)
            if "eyJ" in s:
                s = JWT_RE.sub(self._jwt, s)
            if "AKIA" in s or "ASIA" in s:
                s = AWS_RE.sub(self._aws, s)
            if "gh" in s:
                s = GITHUB_RE.sub(self._github, s)
            if "xox" in s or "xapp-" in s:
                s = SLACK_RE.sub(self._slack, s)
            if "k_live_" in s or "k_test_" in s or "whsec_" in s:
                s = STRIPE_RE.sub(self._stripe, s)
            if "AIza" in s:
                s = GOOGLE_RE.sub(self._google, s)
            if "sk-" in s:
                s = SK_RE.sub(self._sk_repl, s)
        colon = ":" in s
        if assign:
            s = ASSIGN_RE.sub(self._assign_repl, s)
        if n >= 9:  # "Basic " and six characters, "-u a:b …", "--pass x"
            if "earer" in s or "asic" in s:
                s = AUTH_SCHEME_RE.sub(self._auth_scheme_repl, s)
            if "-" in s:
                if "--" in s:
                    s = FLAG_VALUE_RE.sub(self._flag_value_repl, s)
                if "-u" in s:
                    s = USER_FLAG_RE.sub(self._user_flag_repl, s)
            if "ws_s" in s:
                s = SPACED_SECRET_RE.sub(self._spaced_secret_repl, s)
        if "@" in s:
            if "://" in s:
                s = URL_CRED_RE.sub(self._url_cred_repl, s)
            s = (EMAIL_ASCII_RE if s.isascii() else EMAIL_RE).sub(self._email_repl, s)
        if percent and "%40" in s:
            s = EMAIL_ENCODED_RE.sub(self._email_repl, s)
        if n >= 7:
            if DIGITS_GATE_RE.search(s) is not None:
                if IBAN_GATE_RE.search(s) is not None:  # every IBAN has seven digits close together
                    s = IBAN_RE.sub(self._iban_repl, s)
                s = CARD_RE.sub(self._card_repl, s)
                if s.count(".") >= 3:
                    s = CARD_DOTTED_RE.sub(self._card_repl, s)
                if "-" in s or " " in s:
                    s = SSN_RE.sub(self._ssn, s)
                s = PHONE_RE.sub(self._phone, s)
                if "00" in s:
                    s = PHONE_00_RE.sub(self._phone, s)
            if "." in s and IPV4_GATE_RE.search(s) is not None:
                s = IPV4_RE.sub(self._ipv4, s)
        if colon and s.count(":") >= 2:
            s = IPV6_RE.sub(self._ipv6_repl, s)
        if escapes and "\\" in raw and ("\\u" in raw or '\\\\"' in raw):
            return self._escaped(raw, s)
        return s

    def _escaped(self, raw: str, redacted: str) -> str:
        """``raw`` (redacted as ``redacted``) read once more with its JSON escapes decoded. If the decoded copy
        shows a value the escapes hid, the copy is returned with its values tagged (escapes of characters that
        are not quotes or backslashes stay decoded there); otherwise ``redacted``, escapes as they were.
        One level of decoding: backslash runs of any length count as one escape, which covers JSON nested
        in JSON; escapes that only appear once others are decoded are not looked for."""
        decoded = ESCAPE_RE.sub(_decoded_escape, raw)
        if decoded == raw:
            return redacted
        found = self.redact_text(decoded, escapes=False)
        if found == decoded or found == ESCAPE_RE.sub(_decoded_escape, redacted):
            return redacted  # nothing hidden: the raw reading saw it all
        return found


def _decoded_escape(m: re.Match[str]) -> str:
    """What an escape matched by ``ESCAPE_RE`` reads as: its character, unless that is a quote or a backslash
    (which would move where the text's strings end) or half a surrogate pair; or a quote escaped once, as the
    detectors expect it."""
    code = m.group(1)
    if code is None:
        return "\\"
    number = int(code, 16)
    return m.group(0) if number in (0x22, 0x5C) or 0xD800 <= number <= 0xDFFF else chr(number)
