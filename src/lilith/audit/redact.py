"""Redaction of audit records before they reach the disk.

Every value that looks like personal data or a credential is replaced by ``<kind:hash>``, where ``hash`` is
the first ``hash_chars`` hex digits of HMAC-SHA256(key, value). The same value always gets the same tag
under one key, so records can be correlated without revealing it; a different key gives unrelated tags.
The hash covers the value only, not the kind, so a token seen once as ``token=…`` (``<secret:…>``) and once
bare (``<github_token:…>``) still correlates.

Structure says more than text: a value under a secret-looking key (``password``, ``DB_PASS``, ``apiKey``),
the ``value`` next to ``"name": "Authorization"`` and the item after ``--api-key`` on a command line are
secrets whatever they look like. So JSON that was serialised for a preview travels as ``JsonText`` (the
text plus the value it came from) and is redacted as a value, then serialised again; values nested deeper
than ``MAX_DEPTH`` are redacted without recursion before they are turned into text. Text detectors accept
JSON-escaped quotes (``\\"token\\": \\"…\\"``) for JSON that a server put inside a string.

Speed: the audit path must sustain tens of thousands of records a second, so the common case (short strings
with nothing interesting in them) must cost well under a microsecond each. Every detector therefore sits
behind a cheap pre-filter (a substring test, ``'@' in s``, a length bound or one shared "enough digits"
scan) and the expensive checks (Luhn, IBAN mod 97, IPv6 parsing, base64, HMAC) run only on candidates.

Safety of the regular expressions: the built-in patterns below use the stdlib ``re`` module. They are ours
and written to run in linear time: no nested unbounded quantifiers, adjacent pieces use disjoint character
classes, repetitions are bounded where a failed match could rescan, and token patterns only start at a
token boundary (a look-behind), so a long run of look-alike characters is scanned once, not once per
position. Patterns from configuration are not ours: they are compiled with RE2 (``google-re2``, linear time
by construction) when it is importable; without RE2 they are compiled with ``re`` only if they have no
quantified group that itself contains a quantifier or an alternation (the shape behind catastrophic
backtracking), and refused otherwise.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import importlib
import ipaddress
import json
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

import orjson

from lilith.errors import ConfigError

__all__ = ["MAX_DEPTH", "JsonText", "Redactor"]

MAX_DEPTH = 64  # deeper values are redacted without recursion, then serialised to JSON text
_DEEP_LIMIT = 192  # levels below MAX_DEPTH redacted that way; anything deeper (or cyclic) is <too_deep>
_KEY_CACHE_MAX = 4096
_KIND_RE = re.compile(r"[a-z][a-z0-9_]{0,31}", re.ASCII)
_TAG_RE = re.compile(r"<[a-z][a-z0-9_]{0,31}:[0-9a-f]{1,64}>", re.ASCII)
_A = re.ASCII
# The rest of a value after its first character: up to a space or quote, and up to a backslash only when
# it escapes a quote (the end of a value inside JSON-escaped text, ``\"``).
_VALUE_REST = r"(?:[^\s\"'\\]|\\(?![\"']))*"

# --- secrets with a recognisable prefix -------------------------------------------------------------------
_PEM_RE = re.compile(
    # Body: any char except the start of "-----END"; with no END line the rest of the string is redacted
    # (a truncated key is still a secret). Alternatives are disjoint, so the loop never backtracks.
    # "PRIVATE KEY BLOCK" is PGP's spelling.
    r"-----BEGIN[A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----(?:[^-]|-(?!----END))*"
    r"(?:-----END[A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----)?",
    _A,
)
_JWT_RE = re.compile(r"(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]*", _A)
_AWS_RE = re.compile(r"(?<![A-Za-z0-9])(?:AKIA|ASIA)[A-Z0-9]{16}(?![A-Za-z0-9])", _A)
_GITHUB_RE = re.compile(r"(?<![A-Za-z0-9])(?:gh[pousr]_[A-Za-z0-9]{20,255}|github_pat_[A-Za-z0-9_]{20,255})", _A)
# Slack: bot, user, app-level (xapp-) and refresh (xoxe-, also as the prefix "xoxe." of a rotated token).
_SLACK_RE = re.compile(r"(?<![A-Za-z0-9])(?:(?:xoxe\.)?xox[abeprs]|xapp)-[A-Za-z0-9-]{10,255}", _A)
_STRIPE_RE = re.compile(r"(?<![A-Za-z0-9])(?:[rs]k_(?:live|test)_|whsec_)[A-Za-z0-9]{10,255}", _A)
_GOOGLE_RE = re.compile(r"(?<![A-Za-z0-9_-])AIza[A-Za-z0-9_-]{35}(?![A-Za-z0-9_-])", _A)
# OpenAI (sk-, sk-proj-, sk-svcacct-) and Anthropic (sk-ant-) keys; the body must hold a digit (checked in
# code), which CSS class names and slugs such as "sk-fading-circle-animation" do not.
_SK_RE = re.compile(r"(?<![A-Za-z0-9_-])sk-[A-Za-z0-9_-]{20,512}", _A)

# --- key = value assignments in free text -----------------------------------------------------------------
_ASSIGN_HINTS = ("pass", "pw", "secret", "token", "key", "auth", "cred", "cookie", "session")
_ASSIGN_RE = re.compile(
    # The keyword: password, passwd, passphrase, passcode, pass and pw (not inside a word: bypass, compass),
    # pwd, private_key, secret, session_id, token, api_key, access_key, authorization, auth, credential(s),
    # cookie. Written as a first letter and a look-behind on it so the pattern starts with a character
    # class, which lets ``re`` skip other characters fast.
    r"[acpst](?:(?<=p)(?:assw(?:or)?d|assphrase|asscode|(?<![a-z]p)ass|wd|(?<![a-z]p)w|rivate[_-]?key)"
    r"|(?<=s)(?:ecret|ession[_-]?id)|(?<=t)oken|(?<=a)(?:pi[_-]?key|ccess[_-]?key|uthorization|uth)"
    r"|(?<=c)(?:redentials?|ookie))"
    r"(?:[_-]?(?:key|id))?"  # secret_key, access_key_id, ...
    # The key's closing quote, plain or JSON-escaped; the separator, plain or URL-encoded (%3D, %3A).
    r"(?:\\?[\"'])?[ \t]*(?:[:=]|%3[ad])[ \t]*"
    # value: a JSON-escaped, double- or single-quoted string (to its closing quote or the end of the line),
    # or a bare word, optionally after an HTTP auth scheme. Each branch starts with a distinct character.
    r"(?:\\\"(?P<eq>(?:[^\\\n]|\\[^\"\n])+)|\"(?P<dq>(?:[^\"\\\n]|\\.)+)|'(?P<sq>[^'\n]+)"
    r"|(?P<bare>(?:(?:bearer|basic|digest|token)[ \t]+)?(?:[^\s\"',;&}\]\\]|\\(?![\"']))+))",
    re.ASCII | re.IGNORECASE,
)
# user:password@ in a URL; the user may be empty (redis://:pw@cache). Never inside one of our tags.
_URL_CRED_RE = re.compile(r"(?<=://)[^\s/:@<>]{0,256}:(?P<pw>[^\s/@<>]{1,256})@", _A)
# An HTTP credential anywhere in text ("Bearer abc123", "Basic dXNlcjpwYXNz"); the scheme is kept. The
# credential is a token68 (RFC 9110): "=" only at its end; a challenge's parameter (Bearer realm="x",
# resource_metadata=…) is told apart in code.
_AUTH_SCHEME_RE = re.compile(
    r"(?<![A-Za-z])(?P<scheme>[Bb]earer|[Bb]asic)[ \t]+(?P<cred>[A-Za-z0-9._~+/-]{6,}=*)(?![A-Za-z0-9._~+/=-])", _A
)
# Command lines in text: "--password pw" (the option's name is checked in code), "curl -u user:pw" and
# "aws configure set aws_secret_access_key VALUE".
_FLAG_VALUE_RE = re.compile(
    rf"(?<![\w-])--(?P<name>[A-Za-z][\w-]{{0,63}})[ \t]+(?P<value>[^\s\"'<\\-]{_VALUE_REST})", _A
)
_USER_FLAG_RE = re.compile(
    rf"(?<![\w-])(?:-u[ \t]*|--user(?:[ \t]+|=))(?P<user>[^\s:\"'\\]{{1,256}}):(?P<pw>[^\s\"'<\\]{_VALUE_REST})", _A
)
_SPACED_SECRET_RE = re.compile(  # as the AWS CLI spells it
    rf"(?<![\w-])aws_(?:secret_access_key|session_token)[ \t]+(?P<value>[^\s\"'<\\]{_VALUE_REST})", _A
)

# --- personal data ----------------------------------------------------------------------------------------
# Patterns start with a character (class) and check the character before it with a look-behind placed after
# it: ``re`` can then skip to candidate characters in C instead of trying a match at every position.


# Emails: any letters (müller@example.de, user@münchen.de), and "%40" for the @ of a URL-encoded one. The
# local part leaves out "/", "?", "=" and "&" (legal, never seen): in "?email=jane@x.org" it starts at "jane".
# ASCII text, the common case, gets a pattern without Unicode classes, which are slower to test; "%40" gets
# a pattern of its own because an alternative to "@" slows down every attempt to match.
def _email_re(at: str, word: str, letter: str, flags: int) -> re.Pattern[str]:
    local = rf"[{word}!#$%'*+^`{{|}}~.\-]{{1,64}}"
    domain = rf"(?:[{word}\-]{{1,63}}\.){{1,8}}(?:[{letter}]{{2,63}}|xn--[A-Za-z0-9-]{{1,59}})"
    return re.compile(local + at + domain, flags)


_EMAIL_ASCII_RE = _email_re("@", "A-Za-z0-9_", "A-Za-z", _A)
_EMAIL_RE = _email_re("@", r"\w", r"^\W\d_", 0)
_EMAIL_ENCODED_RE = _email_re("%40", r"\w", r"^\W\d_", 0)

# Cheap gates, each a superset of what its patterns need, so the patterns run only where they could match:
_DIGITS_GATE_RE = re.compile(r"\d(?:\D{0,3}\d){6}", _A)  # seven digits close together: card, SSN, phone
_IBAN_DIGITS_RE = re.compile(_DIGITS_GATE_RE.pattern, _A)  # the digits gate as a property of an IBAN
_IBAN_GATE_RE = re.compile(r"\d(?<=[A-Za-z]{2}\d)\d", _A)  # from a digit: letters are everywhere
_IPV4_GATE_RE = re.compile(r"\d\.\d", _A)
# Either case, groups separated by a space or a dash; the country's length and mod 97 are checked in code.
_IBAN_RE = re.compile(r"[A-Za-z](?<![A-Za-z0-9][A-Za-z])[A-Za-z]\d{2}(?:[ -]?[A-Za-z0-9]){11,30}(?![A-Za-z0-9])", _A)
# A whole run of digit groups (separated by up to three spaces or dashes: "4111  1111", "4111 - 1111");
# windows of whole groups are checked in code.
_CARD_RE = re.compile(r"\d(?<!\d\d)(?:[ -]{0,3}\d){11,}", _A)
_CARD_DOTTED_RE = re.compile(r"\d(?<![\d.]\d)\d{3}(?:\.\d{4}){3}(?!\d)(?!\.\d)", _A)  # 4111.1111.1111.1111
_CARD_GROUPS_RE = re.compile(r"\d+", _A)
_SSN_RE = re.compile(r"\d(?<![\d-]\d)\d\d(?<!000)(?<!666)(?<!9\d\d)([- ])\d\d(?<!00)\1\d{4}(?<!0000)(?![\d-])", _A)
_SSN_VALUE_RE = re.compile(r"\d{3}([- ]?)\d\d\1\d{4}", _A)  # under an ssn-like key: separators optional
_PHONE_RE = re.compile(
    r"\+(?<![\w+]\+)\d(?:[ .()-]{0,2}\d){6,14}(?!\d)"  # international: + and 7 to 15 digits
    # North American, with separators: (555) 123-4567, 555-123-4567, 555.123.4567
    r"|\((?<![\w.+-]\()\d{3}\) ?\d{3}[ .-]\d{4}(?![\w-])"
    r"|\d(?<![\w.+-]\d)\d\d[ .-]\d{3}[ .-]\d{4}(?![\w-])",
    _A,
)
# International with the 00 prefix: 00, a country code and a separator, then the number (0044 20 7946 0958).
_PHONE_00_RE = re.compile(r"00(?<![\w+]00)[1-9]\d{0,2}[ .-](?:[ .()-]{0,2}\d){6,13}(?!\d)", _A)
_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]\d|\d)"
_IPV4_RE = re.compile(rf"(?:{_OCTET}\.){{3}}{_OCTET}(?!\d)(?!\.\d)", _A)  # preceding [0-9.] rejected in code
_IPV6_RE = re.compile(
    r"(?<![\w:.])(?:[0-9A-Fa-f]{0,4}:){2,7}(?:\d{1,3}(?:\.\d{1,3}){3}|[0-9A-Fa-f]{1,4})?(?![\w:])",
    _A,
)
# IBAN length per country (ISO 13616 registry). Lower-case or dashed IBANs must match it exactly; an
# upper-case one from a country not listed here is still accepted on its checksum alone.
_IBAN_LENGTHS = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22, "BI": 27,
    "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DJ": 27, "DK": 18, "DO": 28,
    "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FK": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23,
    "GL": 18, "GR": 27, "GT": 28, "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26, "IT": 27,
    "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "LY": 25,
    "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MN": 20, "MR": 27, "MT": 31, "MU": 30, "NI": 28, "NL": 18,
    "NO": 15, "OM": 23, "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "RU": 33,
    "SA": 24, "SC": 31, "SD": 18, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "SO": 23, "ST": 25, "SV": 28,
    "TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20, "YE": 30,
}  # fmt: skip

# --- names of secrets: keys of structured values, options and environment variables ----------------------
_SECRET_KEY_SUFFIXES = (
    "password",
    "passwd",
    "passphrase",
    "passcode",
    "secret",
    "token",
    "apikey",
    "authorization",
    "auth",
    "accesskey",
    "privatekey",
    "privkey",
    "clientsecret",
    "secretkey",
    "cookie",
    "cookies",
    "credential",
    "credentials",
    "sessionid",
    "jwt",
    "bearer",
)
_SECRET_KEY_PREFIXES = ("password", "passwd", "secret", "apikey", "privatekey", "clientsecret")
_SECRET_KEY_EXACT = frozenset({"pass", "pw", "pwd"})
# Word parts (snake_case, kebab-case, camelCase, UPPER_CASE) that make a name secret wherever they stand:
# db_pass, MYSQL_PWD, newPass, session_token. Options and environment variables also count KEY and CRED
# (--key, SSH_KEY, AWS_CREDS), which as keys of structured values are too often plain data ("key": "id").
_WORD_PART_RE = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+", _A)
_SECRET_PARTS = frozenset(
    {"pass", "passwd", "password", "passcode", "passphrase", "pwd", "pw", "secret", "secrets", "token"}
)
_SETTING_PARTS = _SECRET_PARTS | {"key", "keys", "cred", "creds", "credential", "credentials"}
# ...unless the name ends in a word that describes the secret rather than holding it: token_count,
# secret_name, key_file, pass_count.
_DESCRIPTOR_PARTS = frozenset(
    {
        "count", "counts", "type", "types", "limit", "limits", "usage", "length", "len", "size", "max", "min",
        "name", "names", "url", "uri", "endpoint", "path", "file", "id", "ids", "arn", "version", "ttl",
        "expiry", "expires", "enabled", "required",
    }
)  # fmt: skip
_SETTING_NAME_RE = re.compile(r"-{0,2}[A-Za-z_][A-Za-z0-9_.-]{0,127}", _A)  # --api-key, DB_PASS, -Dx.password
_WORKING_DIRECTORIES = frozenset({"PWD", "OLDPWD"})  # the shell's variables: paths, not passwords
_PAIR_NAME_FIELDS = ("name", "key", "header")  # {"name": "Authorization", "value": "Bearer …"}
_PLAIN, _SECRET, _SSN = 0, 1, 2  # what the key of a structured value says about its value


def _has_secret_part(name: str, parts: frozenset[str]) -> bool:
    words = [word.lower() for word in _WORD_PART_RE.findall(name)]
    return bool(words) and words[-1] not in _DESCRIPTOR_PARTS and not parts.isdisjoint(words)


def _is_secret_key(key: str) -> bool:
    norm = key.lower().replace("-", "").replace("_", "").replace(".", "").replace(" ", "")
    return (
        norm.endswith(_SECRET_KEY_SUFFIXES)
        or norm.startswith(_SECRET_KEY_PREFIXES)
        or norm in _SECRET_KEY_EXACT
        or _has_secret_part(key, _SECRET_PARTS)
    )


def _is_secret_setting(name: str) -> bool:
    """A command-line option (``--api-key``) or environment variable (``DB_PASS``) whose value is a secret."""
    name = name.lstrip("-")
    if name[:3].lower() in ("no-", "no_") or name in _WORKING_DIRECTORIES:  # --no-auth is a switch
        return False
    return _is_secret_key(name) or _has_secret_part(name, _SETTING_PARTS)


def _key_kind(key: str) -> int:
    if _is_secret_key(key):
        return _SECRET
    words = [word.lower() for word in _WORD_PART_RE.findall(key)]
    if "ssn" in words or "socialsecurity" in "".join(words):
        return _SSN
    return _PLAIN


def _names_a_secret(pair: Mapping[Any, Any]) -> bool:
    """A name/value pair whose name is a secret's: ``{"name": "Authorization", "value": "Bearer …"}``."""
    for field in _PAIR_NAME_FIELDS:
        name = pair.get(field)
        if type(name) is str and len(name) <= 128 and _is_secret_key(name):
            return True
    return False


