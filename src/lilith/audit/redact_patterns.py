"""The redactor's built-in detectors: compiled patterns, the cheap gates in front of them, the IBAN lengths.

What each match must still pass (Luhn, IBAN mod 97, a credential's shape) is in ``redact_checks``; which
detector runs on what text is decided in ``text_redactor``.

Safety: these patterns use the stdlib ``re`` module. They are ours and written to run in linear time: no nested
unbounded quantifiers, adjacent pieces use disjoint character classes, repetitions are bounded where a failed
match could rescan, and token patterns only start at a token boundary (a look-behind), so a long run of
look-alike characters is scanned once, not once per position.
"""

from __future__ import annotations

import re

_A = re.ASCII
TAG_RE = re.compile(r"<[a-z][a-z0-9_]{0,31}:[0-9a-f]{1,64}>", re.ASCII)  # one of our own tags
# The rest of a value after its first character: up to a space or quote, and up to a backslash only when
# it escapes a quote (the end of a value inside JSON-escaped text, ``\"``).
_VALUE_REST = r"(?:[^\s\"'\\]|\\(?![\"']))*"

# --- secrets with a recognisable prefix -------------------------------------------------------------------
PEM_RE = re.compile(
    # Body: any char except the start of "-----END"; with no END line the rest of the string is redacted
    # (a truncated key is still a secret). Alternatives are disjoint, so the loop never backtracks.
    # "PRIVATE KEY BLOCK" is PGP's spelling.
    r"-----BEGIN[A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----(?:[^-]|-(?!----END))*"
    r"(?:-----END[A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----)?",
    _A,
)
JWT_RE = re.compile(r"(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]*", _A)
AWS_RE = re.compile(r"(?<![A-Za-z0-9])(?:AKIA|ASIA)[A-Z0-9]{16}(?![A-Za-z0-9])", _A)
GITHUB_RE = re.compile(r"(?<![A-Za-z0-9])(?:gh[pousr]_[A-Za-z0-9]{20,255}|github_pat_[A-Za-z0-9_]{20,255})", _A)
# Slack: bot, user, app-level (xapp-) and refresh (xoxe-, also as the prefix "xoxe." of a rotated token).
SLACK_RE = re.compile(r"(?<![A-Za-z0-9])(?:(?:xoxe\.)?xox[abeprs]|xapp)-[A-Za-z0-9-]{10,255}", _A)
STRIPE_RE = re.compile(r"(?<![A-Za-z0-9])(?:[rs]k_(?:live|test)_|whsec_)[A-Za-z0-9]{10,255}", _A)
GOOGLE_RE = re.compile(r"(?<![A-Za-z0-9_-])AIza[A-Za-z0-9_-]{35}(?![A-Za-z0-9_-])", _A)
# OpenAI (sk-, sk-proj-, sk-svcacct-) and Anthropic (sk-ant-) keys; the body must hold a digit (checked in
# code), which CSS class names and slugs such as "sk-fading-circle-animation" do not.
SK_RE = re.compile(r"(?<![A-Za-z0-9_-])sk-[A-Za-z0-9_-]{20,512}", _A)

