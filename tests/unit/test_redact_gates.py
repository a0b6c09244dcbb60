"""The redactor's cheap gates only skip work: with every gate open, the output is the same."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lilith.audit import text_redactor
from lilith.audit.redact import Redactor

KEY = b"k" * 32
# Characters the digit, IBAN and IP patterns care about, plus a few that separate them.
ALPHABET = "0123456789" * 3 + "ABGZ" + "ab" + " -.()+:/" + "\n"
EXAMPLES = [
    "hello 10000",
    "call +44 20 7946 0958 now",
    "(555) 123-4567",
    "ssn 078-05-1120 x",
    "card 4111 1111 1111 1111",
    "iban GB82 WEST 1234 5698 7654 32",
    "host 10.0.0.1 and 1.2",
    "v1.2.3 build 20261129",
    "call 0044 20 7946 0958",
    "card 4111.1111.1111.1111 or 4111  1111  1111  1111",
    "iban de89 3704 0044 0532 0130 00 or DE89-3704-0044-0532-0130-00",
]


def _ungated(text: str, monkeypatch: pytest.MonkeyPatch) -> str:
    with monkeypatch.context() as patch:
        for gate in ("DIGITS_GATE_RE", "IBAN_GATE_RE", "IPV4_GATE_RE"):
            patch.setattr(text_redactor, gate, re.compile(""))
        return Redactor(KEY).redact_text(text)


@pytest.mark.parametrize("text", EXAMPLES)
def test_the_gates_change_nothing_on_known_shapes(text: str, monkeypatch: pytest.MonkeyPatch) -> None:
    assert Redactor(KEY).redact_text(text) == _ungated(text, monkeypatch)


@settings(max_examples=400)
@given(st.text(alphabet=ALPHABET, max_size=40))
def test_the_gates_change_nothing_on_any_text(text: str) -> None:
    with pytest.MonkeyPatch.context() as monkeypatch:
        assert Redactor(KEY).redact_text(text) == _ungated(text, monkeypatch)
