"""Review finding 3: detector gaps, each with a positive case and the near misses that must stay as they are."""

from __future__ import annotations

import time
from typing import Any

import pytest

from lilith.audit.redact import Redactor

KEY = b"review-key-0123456789"


@pytest.fixture(scope="module")
def r() -> Redactor:
    return Redactor(KEY)


PGP = "-----BEGIN PGP PRIVATE KEY BLOCK-----\n\nlQOYBFPGPSECRETBODY\n=ab12\n-----END PGP PRIVATE KEY BLOCK-----"

# (text, kind of the tag, the value the tag hashes); the value must be gone from the output.
POSITIVE = [
    (f"key:\n{PGP}\nend", "private_key", PGP),
    ("redis://:S3cretRedisPw@redis:6379/0", "secret", "S3cretRedisPw"),
    ("Bearer opaqueTok3nValue123", "secret", "opaqueTok3nValue123"),
    ('"auth_header": "Bearer opaqueTok3nValue123"', "secret", "opaqueTok3nValue123"),
    ("send Basic dXNlcjpwYXNz please", "secret", "dXNlcjpwYXNz"),
    ("pass=hunter2 user=bob", "secret", "hunter2"),
    ("db_pass=hunter2", "secret", "hunter2"),
    ("DB_PASS: hunter2", "secret", "hunter2"),
    ('{"pw": "hunter2"}', "secret", "hunter2"),
    ('{"passcode": "123456"}', "secret", "123456"),
    ("xoxe-1-My0xLTEyMzQ1Ng", "slack_token", "xoxe-1-My0xLTEyMzQ1Ng"),
    ("xapp-1-A0123-456-abcdef0123456789", "slack_token", "xapp-1-A0123-456-abcdef0123456789"),
    ("key sk-proj-abcdefghijklmnopqrstuvwxyz0123456789", "api_key", "sk-proj-abcdefghijklmnopqrstuvwxyz0123456789"),
    ("key sk-ant-api03-abcdefghijklmnopqrstuvwxyz", "api_key", "sk-ant-api03-abcdefghijklmnopqrstuvwxyz"),
    ("key sk-4eC39HqLyjWDarjtT1zdp7dcT3BlbkFJ", "api_key", "sk-4eC39HqLyjWDarjtT1zdp7dcT3BlbkFJ"),
    ("whsec_4eC39HqLyjWDarjtT1zdp7dc", "stripe_key", "whsec_4eC39HqLyjWDarjtT1zdp7dc"),
    ("https://a.example.com/?email=jane.doe%40example.com&x=1", "email", "jane.doe@example.com"),
    ("password%3Dhunter2&next=1", "secret", "hunter2"),
    ("call 0044 20 7946 0958 now", "phone", "0044 20 7946 0958"),
    ("card 4111.1111.1111.1111.", "card", "4111111111111111"),
    ("card 4111  1111  1111  1111", "card", "4111111111111111"),
    ("card 4111 - 1111 - 1111 - 1111", "card", "4111111111111111"),
    ("to de89 3704 0044 0532 0130 00 please", "iban", "DE89370400440532013000"),
    ("to DE89-3704-0044-0532-0130-00 please", "iban", "DE89370400440532013000"),
    ("curl -u admin:CurlPassw0rd https://x", "secret", "CurlPassw0rd"),
    ("server --password CmdPw12345 --port 1", "secret", "CmdPw12345"),
    ("aws configure set aws_secret_access_key wJalrXUtnFEMI/K7MDENG", "secret", "wJalrXUtnFEMI/K7MDENG"),
    ("from müller@example.de today", "email", "müller@example.de"),
    ("from user@münchen.de today", "email", "user@münchen.de"),
]

NEAR_MISSES = [
    "send a Bearer token in the header",
    "Basic Authentication is discouraged",
    "basic information about tokens",
    'WWW-Authenticate: Bearer resource_metadata="https://mcp.example.com/.well-known/oauth"',  # a challenge
    "bypass=true and compass: north",
    "passwordless: true",
    "class sk-fading-circle-animation-spinner",  # no digit: a CSS class, not a key
    "task-1234567890abcdefghijklmnop",  # "sk-" inside a word
    "order 00123456789 shipped",  # zero-padded number, no separator after a country code
    "pi 3.14159265358979 and version 1.2.3",
    "to zz12 3456 7890 1234 5678 90 please",  # no such IBAN country
    "to gb82 west 1234 5698 7654 33 please",  # bad checksum (…32 is right)
    "docker run -u 1000:1000 image",  # a uid and a gid
    "python -u script.py --port 8080 --verbose yes",
    "set --no-auth server.py",
]