def _luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i & 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _is_card(digits: str) -> bool:
    """12-19 digits, a payment-network first digit (2-6: Mastercard, Amex/Diners/JCB, Visa, Discover/UnionPay) and Luhn."""
    return 12 <= len(digits) <= 19 and "2" <= digits[0] <= "6" and _luhn(digits)


def _iban_ok(compact: str) -> bool:
    if not 15 <= len(compact) <= 34 or not "02" <= compact[2:4] <= "98":
        return False
    rearranged = compact[4:] + compact[:4]
    return int("".join(str(int(c, 36)) for c in rearranged)) % 97 == 1


def _alnum_end(text: str, count: int) -> int:
    """The index just after the ``count``-th letter or digit of ``text`` if a group ends there, else 0."""
    seen = 0
    for i, ch in enumerate(text):
        if ch.isalnum():
            seen += 1
            if seen == count:
                end = i + 1
                return end if end == len(text) or text[end] in " -" else 0
    return 0


def _is_credential(scheme: str, cred: str) -> bool:
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


def _compact_json(value: Any) -> str:
    try:
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS, default=str).decode()
    except TypeError:  # orjson refuses integers beyond 64 bits even with default=; the stdlib writes them
        pass
    try:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
    except (TypeError, ValueError, RecursionError):
        return "<unserialisable>"


