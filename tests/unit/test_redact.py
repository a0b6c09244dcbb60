from __future__ import annotations

import copy
import hashlib
import hmac
import importlib
import re
from types import ModuleType
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lilith.audit.custom_patterns import has_nested_quantifier
from lilith.audit.redact import MAX_DEPTH, Redactor
from lilith.errors import ConfigError

KEY = b"test-key-0123456789"
TAG = re.compile(r"<([a-z0-9_]+):([0-9a-f]{6})>")


@pytest.fixture(scope="module")
def r() -> Redactor:
    return Redactor(KEY)


def expected_tag(kind: str, value: str, key: bytes = KEY, n: int = 6) -> str:
    return f"<{kind}:{hmac.new(key, value.encode(), hashlib.sha256).hexdigest()[:n]}>"


def luhn_complete(body: str) -> str:
    for check in "0123456789":
        digits = body + check
        total = 0
        for i, ch in enumerate(reversed(digits)):
            d = int(ch)
            if i % 2:
                d = d * 2 - 9 if d > 4 else d * 2
            total += d
        if total % 10 == 0:
            return digits
    raise AssertionError("unreachable")


def iban(country: str, bban: str) -> str:
    numeric = "".join(str(int(c, 36)) for c in bban + country + "00")
    return f"{country}{98 - int(numeric) % 97:02d}{bban}"


# --- one case per kind: a positive and a near miss ----------------------------------------------------------
POSITIVE = [
    ("email", "mail alice.smith@example.com today", "alice.smith@example.com"),
    ("phone", "call +44 20 7946 0958 now", "+44 20 7946 0958"),
    ("phone", "call (555) 123-4567 now", "(555) 123-4567"),
    ("card", "pay with 4111 1111 1111 1111.", "4111111111111111"),
    ("card", "pay with 5500-0000-0000-0004 ok", "5500000000000004"),
    ("ssn", "ssn 123-45-6789 on file", "123-45-6789"),
    ("iban", "to DE89 3704 0044 0532 0130 00 please", "DE89370400440532013000"),
    ("iban", "to GB82WEST12345698765432", "GB82WEST12345698765432"),
    ("ipv4", "from 192.168.10.20:8080", "192.168.10.20"),
    ("ipv6", "from [2001:db8::8a2e:370:7334]:443", "2001:db8::8a2e:370:7334"),
    (
        "jwt",
        "jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.c2lnbmF0dXJl end",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.c2lnbmF0dXJl",
    ),
    ("aws_key", "id AKIAIOSFODNN7EXAMPLE x", "AKIAIOSFODNN7EXAMPLE"),
    ("aws_key", "id ASIAIOSFODNN7EXAMPLE x", "ASIAIOSFODNN7EXAMPLE"),
    ("github_token", "gh ghp_" + "A1b2" * 9 + " x", "ghp_" + "A1b2" * 9),
    ("github_token", "gh gho_" + "Z9y8" * 9 + " x", "gho_" + "Z9y8" * 9),
    (
        "github_token",
        "gh github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz x",
        "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz",
    ),
    ("slack_token", "slack xoxb-1234567890-abcdefghij x", "xoxb-1234567890-abcdefghij"),
    ("stripe_key", "stripe sk_live_4eC39HqLyjWDarjtT1zdp7dc x", "sk_live_4eC39HqLyjWDarjtT1zdp7dc"),
    ("stripe_key", "stripe sk_test_4eC39HqLyjWDarjtT1zdp7dc x", "sk_test_4eC39HqLyjWDarjtT1zdp7dc"),
    ("stripe_key", "stripe rk_live_4eC39HqLyjWDarjtT1zdp7dc x", "rk_live_4eC39HqLyjWDarjtT1zdp7dc"),
    ("google_api_key", "g AIzaSyD-abcdefghijklmnopqrstuvwxyz01234 x", "AIzaSyD-abcdefghijklmnopqrstuvwxyz01234"),
]

NEAR_MISSES = [
    "mail alice.smith@localhost today",  # no TLD
    "call 555-0199 now",  # 7 digits, no area code
    "pay with 4111 1111 1111 1112.",  # fails Luhn
    "order 1700000000000",  # 13 digits, Luhn or not, not a card network prefix
    "ssn 000-45-6789 on file",  # area 000 is never issued
    "ssn 123-00-6789 on file",  # group 00 is never issued
    "to DE89370400440532013001 please",  # bad mod-97 checksum
    "from 256.168.10.20",  # octet out of range
    "version 1.2.3",  # three parts
    "at 10:30:00",  # a time, not an IPv6 address
    "std::vector<int>",  # C++, not an IPv6 address
    "mac aa:bb:cc:dd:ee:ff",  # six groups, no '::'
    "jwt eyJhbGciOiJIUzI1NiJ9 end",  # one segment only
    "id AKIAIOSFODNN7EXAMP x",  # too short
    "id AKIAIOSFODNN7EXAMPLE1 x",  # too long
    "gh ghp_short x",
    "slack xoxz-1234567890-abcdefghij x",  # not a Slack token type
    "stripe pk_live_4eC39HqLyjWDarjtT1zdp7dc x",  # publishable keys are public
    "g AIzaSyD-abc x",  # too short
    "max_tokens=100 and tokens: 5",  # not a secret assignment
    "passwordless: true",
]