@pytest.mark.parametrize(("text", "kind", "value"), POSITIVE)
def test_each_gap_is_closed(r: Redactor, text: str, kind: str, value: str) -> None:
    out = r.redact_text(text)
    assert r.tag(kind, value) in out, out
    assert value not in out and value.replace("@", "%40") not in out


@pytest.mark.parametrize("text", NEAR_MISSES)
def test_near_misses_stay(r: Redactor, text: str) -> None:
    assert r.redact_text(text) == text


def test_emails_are_tagged_whole_and_correlate_when_url_encoded(r: Redactor) -> None:
    assert r.redact_text("müller@example.de") == r.tag("email", "müller@example.de")  # no "mü" left in front
    assert r.redact_text("jane.doe%40example.com") == r.redact_text("jane.doe@example.com")
    assert r.redact_text("?email=jane@example.org") == "?email=" + r.tag("email", "jane@example.org")


@pytest.mark.parametrize(
    "key",
    ["db_pass", "DB_PASS", "MYSQL_PWD", "new_pass", "newPass", "passcode", "db_pw", "api_token_value", "secrets"],
)
def test_secret_word_parts_in_keys(r: Redactor, key: str) -> None:
    assert r.redact_value({key: "hunter2"}) == {key: r.tag("secret", "hunter2")}


@pytest.mark.parametrize("key", ["token_count", "max_tokens", "pass_count", "bypass", "compass", "passenger", "key"])
def test_keys_that_only_describe_or_contain_a_secret_word_stay(r: Redactor, key: str) -> None:
    assert r.redact_value({key: "plain"}) == {key: "plain"}


def test_a_flag_under_a_secret_key_stays_a_flag(r: Redactor) -> None:
    assert r.redact_value({"password": True, "token": None}) == {"password": True, "token": None}


@pytest.mark.parametrize(
    "pair",
    [
        {"name": "Authorization", "value": "Bearer x"},
        {"name": "X-Api-Key", "value": "abc"},
        {"key": "Cookie", "value": "sid=1"},
        {"name": "DB_PASSWORD", "value": {"nested": "x"}},
    ],
)
def test_a_value_next_to_a_secret_name_is_secret(r: Redactor, pair: dict[str, Any]) -> None:
    out = r.redact_value({"headers": [pair]})["headers"][0]
    assert out["value"].startswith("<secret:")
    assert {k: v for k, v in out.items() if k != "value"} == {k: v for k, v in pair.items() if k != "value"}


def test_a_value_next_to_a_plain_name_stays(r: Redactor) -> None:
    pair = {"name": "Content-Type", "value": "text/plain"}
    assert r.redact_value(pair) == pair


@pytest.mark.parametrize(
    ("key", "value", "tagged"),
    [
        ("ssn", "123456789", "123456789"),
        ("SSN", 123456789, "123456789"),
        ("social_security_number", " 123 45 6789 ", "123 45 6789"),
        ("customerSsn", "123-45-6789", "123-45-6789"),
    ],
)
def test_ssns_without_separators_under_an_ssn_key(r: Redactor, key: str, value: Any, tagged: str) -> None:
    assert r.redact_value({key: value}) == {key: r.tag("ssn", tagged)}


def test_nine_digits_elsewhere_are_not_an_ssn(r: Redactor) -> None:
    assert r.redact_value({"order_id": "123456789", "n": 123456789}) == {"order_id": "123456789", "n": 123456789}
    assert r.redact_value({"ssn": "unknown"}) == {"ssn": "unknown"}


@pytest.mark.parametrize(
    "text",
    [
        "--a " * 15_000,
        "-u " + "a" * 60_000,
        "Bearer " + "a=" * 30_000,
        "password=" + "\\" * 60_000,
        'token=\\"' * 7_000,
        "sk-" + "a" * 60_000,
        "a%40" * 15_000,
        "0044 " * 12_000,
        "4111  " * 10_000,
        "de89-" * 12_000,
        "müller" * 10_000 + "@",
        "pass=" * 12_000,
        "-----BEGIN PGP PRIVATE KEY BLOCK-----" * 1_500,
    ],
    ids=lambda text: repr(text[:12]),
)
def test_the_new_patterns_stay_linear(r: Redactor, text: str) -> None:
    start = time.perf_counter()
    r.redact_text(text)
    assert time.perf_counter() - start < 2.0
