"""Review 5 of the message path, the pure parts: server request ids across a lost server (P3), the server
epoch the shell checks its writes against (P2), the default-ignorable set (P4) and simple case folding
(P5). The real-process tests are in tests/integration/test_core_review5.py."""

from __future__ import annotations

import sys
import unicodedata
from typing import Any

import orjson
import pytest

from lilith.core.invisible import clean_text
from lilith.core.message import case_collision, simple_fold
from lilith.core.session import Session
from lilith.errors import SERVER_UNAVAILABLE
from tests.unit.fakes import MemoryLog

# Default_Ignorable_Code_Point as DerivedCoreProperties.txt publishes it (Unicode 9.0 to 16.0).
DEFAULT_IGNORABLE = [
    (0x00AD, 0x00AD), (0x034F, 0x034F), (0x061C, 0x061C), (0x115F, 0x1160), (0x17B4, 0x17B5),
    (0x180B, 0x180F), (0x200B, 0x200F), (0x202A, 0x202E), (0x2060, 0x206F), (0x3164, 0x3164),
    (0xFE00, 0xFE0F), (0xFEFF, 0xFEFF), (0xFFA0, 0xFFA0), (0xFFF0, 0xFFF8), (0x1BCA0, 0x1BCA3),
    (0x1D173, 0x1D17A), (0xE0000, 0xE0FFF),
]  # fmt: skip
# Format characters Unicode keeps visible (Prepended_Concatenation_Mark): they stay.
VISIBLE_FORMAT = {0x0600, 0x0601, 0x0602, 0x0603, 0x0604, 0x0605, 0x06DD, 0x070F, 0x0890, 0x0891, 0x08E2, 0x110BD}
VISIBLE_FORMAT |= {0x110CD}


def _line(value: Any) -> bytes:
    return orjson.dumps(value)


def _lines(raw: list[bytes]) -> list[Any]:
    return [orjson.loads(line) for line in raw]


def _initialized(session: Session) -> None:
    hello = {"protocolVersion": "2025-11-25", "capabilities": {"elicitation": {}}, "clientInfo": {"name": "c"}}
    session.from_client(_line({"jsonrpc": "2.0", "id": "init", "method": "initialize", "params": hello}))
    session.from_server(_line({"jsonrpc": "2.0", "id": "init", "result": {"protocolVersion": "2025-11-25"}}))
    session.from_client(_line({"jsonrpc": "2.0", "method": "notifications/initialized"}))


def _ask(session: Session, request_id: Any, question: str) -> dict[str, Any]:
    request = {"jsonrpc": "2.0", "id": request_id, "method": "elicitation/create", "params": {"message": question}}
    [shown] = _lines(session.from_server(_line(request)).to_client)
    return dict(shown)


def _answer(session: Session, request_id: Any, action: str) -> list[Any]:
    reply = {"jsonrpc": "2.0", "id": request_id, "result": {"action": action}}
    return _lines(session.from_client(_line(reply)).to_server)


# ---------------------------------------------------------------------------------------------- P3
def test_server_request_ids_pass_untouched_while_no_server_was_lost(session: Session) -> None:
    _initialized(session)
    for request_id in (0, "s-1", 7.5):
        assert _ask(session, request_id, "?")["id"] == request_id
    assert type(_ask(session, 1, "?")["id"]) is int
    assert _answer(session, 7.5, "accept") == [{"jsonrpc": "2.0", "id": 7.5, "result": {"action": "accept"}}]


def test_a_lost_servers_requests_are_cancelled_and_their_late_answers_dropped(session: Session, log: MemoryLog) -> None:
    _initialized(session)
    _ask(session, 0, "Delete /tmp/scratch.txt?")
    lost = _lines(session.server_lost("exited with status 3").to_client)
    assert lost == [
        {
            "jsonrpc": "2.0",
            "method": "notifications/cancelled",
            "params": {"requestId": 0, "reason": "Lilith: the MCP server exited with status 3"},
        }
    ]
    renamed = _ask(session, 0, "Wire $5000 to evil?")  # the restarted server numbers from 0 again
    assert renamed["id"] != 0 and renamed["params"]["message"] == "Wire $5000 to evil?"
    assert _answer(session, 0, "accept") == []  # the old question's answer reaches no one
    assert "client_answer_for_lost_server_dropped" in log.names()
    assert _answer(session, renamed["id"], "decline") == [
        {"jsonrpc": "2.0", "id": 0, "result": {"action": "decline"}}  # under the id the server gave it
    ]
    # Answered, the old id is free again: the server's next request 0 keeps its id.
    assert _ask(session, 0, "again")["id"] == 0


def test_a_server_cancelling_a_renamed_request_cancels_it_under_the_clients_id(session: Session) -> None:
    _initialized(session)
    _ask(session, 0, "old")
    session.server_lost("exited with status 3")
    renamed = _ask(session, 0, "new")
    cancel = {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 0, "reason": "x"}}
    [shown] = _lines(session.from_server(_line(cancel)).to_client)
    assert shown["params"] == {"requestId": renamed["id"], "reason": "x"}
    # Not in flight any more: cancelling 0 again would name the orphan to the client, so it is dropped.
    assert session.from_server(_line(cancel)).to_client == []
    assert _answer(session, renamed["id"], "accept") == []


