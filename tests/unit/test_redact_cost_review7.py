"""Review 7 (DoS): the redactor's work is bounded. Card windows are found in linear time with the same
findings as before (the old quadratic-constant search is the oracle), strings are scanned up to
``SCAN_CHARS`` and the rest is tagged visibly, long keys and names are never memoised."""

from __future__ import annotations

import random
from typing import Any

import pytest

from lilith.audit.redact import Masker, Redactor
from lilith.audit.redact_checks import card_windows, iban_ok, is_card
from lilith.audit.redact_patterns import CARD_SEPARATORS_RE
from lilith.audit.text_redactor import SCAN_CHARS
from lilith.core.clipped import Clipped
from lilith.core.session_records import INFO_JSON_CHARS, _bounded_info
from lilith.policy.static_rules import StaticRules

KEY = b"review-7-key"
GHP = "ghp_" + "Q1w2E3r4T5y6U7i8O9p0A1s2D3f4G5h6J7k8"


class CountingRedactor(Redactor):
    """Records the length of every string the detectors are run on."""

    def __init__(self) -> None:
        super().__init__(KEY)
        self.scanned: list[int] = []

    def redact_text(self, s: str, *, escapes: bool = True) -> str:
        self.scanned.append(len(s))
        return super().redact_text(s, escapes=escapes)


def _old_windows(groups: list[str]) -> list[tuple[int, int, str]]:
    """The search as it was before review 7: every start, windows grown group by group."""
    found: list[tuple[int, int, str]] = []
    i = 0
    while i < len(groups):
        best, best_digits, window = -1, "", ""
        for j in range(i, len(groups)):
            window += groups[j]
            if len(window) > 19:
                break
            if is_card(window):
                best, best_digits = j, window
        if best < 0:
            i += 1
            continue
        found.append((i, best, best_digits))
        i = best + 1
    return found


def test_card_windows_find_exactly_what_the_old_search_found() -> None:
    rng = random.Random(7)
    cards = 0
    for _ in range(3000):
        alphabet = rng.choice(["0123456789", "23456", "2345"])
        groups = [
            "".join(rng.choice(alphabet) for _ in range(rng.choice([1, 1, 2, 3, 4, 4, 5, 6, 13, 16])))
            for _ in range(rng.randint(1, 40))
        ]
        expected = _old_windows(groups)
        cards += len(expected)
        assert list(card_windows(groups)) == expected, groups
    assert cards > 1000  # the generated runs do hold cards


def test_a_card_next_to_other_numbers_is_still_tagged() -> None:
    r = Redactor(KEY)
    assert r.redact_text("ref 12 4111 1111 1111 1111 x") == f"ref 12 {r.tag('card', '4111111111111111')} x"
    assert r.redact_text("4111-1111-1111-1111") == r.tag("card", "4111111111111111")
    assert CARD_SEPARATORS_RE.split("1 - 2") == ["1", " - ", "2"]


def test_iban_check_digits_are_computed_as_before() -> None:
    assert iban_ok("DE89370400440532013000") and iban_ok("GB82WEST12345698765432")
    assert iban_ok("gb82west12345698765432")
    assert not iban_ok("DE89370400440532013001")


@pytest.mark.parametrize("filler", ["1 ", "27 ", "a", "4111 ", "AB12 ", "--a x "])
def test_a_long_string_is_scanned_only_up_to_the_cap(filler: str) -> None:
    r = CountingRedactor()
    value = filler * (100_000 // len(filler))
    out = r.redact_value({"s": value})["s"]
    assert max(r.scanned) == len(value)  # the call itself
    assert sorted(r.scanned)[-2] <= SCAN_CHARS  # what the detectors ran on
    assert out.endswith(r.truncated_tag(value)) and f"<truncated:{len(value)}:" in out


def test_the_truncation_tag_correlates_equal_values_only() -> None:
    r = Redactor(KEY)
    a = "x " * SCAN_CHARS
    assert r.redact_text(a) == r.redact_text(a)
    assert r.truncated_tag(a) != r.truncated_tag(a + "y") != Redactor(b"other").truncated_tag(a + "y")
    assert Masker().redact_text(a).endswith(f"<truncated:{len(a)}>")


def test_the_cut_never_splits_a_token_in_two() -> None:
    r = Redactor(KEY)
    head = "w " * ((SCAN_CHARS - 10) // 2)
    out = r.redact_text(head + GHP + " tail" * 1000)
    assert GHP[:8] not in out  # the token straddling the cap went whole into the truncated rest
    assert out.startswith(head[:100])


def test_short_strings_are_not_cut() -> None:
    r = Redactor(KEY)
    text = "a " * (SCAN_CHARS // 2)
    assert r.redact_text(text) == text


def test_long_keys_are_not_memoised_and_their_values_are_secrets() -> None:
    r = Redactor(KEY)
    key = "k" * 300
    out = r.redact_value({key: "plain value", "short": "plain value"})
    assert out == {key: r.tag("secret", "plain value"), "short": "plain value"}
    assert key not in r._key_cache and "short" in r._key_cache


def test_clipped_text_keeps_its_start_redacted_and_tags_the_rest() -> None:
    r = Redactor(KEY)
    text = '{"name":"bob@example.com ' + "1 " * 5000 + '"}'
    out = r.redact_value(Clipped(text, 100))
    assert out.startswith('{"name":"<email:') and out.endswith(r.truncated_tag(text))
    assert len(out) < 150


def test_info_objects_over_the_cap_become_clipped_json() -> None:
    small: dict[str, Any] = {"name": "c", "version": "1"}
    assert _bounded_info(small) is small and _bounded_info(None) is None
    big = {"name": "c", "version": "1 " * INFO_JSON_CHARS}
    clipped = _bounded_info(big)
    assert isinstance(clipped, Clipped) and clipped.keep == INFO_JSON_CHARS
    assert clipped.startswith('{"name":"c","version":"1 1')
    assert isinstance(_bounded_info({"n": 1 << 70, "pad": "x" * INFO_JSON_CHARS}), Clipped)  # beyond orjson


def test_static_rules_memo_keeps_no_long_names() -> None:
    rules = StaticRules.compile({"echo": "ALLOW"})
    long_name = "a" * 1000
    assert not rules.decide(long_name).allowed and not rules.decide(long_name).allowed
    assert rules.decide("echo").allowed
    assert long_name not in rules._memo and "echo" in rules._memo
