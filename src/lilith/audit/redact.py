"""Redaction of audit records before they reach the disk.

Every value that looks like personal data or a credential is replaced by ``<kind:hash>``, where ``hash`` is
the first ``hash_chars`` hex digits of HMAC-SHA256(key, value). The same value always gets the same tag
under one key, so records can be correlated without revealing it; a different key gives unrelated tags.
The hash covers the value only, not the kind, so a token seen once as ``token=…`` (``<secret:…>``) and once
bare (``<github_token:…>``) still correlates.

Speed: the audit path must sustain tens of thousands of records a second, so the common case (short strings
with nothing interesting in them) must cost well under a microsecond each. Every detector therefore sits
behind a cheap pre-filter (a substring test, ``'@' in s``, a length bound or one shared "enough digits"
scan) and the expensive checks (Luhn, IBAN mod 97, IPv6 parsing, HMAC) run only on candidates.

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

import hashlib
import importlib
import ipaddress
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

import orjson

from lilith.errors import ConfigError

__all__ = ["MAX_DEPTH", "Redactor"]

MAX_DEPTH = 64  # deeper values are serialised to JSON text and redacted as text
_KEY_CACHE_MAX = 4096
_KIND_RE = re.compile(r"[a-z][a-z0-9_]{0,31}", re.ASCII)
_TAG_RE = re.compile(r"<[a-z][a-z0-9_]{0,31}:[0-9a-f]{1,64}>", re.ASCII)
_A = re.ASCII

# --- secrets with a recognisable prefix -------------------------------------------------------------------
_PEM_RE = re.compile(
    # Body: any char except the start of "-----END"; with no END line the rest of the string is redacted
    # (a truncated key is still a secret). Alternatives are disjoint, so the loop never backtracks.
    r"-----BEGIN[A-Z0-9 ]{0,40}PRIVATE KEY-----(?:[^-]|-(?!----END))*(?:-----END[A-Z0-9 ]{0,40}PRIVATE KEY-----)?",
    _A,
)
_JWT_RE = re.compile(r"(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]*", _A)
_AWS_RE = re.compile(r"(?<![A-Za-z0-9])(?:AKIA|ASIA)[A-Z0-9]{16}(?![A-Za-z0-9])", _A)
_GITHUB_RE = re.compile(r"(?<![A-Za-z0-9])(?:gh[pousr]_[A-Za-z0-9]{20,255}|github_pat_[A-Za-z0-9_]{20,255})", _A)
_SLACK_RE = re.compile(r"(?<![A-Za-z0-9])xox[abprs]-[A-Za-z0-9-]{10,255}", _A)
_STRIPE_RE = re.compile(r"(?<![A-Za-z0-9])[rs]k_(?:live|test)_[A-Za-z0-9]{10,255}", _A)
_GOOGLE_RE = re.compile(r"(?<![A-Za-z0-9_-])AIza[A-Za-z0-9_-]{35}(?![A-Za-z0-9_-])", _A)

# --- key = value assignments in free text -----------------------------------------------------------------
_ASSIGN_HINTS = ("pass", "pwd", "secret", "token", "key", "auth", "cred", "cookie", "session")
_ASSIGN_RE = re.compile(
    # The keyword: password, passwd, passphrase, pwd, private_key, secret, session_id, token, api_key,
    # access_key, authorization, auth, credential(s), cookie. Written as a first letter and a look-behind on
    # it so the pattern starts with a character class, which lets ``re`` skip other characters fast.
    r"[acpst](?:(?<=p)(?:assw(?:or)?d|assphrase|wd|rivate[_-]?key)|(?<=s)(?:ecret|ession[_-]?id)|(?<=t)oken"
    r"|(?<=a)(?:pi[_-]?key|ccess[_-]?key|uthorization|uth)|(?<=c)(?:redentials?|ookie))"
    r"(?:[_-]?(?:key|id))?"  # secret_key, access_key_id, ...
    r"[\"']?[ \t]*[:=][ \t]*"
    # value: a double- or single-quoted string (to its closing quote or the end of the line), or a bare word,
    # optionally after an HTTP auth scheme. Each branch starts with a distinct character class.
    r"(?:\"(?P<dq>(?:[^\"\\\n]|\\.)+)|'(?P<sq>[^'\n]+)|(?P<bare>(?:(?:bearer|basic|digest|token)[ \t]+)?[^\s\"',;&}\]]+))",
    re.ASCII | re.IGNORECASE,
)
_URL_CRED_RE = re.compile(r"(?<=://)[^\s/:@]{1,256}:(?P<pw>[^\s/@]{1,256})@", _A)

# --- personal data ----------------------------------------------------------------------------------------
# Patterns start with a character (class) and check the character before it with a look-behind placed after
# it: ``re`` can then skip to candidate characters in C instead of trying a match at every position.
_EMAIL_RE = re.compile(
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]{1,64}@(?:[A-Za-z0-9-]{1,63}\.){1,8}(?:[A-Za-z]{2,63}|xn--[A-Za-z0-9-]{1,59})",
    _A,
)
# Cheap gates, each a superset of what its patterns need, so the patterns run only where they could match:
_DIGITS_GATE_RE = re.compile(r"\d(?:\D{0,3}\d){6}", _A)  # seven digits close together: card, SSN, phone
_IBAN_GATE_RE = re.compile(r"[A-Z]{2}\d\d", _A)
_IPV4_GATE_RE = re.compile(r"\d\.\d", _A)
_IBAN_RE = re.compile(r"[A-Z](?<![A-Za-z0-9][A-Z])[A-Z]\d{2}(?: ?[A-Z0-9]){11,30}(?![A-Za-z0-9])", _A)
_CARD_RE = re.compile(r"\d(?<!\d\d)(?:[ -]?\d){11,}", _A)  # a whole run of digit groups; windows checked in code
_CARD_GROUPS_RE = re.compile(r"\d+", _A)
_SSN_RE = re.compile(r"\d(?<![\d-]\d)\d\d(?<!000)(?<!666)(?<!9\d\d)([- ])\d\d(?<!00)\1\d{4}(?<!0000)(?![\d-])", _A)
_PHONE_RE = re.compile(
    r"\+(?<![\w+]\+)\d(?:[ .()-]{0,2}\d){6,14}(?!\d)"  # international: + and 7 to 15 digits
    # North American, with separators: (555) 123-4567, 555-123-4567, 555.123.4567
    r"|\((?<![\w.+-]\()\d{3}\) ?\d{3}[ .-]\d{4}(?![\w-])"
    r"|\d(?<![\w.+-]\d)\d\d[ .-]\d{3}[ .-]\d{4}(?![\w-])",
    _A,
)
_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]\d|\d)"
_IPV4_RE = re.compile(rf"(?:{_OCTET}\.){{3}}{_OCTET}(?!\d)(?!\.\d)", _A)  # preceding [0-9.] rejected in code
_IPV6_RE = re.compile(
    r"(?<![\w:.])(?:[0-9A-Fa-f]{0,4}:){2,7}(?:\d{1,3}(?:\.\d{1,3}){3}|[0-9A-Fa-f]{1,4})?(?![\w:])",
    _A,
)

# --- structured values ------------------------------------------------------------------------------------
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


def _is_secret_key(key: str) -> bool:
    norm = key.lower().replace("-", "").replace("_", "").replace(".", "").replace(" ", "")
    return norm.endswith(_SECRET_KEY_SUFFIXES) or norm.startswith(_SECRET_KEY_PREFIXES) or norm in _SECRET_KEY_EXACT


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
        self._key_cache: dict[str, bool] = {}  # keys that need no redaction -> is it a secret-looking key
        tag = self._tagger
        self._pem = tag("private_key")
        self._jwt = tag("jwt")
        self._aws = tag("aws_key")
        self._github = tag("github_token")
        self._slack = tag("slack_token")
        self._stripe = tag("stripe_key")
        self._google = tag("google_api_key")
        self._email = tag("email")
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

    def _assign_repl(self, m: re.Match[str]) -> str:
        s = m.string
        lt = s.rfind("<", max(0, m.start() - 33), m.start() + 1)
        if lt >= 0:  # the "key:" of one of our own tags, such as <github_token:3f2a9c>
            t = _TAG_RE.match(s, lt)
            if t is not None and t.end() >= m.end():
                return m.group(0)
        for name in ("dq", "sq", "bare"):
            start, end = m.span(name)
            if start >= 0:
                break
        value = s[start:end]
        if _TAG_RE.fullmatch(value):  # already redacted by an earlier detector
            return m.group(0)
        base = m.start()
        whole = m.group(0)
        return whole[: start - base] + self.tag("secret", value) + whole[end - base :]

    def _url_cred_repl(self, m: re.Match[str]) -> str:
        start, end = m.span("pw")
        base = m.start()
        whole = m.group(0)
        return whole[: start - base] + self.tag("secret", m.string[start:end]) + whole[end - base :]

    def _iban_repl(self, m: re.Match[str]) -> str:
        cand = m.group(0)
        # The match may run on into following upper-case words; try ends at group boundaries, longest first.
        ends = [len(cand)] + [i for i in range(len(cand) - 1, 3, -1) if cand[i] == " "]
        for end in ends:
            compact = cand[:end].replace(" ", "")
            if _iban_ok(compact):
                return self.tag("iban", compact) + cand[end:]
        return cand

    def _card_repl(self, m: re.Match[str]) -> str:
        run = m.group(0)
        digits = run.replace(" ", "").replace("-", "")
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
        if "=" in s or ":" in s:
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
            if "xox" in s:
                s = _SLACK_RE.sub(self._slack, s)
            if "k_live_" in s or "k_test_" in s:
                s = _STRIPE_RE.sub(self._stripe, s)
            if "AIza" in s:
                s = _GOOGLE_RE.sub(self._google, s)
        colon = ":" in s
        if assign:
            s = _ASSIGN_RE.sub(self._assign_repl, s)
        if "@" in s:
            if "://" in s:
                s = _URL_CRED_RE.sub(self._url_cred_repl, s)
            s = _EMAIL_RE.sub(self._email, s)
        if n >= 7:
            if _IBAN_GATE_RE.search(s) is not None:
                s = _IBAN_RE.sub(self._iban_repl, s)
            if _DIGITS_GATE_RE.search(s) is not None:
                s = _CARD_RE.sub(self._card_repl, s)
                if "-" in s or " " in s:
                    s = _SSN_RE.sub(self._ssn, s)
                s = _PHONE_RE.sub(self._phone, s)
            if "." in s and _IPV4_GATE_RE.search(s) is not None:
                s = _IPV4_RE.sub(self._ipv4, s)
        if colon and s.count(":") >= 2:
            s = _IPV6_RE.sub(self._ipv6_repl, s)
        return s

    # --- values -------------------------------------------------------------------------------------------
    def redact_value(self, v: Any) -> Any:
        """A redacted copy of a JSON-like value; the input is never modified."""
        return self._value(v, 0)

    def _secret(self, v: Any) -> Any:
        if v is None:
            return None
        if isinstance(v, str):
            return self.tag("secret", v)
        try:
            text = orjson.dumps(v, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS, default=str).decode()
        except (TypeError, orjson.JSONEncodeError):
            text = repr(v)
        return self.tag("secret", text)

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

    def _mapping(self, v: Mapping[Any, Any], depth: int) -> dict[Any, Any]:
        out: dict[Any, Any] = {}
        cache = self._key_cache
        redact_text = self.redact_text
        for k, item in v.items():
            secret = cache.get(k) if type(k) is str else False
            if secret is None:
                secret = _is_secret_key(k)
                new_key = redact_text(k)
                if new_key == k:
                    if len(cache) >= _KEY_CACHE_MAX:
                        cache.clear()
                    cache[k] = secret
                else:
                    while new_key in out or new_key in v:  # a tag collision must not drop a value
                        new_key += "'"
                    k = new_key  # noqa: PLW2901
            if secret:
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
        try:
            text = orjson.dumps(v, option=orjson.OPT_NON_STR_KEYS, default=str).decode()
        except (TypeError, orjson.JSONEncodeError):
            return "<too_deep>"
        return self.redact_text(text)