@pytest.mark.parametrize(("kind", "text", "value"), POSITIVE)
def test_each_kind_is_redacted(r: Redactor, kind: str, text: str, value: str) -> None:
    out = r.redact_text(text)
    assert expected_tag(kind, value) in out, out
    assert value not in out


@pytest.mark.parametrize("text", NEAR_MISSES)
def test_near_misses_are_left_alone(r: Redactor, text: str) -> None:
    assert r.redact_text(text) == text


def test_pem_private_key_is_redacted_whole(r: Redactor) -> None:
    pem = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA7\nabc+/=\n-----END RSA PRIVATE KEY-----"
    out = r.redact_text(f"key:\n{pem}\ntail")
    assert out == f"key:\n{expected_tag('private_key', pem)}\ntail"
    truncated = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC"
    assert r.redact_text(truncated) == expected_tag("private_key", truncated)
    assert r.redact_text("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----").startswith("-----BEGIN CERT")


@pytest.mark.parametrize(
    ("text", "value", "redacted"),
    [
        ("password=hunter2 user=bob", "hunter2", "password=<> user=bob"),
        ("DB_PASSWORD: s3cr3t", "s3cr3t", "DB_PASSWORD: <>"),
        ('{"client_secret": "two words"}', "two words", '{"client_secret": "<>"}'),
        ("api_key:abc123,next", "abc123", "api_key:<>,next"),
        ("X-Api-Key: zzz", "zzz", "X-Api-Key: <>"),
        ("token='it is'", "it is", "token='<>'"),
        ("Authorization: Bearer abc.def", "Bearer abc.def", "Authorization: <>"),
        ("aws_secret_access_key=wJalrXUtnFEMI/K7MDENG", "wJalrXUtnFEMI/K7MDENG", "aws_secret_access_key=<>"),
        ("https://bob:pa55w0rd@db.internal/app", "pa55w0rd", "https://bob:<>@db.internal/app"),
    ],
)
def test_assignments_keep_the_key_and_redact_the_value(r: Redactor, text: str, value: str, redacted: str) -> None:
    assert r.redact_text(text) == redacted.replace("<>", expected_tag("secret", value))


def test_assignment_does_not_double_redact_a_tagged_value(r: Redactor) -> None:
    token = "ghp_" + "x" * 36
    assert r.redact_text(f"token={token}") == f"token={expected_tag('github_token', token)}"
    assert r.redact_text("password=<secret:abcdef>") == "password=<secret:abcdef>"


def test_card_next_to_other_digits_is_still_found(r: Redactor) -> None:
    assert r.redact_text("ref 12 4111111111111111") == f"ref 12 {expected_tag('card', '4111111111111111')}"
    out = r.redact_text("IBAN DE89 3704 0044 0532 0130 00 PLEASE")
    assert out == f"IBAN {expected_tag('iban', 'DE89370400440532013000')} PLEASE"


def test_custom_patterns(r: Redactor) -> None:
    custom = Redactor(KEY, custom=[("employee_id", r"EMP-\d{6}"), ("ticket", "TCK[0-9]+")])
    assert (
        custom.redact_text("EMP-123456 and TCK42")
        == f"{expected_tag('employee_id', 'EMP-123456')} and {expected_tag('ticket', 'TCK42')}"
    )
    assert r.redact_text("EMP-123456") == "EMP-123456"


@pytest.mark.parametrize(("kind", "pattern"), [("Bad Kind", "x"), ("ok", ""), ("ok", "(unclosed")])
def test_bad_custom_patterns_are_config_errors(kind: str, pattern: str) -> None:
    with pytest.raises(ConfigError):
        Redactor(KEY, custom=[(kind, pattern)])


def test_without_re2_nested_quantifiers_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.import_module

    def no_re2(name: str, package: str | None = None) -> ModuleType:
        if name == "re2":
            raise ImportError(name)
        return real(name, package)

    monkeypatch.setattr(importlib, "import_module", no_re2)
    with pytest.raises(ConfigError, match="google-re2"):
        Redactor(KEY, custom=[("evil", r"(a+)+$")])
    assert Redactor(KEY, custom=[("ok", r"EMP-\d{6}")]).redact_text("EMP-123456") == expected_tag("ok", "EMP-123456")