def test_a_server_id_equal_to_a_renamed_one_is_renamed_too(session: Session) -> None:
    _initialized(session)
    _ask(session, 0, "old")
    session.server_lost("is gone")
    first = _ask(session, 0, "first")
    second = _ask(session, first["id"], "second")  # the server happens to use Lilith's name
    assert second["id"] not in (0, first["id"])
    assert _answer(session, second["id"], "accept") == [
        {"jsonrpc": "2.0", "id": first["id"], "result": {"action": "accept"}}
    ]
    assert _answer(session, first["id"], "decline") == [{"jsonrpc": "2.0", "id": 0, "result": {"action": "decline"}}]


# ---------------------------------------------------------------------------------------------- P2
def test_server_lost_starts_a_new_epoch_and_answers_what_was_taken_before(session: Session) -> None:
    request = {"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": "echo", "arguments": {}}}
    before = session.server_epoch
    assert session.from_client(_line(request)).to_server  # lines made in the old epoch
    [failed] = _lines(session.server_lost("is gone").to_client)
    assert failed["id"] == 3 and failed["error"]["code"] == SERVER_UNAVAILABLE
    assert session.server_epoch == before + 1  # the shell drops the old epoch's lines, never sends them on


# ---------------------------------------------------------------------------------------------- P4
def _removed_inside_a_word(code: int) -> bool:
    return clean_text(f"IM{chr(code)}PORTANT", {}) == "IMPORTANT"


def test_every_default_ignorable_code_point_is_removed_inside_ascii() -> None:
    missed = [
        f"U+{code:04X}"
        for first, last in DEFAULT_IGNORABLE
        for code in range(first, last + 1)
        if not _removed_inside_a_word(code)
    ]
    assert missed == []


def test_every_format_character_is_removed_but_the_visible_ones() -> None:
    format_chars = [code for code in range(sys.maxunicode + 1) if unicodedata.category(chr(code)) == "Cf"]
    assert len(format_chars) > 150  # the Unicode database is there
    assert [f"U+{c:04X}" for c in format_chars if c not in VISIBLE_FORMAT and not _removed_inside_a_word(c)] == []
    assert all(clean_text(f"a{chr(code)}1", {}) == f"a{chr(code)}1" for code in VISIBLE_FORMAT)


@pytest.mark.parametrize(
    "text",
    [
        "1\ufe0f\u20e3 #\ufe0f\u20e3",  # keycaps
        "\u1820\u180b\u1821",  # a Mongolian free variation selector after a Mongolian letter
        "\u845b\U000e0100",  # an ideographic variation sequence
    ],
)
def test_selectors_that_vary_a_character_stay(text: str) -> None:
    assert clean_text(text, {}) is text


def test_a_selector_after_an_ascii_character_goes() -> None:
    removed: dict[str, int] = {}
    assert clean_text("id\ufe0f_rsa ed2\ufe0f5519 x\u180by", removed) == "id_rsa ed25519 xy"
    assert removed == {"variation_selector": 3}


# ---------------------------------------------------------------------------------------------- P5
@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("name", "NAME"),
        ("kelvin", "\u212aelvin"),  # KELVIN SIGN
        ("sum", "\u017fum"),  # LATIN SMALL LETTER LONG S
        ("\u1e9ee", "\u00dfe"),  # capital and small sharp s
        ("\u03a3\u03c3", "\u03c3\u03c2"),  # sigma, final sigma
        ("\u1f88", "\u1f80"),  # alpha with psili and prosgegrammeni / ypogegrammeni
        ("\u1fd3", "\u0390"),  # the two iota with dialytika and tonos
        ("\u13a0", "\uab70"),  # Cherokee: the lowercase folds to the uppercase
    ],
)
def test_keys_go_takes_for_one_collide(one: str, other: str) -> None:
    assert case_collision({"params": {one: 1, other: 2}}) == (one, other)


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("Straße", "Strasse"),
        ("\ufb01le", "file"),  # the fi ligature
        ("\u0130d", "id"),  # dotted capital I: no simple folding
        ("\u0131d", "id"),  # dotless small i: no simple folding
        ("\u0149", "\u02bcn"),  # n preceded by apostrophe: two runes only when fully folded
    ],
)
def test_keys_only_full_folding_equates_do_not_collide(one: str, other: str) -> None:
    assert case_collision({"params": {one: 1, other: 2}}) is None
    assert case_collision({"a": {one: 1, other: 2}, "b": {"x": 1, "X": 2}}) == ("x", "X")  # the walk goes on


def test_simple_folding_implies_full_folding_so_the_prefilter_misses_nothing() -> None:
    chars = (chr(code) for code in range(sys.maxunicode + 1) if not 0xD800 <= code <= 0xDFFF)
    changed = [char for char in chars if char.casefold() != char]  # the others fold to themselves both ways
    assert len(changed) > 1000
    wrong = [
        f"U+{ord(c):04X}" for c in changed if len(simple_fold(c)) != 1 or simple_fold(c).casefold() != c.casefold()
    ]
    assert wrong == []