# --- key = value assignments in free text -----------------------------------------------------------------
ASSIGN_HINTS = ("pass", "pw", "secret", "token", "key", "auth", "cred", "cookie", "session")
ASSIGN_RE = re.compile(
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
URL_CRED_RE = re.compile(r"(?<=://)[^\s/:@<>]{0,256}:(?P<pw>[^\s/@<>]{1,256})@", _A)
# An HTTP credential anywhere in text ("Bearer abc123", "Basic dXNlcjpwYXNz"); the scheme is kept. The
# credential is a token68 (RFC 9110): "=" only at its end; a challenge's parameter (Bearer realm="x",
# resource_metadata=…) is told apart in code.
AUTH_SCHEME_RE = re.compile(
    r"(?<![A-Za-z])(?P<scheme>[Bb]earer|[Bb]asic)[ \t]+(?P<cred>[A-Za-z0-9._~+/-]{6,}=*)(?![A-Za-z0-9._~+/=-])", _A
)
# Command lines in text: "--password pw" (the option's name is checked in code), "curl -u user:pw" and
# "aws configure set aws_secret_access_key VALUE".
FLAG_VALUE_RE = re.compile(
    rf"(?<![\w-])--(?P<name>[A-Za-z][\w-]{{0,63}})[ \t]+(?P<value>[^\s\"'<\\-]{_VALUE_REST})", _A
)
USER_FLAG_RE = re.compile(
    rf"(?<![\w-])(?:-u[ \t]*|--user(?:[ \t]+|=))(?P<user>[^\s:\"'\\]{{1,256}}):(?P<pw>[^\s\"'<\\]{_VALUE_REST})", _A
)
SPACED_SECRET_RE = re.compile(  # as the AWS CLI spells it
    rf"(?<![\w-])aws_(?:secret_access_key|session_token)[ \t]+(?P<value>[^\s\"'<\\]{_VALUE_REST})", _A
)

# --- JSON escapes -----------------------------------------------------------------------------------------
# JSON text carried in a string writes "@" as \u0040 and a space as \u0020; JSON inside a JSON string doubles
# the backslashes (\\u0040) and escapes its quotes again (\\\"). A run of backslashes before "u" and four hex
# digits, or two or more before a quote; what they decode to is decided in code.
ESCAPE_RE = re.compile(r'\\+u([0-9A-Fa-f]{4})|\\{2,}(?=")', _A)

# --- personal data ----------------------------------------------------------------------------------------
# Patterns start with a character (class) and check the character before it with a look-behind placed after
# it: ``re`` can then skip to candidate characters in C instead of trying a match at every position.


# Emails: any letters (müller@example.de, user@münchen.de), and "%40" for the @ of a URL-encoded one. The
# local part leaves out "/", "?", "=" and "&" (legal, never seen): in "?email=jane@x.org" it starts at "jane".
# ASCII text, the common case, gets a pattern without Unicode classes, which are slower to test; "%40" gets
# a pattern of its own because an alternative to "@" slows down every attempt to match. The first character
# is not one that quotes or brackets an address in text ('a@b.org', `a@b.org`, {a@b.org}, |a@b.org), nor a
# dot: the tag then replaces the address and leaves its quotes.
def _email_re(at: str, word: str, letter: str, flags: int) -> re.Pattern[str]:
    local = rf"[{word}!#$%*+^~\-][{word}!#$%'*+^`{{|}}~.\-]{{0,63}}"
    domain = rf"(?:[{word}\-]{{1,63}}\.){{1,8}}(?:[{letter}]{{2,63}}|xn--[A-Za-z0-9-]{{1,59}})"
    return re.compile(local + at + domain, flags)


EMAIL_ASCII_RE = _email_re("@", "A-Za-z0-9_", "A-Za-z", _A)
EMAIL_RE = _email_re("@", r"\w", r"^\W\d_", 0)
EMAIL_ENCODED_RE = _email_re("%40", r"\w", r"^\W\d_", 0)

# Cheap gates, each a superset of what its patterns need, so the patterns run only where they could match:
DIGITS_GATE_RE = re.compile(r"\d(?:\D{0,3}\d){6}", _A)  # seven digits close together: card, SSN, phone
IBAN_DIGITS_RE = re.compile(DIGITS_GATE_RE.pattern, _A)  # the digits gate as a property of an IBAN
IBAN_GATE_RE = re.compile(r"\d(?<=[A-Za-z]{2}\d)\d", _A)  # from a digit: letters are everywhere
IPV4_GATE_RE = re.compile(r"\d\.\d", _A)
# Either case, groups separated by a space or a dash; the country's length and mod 97 are checked in code.
IBAN_RE = re.compile(r"[A-Za-z](?<![A-Za-z0-9][A-Za-z])[A-Za-z]\d{2}(?:[ -]?[A-Za-z0-9]){11,30}(?![A-Za-z0-9])", _A)
# A whole run of digit groups (separated by up to three spaces or dashes: "4111  1111", "4111 - 1111");
# windows of whole groups are checked in code.
CARD_RE = re.compile(r"\d(?<!\d\d)(?:[ -]{0,3}\d){11,}", _A)
CARD_DOTTED_RE = re.compile(r"\d(?<![\d.]\d)\d{3}(?:\.\d{4}){3}(?!\d)(?!\.\d)", _A)  # 4111.1111.1111.1111
CARD_SEPARATORS_RE = re.compile(r"([^0-9]+)", _A)  # between the groups of a run
SSN_RE = re.compile(r"\d(?<![\d-]\d)\d\d(?<!000)(?<!666)(?<!9\d\d)([- ])\d\d(?<!00)\1\d{4}(?<!0000)(?![\d-])", _A)
SSN_VALUE_RE = re.compile(r"\d{3}([- ]?)\d\d\1\d{4}", _A)  # under an ssn-like key: separators optional
PHONE_RE = re.compile(
    r"\+(?<![\w+]\+)\d(?:[ .()-]{0,2}\d){6,14}(?!\d)"  # international: + and 7 to 15 digits
    # North American, with separators: (555) 123-4567, 555-123-4567, 555.123.4567
    r"|\((?<![\w.+-]\()\d{3}\) ?\d{3}[ .-]\d{4}(?![\w-])"
    r"|\d(?<![\w.+-]\d)\d\d[ .-]\d{3}[ .-]\d{4}(?![\w-])",
    _A,
)
# International with the 00 prefix: 00, a country code and a separator, then the number (0044 20 7946 0958).
PHONE_00_RE = re.compile(r"00(?<![\w+]00)[1-9]\d{0,2}[ .-](?:[ .()-]{0,2}\d){6,13}(?!\d)", _A)
_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]\d|\d)"
IPV4_RE = re.compile(rf"(?:{_OCTET}\.){{3}}{_OCTET}(?!\d)(?!\.\d)", _A)  # preceding [0-9.] rejected in code
IPV6_RE = re.compile(
    r"(?<![\w:.])(?:[0-9A-Fa-f]{0,4}:){2,7}(?:\d{1,3}(?:\.\d{1,3}){3}|[0-9A-Fa-f]{1,4})?(?![\w:])",
    _A,
)
# IBAN length per country (ISO 13616 registry). Lower-case or dashed IBANs must match it exactly; an
# upper-case one from a country not listed here is still accepted on its checksum alone.
IBAN_LENGTHS = {
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