@pytest.mark.parametrize(
    ("pattern", "nested"),
    [
        (r"(a+)+", True),
        (r"(a|aa)*", True),
        (r"(?:\w+\s?)*$", True),
        (r"(a*){2,}", True),
        (r"(x+){1,5}", True),
        (r"EMP-\d{6}", False),
        (r"(ab)+c*", False),
        (r"(a+)?", False),
        (r"[(a+)+]", False),
        (r"\(a+\)+", False),
        (r"(?:foo|bar)-\d+", False),
        (r"(a{2})+", True),
    ],
)
def test_nested_quantifier_detection(pattern: str, nested: bool) -> None:
    assert has_nested_quantifier(pattern) is nested


# --- tags ------------------------------------------------------------------------------------------------------
def test_tags_correlate_under_one_key_only(r: Redactor) -> None:
    a = r.redact_text("from alice@example.com")
    b = r.redact_value({"to": ["alice@example.com"]})
    assert a == f"from {expected_tag('email', 'alice@example.com')}"
    assert b == {"to": [expected_tag("email", "alice@example.com")]}
    other = Redactor(b"another key")
    assert other.redact_text("alice@example.com") != r.redact_text("alice@example.com")
    assert r.redact_text("bob@example.com") != r.redact_text("alice@example.com")


def test_tag_is_hmac_sha256_for_long_keys_and_other_lengths() -> None:
    long_key = bytes(range(100))
    red = Redactor(long_key, hash_chars=12)
    assert red.tag("email", "x@y.zz") == expected_tag("email", "x@y.zz", long_key, 12)
    with pytest.raises(ValueError):
        Redactor(b"")
    with pytest.raises(ValueError):
        Redactor(KEY, hash_chars=2)


# --- structured values -----------------------------------------------------------------------------------------
def test_nested_structures_and_secret_keys(r: Redactor) -> None:
    args: dict[str, Any] = {
        "path": "/tmp/report.txt",
        "limit": 20,
        "ratio": 0.5,
        "flag": True,
        "none": None,
        "Api-Key": "zzz",
        "headers": {"Authorization": "Bearer abc", "Accept": "text/plain", "Set-Cookie": "sid=1"},
        "auth": {"user": "bob", "password": "hunter2"},
        "items": [{"email": "alice@example.com"}, ("a", 4111111111111111), "ok"],
        "accessToken": 12345,
        "clientSecret": {"nested": ["x"]},
        "db_pwd": None,
        "max_tokens": 100,
    }
    out = r.redact_value(args)
    assert out["path"] == "/tmp/report.txt"
    assert out["limit"] == 20 and out["ratio"] == 0.5 and out["flag"] is True and out["none"] is None
    assert out["Api-Key"] == expected_tag("secret", "zzz")
    assert out["headers"] == {
        "Authorization": expected_tag("secret", "Bearer abc"),
        "Accept": "text/plain",
        "Set-Cookie": expected_tag("secret", "sid=1"),
    }
    assert TAG.fullmatch(out["auth"]) is not None  # a whole object under a secret-looking key
    assert out["items"] == [
        {"email": expected_tag("email", "alice@example.com")},
        ["a", expected_tag("card", "4111111111111111")],
        "ok",
    ]
    assert out["accessToken"] == expected_tag("secret", "12345")
    assert TAG.fullmatch(out["clientSecret"]) is not None
    assert out["db_pwd"] is None
    assert out["max_tokens"] == 100


def test_input_is_never_mutated(r: Redactor) -> None:
    args: dict[str, Any] = {"a": ["alice@example.com", {"password": "x", "n": [4111111111111111]}], "b": "ok"}
    before = copy.deepcopy(args)
    out = r.redact_value(args)
    assert args == before
    assert out is not args and out["a"] is not args["a"]


def test_keys_are_kept_but_redacted_by_pattern_without_collisions(r: Redactor) -> None:
    out = r.redact_value({"alice@example.com": 1, "plain": 2})
    assert out == {expected_tag("email", "alice@example.com"): 1, "plain": 2}
    assert r.redact_value({1: "a", None: "b"}) == {1: "a", None: "b"}


def test_depth_is_bounded(r: Redactor) -> None:
    deep: Any = "alice@example.com"
    for _ in range(MAX_DEPTH * 3):
        deep = [deep]
    out = r.redact_value(deep)
    text = repr(out)
    assert "alice@example.com" not in text
    assert expected_tag("email", "alice@example.com") in text
    very_deep: Any = "x"
    for _ in range(5000):
        very_deep = {"k": very_deep}
    assert "<too_deep>" in repr(r.redact_value(very_deep))