class JsonText(str):
    """Compact JSON text of ``value`` (for a preview), which the redactor redacts as ``value``.

    As a string it is the unredacted text, so code that does not know this type sees an ordinary string.
    ``Redactor.redact_value`` redacts ``value`` and serialises the result again: keys say which values are
    secrets (``{"pw": "x"}``), the text alone does not.
    """

    value: Any

    def __new__(cls, text: str, value: Any) -> JsonText:
        self = super().__new__(cls, text)
        self.value = value
        return self

    def __reduce__(self) -> tuple[type[JsonText], tuple[str, Any]]:  # copy and deepcopy keep both parts
        return JsonText, (str(self), self.value)


class _Pattern(Protocol):
    """What we use of a compiled pattern; both ``re.Pattern[str]`` and RE2's ``_Regexp`` provide it."""

    def sub(self, repl: Callable[[Any], str], string: str) -> str: ...


def _has_nested_quantifier(pattern: str) -> bool:
    """True if a group that repeats (``*``, ``+``, ``{n,}``, ``{n,m}`` with m > 1) contains a quantifier or ``|``.

    Conservative and purely lexical: escapes and character classes are skipped, ``(?`` group prefixes are not
    quantifiers. Used only when RE2 is unavailable.
    """
    stack: list[bool] = []  # per open group: does it contain a quantifier or an alternation?
    i, n = 0, len(pattern)
    last_group_risky = False  # the atom just closed was a risky group
    while i < n:
        c = pattern[i]
        if c == "\\":
            i += 2
            last_group_risky = False
            continue
        if c == "[":
            i += 1
            if i < n and pattern[i] == "^":
                i += 1
            if i < n and pattern[i] == "]":
                i += 1
            while i < n and pattern[i] != "]":
                i += 2 if pattern[i] == "\\" else 1
            i += 1
            last_group_risky = False
            continue
        if c == "(":
            stack.append(False)
            i += 1
            if i < n and pattern[i] == "?":  # (?:, (?P<name>, (?=, (?i) ... : not a quantifier
                i += 1
            last_group_risky = False
            continue
        if c == ")":
            inner = stack.pop() if stack else False
            if stack and inner:
                stack[-1] = True
            last_group_risky = inner
            i += 1
            continue
        if c in "*+?{":
            repeats = c in "*+"
            if c == "{":
                m = re.match(r"\{(\d*)(,?)(\d*)\}", pattern[i:])
                if m is None:  # a literal brace
                    i += 1
                    last_group_risky = False
                    continue
                repeats = (bool(m.group(2)) and (not m.group(3) or int(m.group(3)) > 1)) or int(m.group(1) or 0) > 1
                i += len(m.group(0))
            else:
                i += 1
            if repeats and last_group_risky:
                return True
            if stack:
                stack[-1] = True
            if i < n and pattern[i] in "?+":  # lazy / possessive modifier
                i += 1
            last_group_risky = False
            continue
        if c == "|" and stack:
            stack[-1] = True
        last_group_risky = False
        i += 1
    return False