def test_other_types_become_redacted_text(r: Redactor) -> None:
    class Obj:
        def __str__(self) -> str:
            return "owner alice@example.com"

    assert r.redact_value(Obj()) == f"owner {expected_tag('email', 'alice@example.com')}"


def test_pathological_inputs_stay_linear(r: Redactor) -> None:
    import time

    cases = [
        "eyJ" * 20_000,
        "a" * 60_000 + "@",
        "AKIA" * 15_000,
        "1" * 60_000,
        "1 " * 30_000,
        ":" * 60_000,
        "a:" * 30_000,
        "password=" * 6_000,
        "-----BEGIN RSA PRIVATE KEY-----" * 2_000,
        "DE89 " * 12_000,
        "+1 " * 20_000,
        "1." * 30_000,
    ]
    for text in cases:
        start = time.perf_counter()
        r.redact_text(text)
        assert time.perf_counter() - start < 2.0, text[:20]


# --- property: generated secrets never survive -----------------------------------------------------------------
ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
UPPER_DIGITS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
B64URL = ALNUM + "-_"


def fixed(alphabet: str, n: int) -> st.SearchStrategy[str]:
    return st.text(alphabet=alphabet, min_size=n, max_size=n)


def digits(n: int) -> st.SearchStrategy[str]:
    return fixed("0123456789", n)


emails = st.builds(
    lambda local, domain, tld: f"{local}@{domain}.{tld}",
    st.from_regex(r"[a-z0-9][a-z0-9._+-]{0,15}", fullmatch=True),
    st.from_regex(r"[a-z0-9]{1,12}", fullmatch=True),
    st.from_regex(r"[a-z]{2,6}", fullmatch=True),
)


def group_card(digits: str, spaced: bool) -> str:
    return " ".join(digits[i : i + 4] for i in range(0, len(digits), 4)) if spaced else digits


cards = st.builds(
    lambda prefix, body, spaced: group_card(luhn_complete(prefix + body[: 15 - len(prefix)]), spaced),
    st.sampled_from(["4", "51", "52", "55", "6011", "37"]),
    digits(15),
    st.booleans(),
)
SECRETS = st.one_of(
    emails,
    st.builds(lambda p, s: p + s, st.sampled_from(["AKIA", "ASIA"]), fixed(UPPER_DIGITS, 16)),
    st.builds(lambda p, s: p + s, st.sampled_from(["ghp_", "gho_"]), fixed(ALNUM, 36)),
    st.builds(lambda s: "xoxb-" + s, fixed(ALNUM, 24)),
    st.builds(lambda p, s: p + s, st.sampled_from(["sk_live_", "sk_test_", "rk_live_"]), fixed(ALNUM, 24)),
    st.builds(lambda s: "AIza" + s, fixed(B64URL, 35)),
    st.builds(lambda a, b, c: f"eyJ{a}.eyJ{b}.{c}", fixed(B64URL, 12), fixed(B64URL, 20), fixed(B64URL, 16)),
    cards,
    st.builds(
        lambda a, g, s: f"{a:03d}-{g:02d}-{s:04d}",
        st.integers(1, 899).filter(lambda a: a != 666),
        st.integers(1, 99),
        st.integers(1, 9999),
    ),
    st.builds(lambda bban: iban("DE", bban), digits(18)),
    st.builds(lambda bban: iban("FR", bban), digits(23)),
    st.builds(lambda o: ".".join(str(x) for x in o), st.lists(st.integers(0, 255), min_size=4, max_size=4)),
    st.builds(lambda cc, rest: f"+{cc} {rest}", st.integers(1, 999), digits(9)),
)
NOISE = st.text(max_size=20)


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(secret=SECRETS, before=NOISE, after=NOISE, shape=st.integers(0, 3))
def test_generated_secrets_never_survive(secret: str, before: str, after: str, shape: int) -> None:
    red = Redactor(KEY)
    text = f"{before} {secret} {after}"
    value: Any = [text, {"note": text}, {"outer": [{"deep": text}]}, text][shape]
    out = red.redact_value(value)

    def strings(v: Any) -> list[str]:
        if isinstance(v, str):
            return [v]
        if isinstance(v, dict):
            return [s for k, item in v.items() for s in strings(k) + strings(item)]
        if isinstance(v, list | tuple):
            return [s for item in v for s in strings(item)]
        return [str(v)]

    for s in strings(out):
        assert secret not in s, (secret, s)