def _compile_custom(kind: str, pattern: str) -> _Pattern:
    if not isinstance(kind, str) or _KIND_RE.fullmatch(kind) is None:
        raise ConfigError(f"redaction pattern kind {kind!r}: use lower-case letters, digits and _ (at most 32)")
    if not pattern:
        raise ConfigError(f"redaction pattern {kind!r} is empty")
    try:
        re2: Any = importlib.import_module("re2")
    except ImportError:
        re2 = None
    if re2 is not None:
        options = re2.Options()
        options.log_errors = False
        try:
            compiled: _Pattern = re2.compile(pattern, options)
        except Exception as exc:  # re2 raises its own error type
            raise ConfigError(f"redaction pattern {kind!r} is not valid RE2 syntax: {exc}") from None
        return compiled
    if _has_nested_quantifier(pattern):
        raise ConfigError(
            f"redaction pattern {kind!r} repeats a group that itself repeats or alternates; "
            "this can backtrack catastrophically (install google-re2 to use it)"
        )
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise ConfigError(f"redaction pattern {kind!r} is not a valid regular expression: {exc}") from None


class Redactor:
    """Replaces personal data and credentials in strings and JSON-like values with ``<kind:hash>`` tags.

    ``key``: the HMAC key for the tags (keep it out of the audit log). ``custom``: ``(kind, regex)`` pairs
    from configuration, compiled once here; a bad pattern raises ``ConfigError``. ``hash_chars``: hex digits
    of HMAC-SHA256 kept in a tag (4 to 64).
    """

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
        self._custom: list[tuple[_Pattern, Callable[[Any], str]]] = [
            (_compile_custom(kind, pattern), self._tagger(kind)) for kind, pattern in custom
        ]
        self._key_cache: dict[str, int] = {}  # keys that need no redaction -> _PLAIN, _SECRET or _SSN
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

    # --- tags ---------------------------------------------------------------------------------------------
    def tag(self, kind: str, value: str) -> str:
        """The tag for ``value``: ``<kind:first hash_chars hex digits of HMAC-SHA256(key, value)>``."""
        inner = self._inner.copy()
        inner.update(value.encode("utf-8", "surrogatepass"))
        outer = self._outer.copy()
        outer.update(inner.digest())
        return f"<{kind}:{outer.hexdigest()[: self._hash_chars]}>"

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
            t = _TAG_RE.match(s, lt)
            if t is not None and t.end() >= m.end():
                return m.group(0)
        for name in ("eq", "dq", "sq", "bare"):
            if m.start(name) >= 0:
                break
        if _TAG_RE.fullmatch(m.group(name)):  # already redacted by an earlier detector
            return m.group(0)
        return self._tag_group(m, name)

    def _url_cred_repl(self, m: re.Match[str]) -> str:
        return self._tag_group(m, "pw")

    def _auth_scheme_repl(self, m: re.Match[str]) -> str:
        return self._tag_group(m, "cred") if _is_credential(m.group("scheme"), m.group("cred")) else m.group(0)

    def _flag_value_repl(self, m: re.Match[str]) -> str:
        return self._tag_group(m, "value") if _is_secret_setting(m.group("name")) else m.group(0)

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
        if _IBAN_DIGITS_RE.search(cand) is None:  # what the digits gate lets through, with or without the gate
            return cand
        length = _IBAN_LENGTHS.get(cand[:2].upper())
        if length is not None:
            end = _alnum_end(cand, length)
            compact = cand[:end].replace(" ", "").replace("-", "").upper()
            if end and _iban_ok(compact):
                return self.tag("iban", compact) + cand[end:]
            return cand
        if "-" in cand or not cand.isupper():
            return cand
        # A country missing from the table: upper case only, checksum alone. The match may run on into
        # following upper-case words; try ends at group boundaries, longest first.
        ends = [len(cand)] + [i for i in range(len(cand) - 1, 3, -1) if cand[i] == " "]
        for end in ends:
            compact = cand[:end].replace(" ", "")
            if _iban_ok(compact):
                return self.tag("iban", compact) + cand[end:]
        return cand

    def _card_repl(self, m: re.Match[str]) -> str:
        run = m.group(0)
        digits = run.replace(" ", "").replace("-", "").replace(".", "")
        if _is_card(digits):
            return self.tag("card", digits)
        # A run of digit groups may hold a card next to other numbers ("ref 12 4111 1111 1111 1111"): look for
        # card-length windows of whole groups, left to right, longest first. At most 19 digits per window
        # keeps this linear in the number of groups.
        groups = [g.group(0) for g in _CARD_GROUPS_RE.finditer(run)]
        starts = [g.start() for g in _CARD_GROUPS_RE.finditer(run)]
        out: list[str] = []
        pos = i = 0
        while i < len(groups):
            best = -1
            best_digits = ""
            window = ""
            for j in range(i, len(groups)):
                window += groups[j]
                if len(window) > 19:
                    break
                if _is_card(window):
                    best, best_digits = j, window
            if best < 0:
                i += 1
                continue
            start, end = starts[i], starts[best] + len(groups[best])
            out.append(run[pos:start])
            out.append(self.tag("card", best_digits))
            pos, i = end, best + 1
        if not out:
            return run
        out.append(run[pos:])
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
    def redact_text(self, s: str) -> str:
        """``s`` with every detected value replaced by its tag (``s`` itself when nothing was found)."""
        # Decide on the key = value pass before any tag is inserted: tags such as <aws_key:…> contain keywords.
        assign = False
        percent = "%" in s  # URL-encoded: %3D and %3A as separators, %40 as the @ of an email
        if "=" in s or ":" in s or (percent and "%3" in s):
            low = s.lower()
            for hint in _ASSIGN_HINTS:
                if hint in low:
                    assign = True
                    break
        for pattern, repl in self._custom:
            s = pattern.sub(repl, s)
        n = len(s)
        if n >= 15:  # the shortest prefixed secret (Slack) is 15 characters
            if "-----BEGIN" in s:
                s = _PEM_RE.sub(self._pem, s)
            if "eyJ" in s:
                s = _JWT_RE.sub(self._jwt, s)
            if "AKIA" in s or "ASIA" in s:
                s = _AWS_RE.sub(self._aws, s)
            if "gh" in s:
                s = _GITHUB_RE.sub(self._github, s)
            if "xox" in s or "xapp-" in s:
                s = _SLACK_RE.sub(self._slack, s)
            if "k_live_" in s or "k_test_" in s or "whsec_" in s:
                s = _STRIPE_RE.sub(self._stripe, s)
            if "AIza" in s:
                s = _GOOGLE_RE.sub(self._google, s)
            if "sk-" in s:
                s = _SK_RE.sub(self._sk_repl, s)
        colon = ":" in s
        if assign:
            s = _ASSIGN_RE.sub(self._assign_repl, s)
        if n >= 9:  # "Basic " and six characters, "-u a:b …", "--pass x"
            if "earer" in s or "asic" in s:
                s = _AUTH_SCHEME_RE.sub(self._auth_scheme_repl, s)
            if "-" in s:
                if "--" in s:
                    s = _FLAG_VALUE_RE.sub(self._flag_value_repl, s)
                if "-u" in s:
                    s = _USER_FLAG_RE.sub(self._user_flag_repl, s)
            if "ws_s" in s:
                s = _SPACED_SECRET_RE.sub(self._spaced_secret_repl, s)
        if "@" in s:
            if "://" in s:
                s = _URL_CRED_RE.sub(self._url_cred_repl, s)
            s = (_EMAIL_ASCII_RE if s.isascii() else _EMAIL_RE).sub(self._email_repl, s)
        if percent and "%40" in s:
            s = _EMAIL_ENCODED_RE.sub(self._email_repl, s)
        if n >= 7:
            if _DIGITS_GATE_RE.search(s) is not None:
                if _IBAN_GATE_RE.search(s) is not None:  # every IBAN has seven digits close together
                    s = _IBAN_RE.sub(self._iban_repl, s)
                s = _CARD_RE.sub(self._card_repl, s)
                if s.count(".") >= 3:
                    s = _CARD_DOTTED_RE.sub(self._card_repl, s)
                if "-" in s or " " in s:
                    s = _SSN_RE.sub(self._ssn, s)
                s = _PHONE_RE.sub(self._phone, s)
                if "00" in s:
                    s = _PHONE_00_RE.sub(self._phone, s)
            if "." in s and _IPV4_GATE_RE.search(s) is not None:
                s = _IPV4_RE.sub(self._ipv4, s)
        if colon and s.count(":") >= 2:
            s = _IPV6_RE.sub(self._ipv6_repl, s)
        return s

    def redact_command(self, argv: Sequence[str]) -> list[str]:
        """A command line, redacted: each item as text, and also the value of a secret-looking long option
        (``--api-key X``, ``--token=X``) and of a secret-looking ``NAME=value`` (``DB_PASS=…``, as given to
        ``env``), whatever that value looks like."""
        out: list[str] = []
        value_next = False
        for item in argv:
            text = item if isinstance(item, str) else str(item)
            if value_next and not text.startswith("--"):
                out.append(self.tag("secret", text))
                value_next = False
                continue
            value_next = False
            name, sep, value = text.partition("=")
            if sep and value and _SETTING_NAME_RE.fullmatch(name):  # the name says what the value is
                secret = _is_secret_setting(name)
                out.append(f"{name}={self.tag('secret', value) if secret else self.redact_text(value)}")
                continue
            if not sep and text.startswith("--") and _is_secret_setting(text):
                value_next = True
            out.append(self.redact_text(text))
        return out

    # --- values -------------------------------------------------------------------------------------------
    def redact_value(self, v: Any) -> Any:
        """A redacted copy of a JSON-like value; the input is never modified. A ``JsonText`` becomes the
        JSON text of its redacted value."""
        return self._value(v, 0)

    def _secret(self, v: Any) -> Any:
        if v is None or type(v) is bool:  # a flag is not a secret
            return v
        if isinstance(v, str):
            return self.tag("secret", v)
        try:
            text = orjson.dumps(v, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS, default=str).decode()
        except (TypeError, orjson.JSONEncodeError):
            try:
                text = repr(v)
            except RecursionError:
                text = f"<{type(v).__name__}>"
        return self.tag("secret", text)

    def _ssn_tag(self, v: Any) -> str | None:
        """The ``ssn`` tag of a value under an ssn-like key, if it has the shape of one (separators optional)."""
        if type(v) is int:
            return self.tag("ssn", str(v))
        if type(v) is str and _SSN_VALUE_RE.fullmatch(v.strip()):
            return self.tag("ssn", v.strip())
        return None

    def _value(self, v: Any, depth: int) -> Any:
        t = type(v)
        if t is str:
            return self.redact_text(v)
        if t is int or (t is not bool and isinstance(v, int)):
            return self._int(v)
        if t is bool or t is float or v is None:
            return v
        if depth >= MAX_DEPTH:
            return self._too_deep(v)
        if t is dict or isinstance(v, Mapping):
            return self._mapping(v, depth + 1)
        if t is list or isinstance(v, list | tuple):
            return [self._value(item, depth + 1) for item in v]
        if isinstance(v, JsonText):
            return _compact_json(self._value(v.value, depth))
        if isinstance(v, str):
            return self.redact_text(v)
        if isinstance(v, bool | float):
            return v
        return self.redact_text(str(v))

    def _int(self, v: int) -> Any:
        if 100_000_000_000 <= abs(v) < 10_000_000_000_000_000_000:
            digits = str(abs(v))
            if _is_card(digits):
                return self.tag("card", digits)
        return v

    def _key(self, k: Any, out: Mapping[Any, Any], v: Mapping[Any, Any]) -> tuple[Any, int]:
        """A key as written (redacted if it needs to be, never colliding) and what it says of its value."""
        if type(k) is not str:
            return k, _PLAIN
        cache = self._key_cache
        kind = _key_kind(k)
        new_key = self.redact_text(k)
        if new_key == k:
            if len(cache) >= _KEY_CACHE_MAX:
                cache.clear()
            cache[k] = kind
            return k, kind
        while new_key in out or new_key in v:  # a tag collision must not drop a value
            new_key += "'"
        return new_key, kind

    def _mapping(self, v: Mapping[Any, Any], depth: int) -> dict[Any, Any]:
        out: dict[Any, Any] = {}
        cache = self._key_cache
        redact_text = self.redact_text
        pair_secret = "value" in v and _names_a_secret(v)
        for k, item in v.items():
            kind = cache.get(k) if type(k) is str else _PLAIN
            if kind is None:
                k, kind = self._key(k, out, v)  # noqa: PLW2901
            if kind:
                tagged = self._secret(item) if kind == _SECRET else self._ssn_tag(item)
                if tagged is not None or item is None:
                    out[k] = tagged
                    continue
            elif pair_secret and k == "value":
                out[k] = self._secret(item)
                continue
            t = type(item)
            if t is str:
                out[k] = redact_text(item)
            elif t is bool or t is float or item is None:
                out[k] = item
            else:
                out[k] = self._value(item, depth)
        return out

    def _too_deep(self, v: Any) -> str:
        """A value below ``MAX_DEPTH``: redacted as a value without recursion, returned as JSON text."""
        root: list[Any] = [None]
        stack: list[tuple[Any, Any, Any, int]] = [(v, root, 0, 0)]
        while stack:
            value, parent, slot, depth = stack.pop()
            is_mapping = isinstance(value, Mapping)
            if is_mapping or isinstance(value, list | tuple):
                if depth >= _DEEP_LIMIT:  # also ends a cycle
                    return "<too_deep>"
                if is_mapping:
                    parent[slot] = self._deep_mapping(value, stack, depth + 1)
                else:
                    items: list[Any] = [None] * len(value)
                    parent[slot] = items
                    stack.extend((item, items, i, depth + 1) for i, item in enumerate(value))
            elif isinstance(value, JsonText):
                parent[slot] = self.redact_text(str(value))
            else:
                parent[slot] = self._value(value, 0)  # a scalar: no recursion
        return _compact_json(root[0])

    def _deep_mapping(self, v: Mapping[Any, Any], stack: list[tuple[Any, Any, Any, int]], depth: int) -> dict[Any, Any]:
        """``_mapping`` for ``_too_deep``: the values that need a look of their own go on ``stack``."""
        out: dict[Any, Any] = {}
        pair_secret = "value" in v and _names_a_secret(v)
        for k, item in v.items():
            kind = self._key_cache.get(k) if type(k) is str else _PLAIN
            if kind is None:
                k, kind = self._key(k, out, v)  # noqa: PLW2901
            tagged: Any = None
            if kind == _SECRET or (pair_secret and k == "value"):
                tagged = self._secret(item)
            elif kind == _SSN:
                tagged = self._ssn_tag(item)
            out[k] = tagged
            if tagged is None and item is not None:
                stack.append((item, out, k, depth))
        return out
