"""Review 7: what one server may keep in the shared pin store, and a store that stays cheap to save."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lilith.policy import pins
from lilith.policy.loader import parse_policy
from lilith.policy.pins import MAX_PINNED_TOOLS, PinReview, PinTable, pin_tool
from lilith.runtime.pin_store import PinSetup, PinStore
from tests.integration import test_pins_pump_review7


def _tools(count: int, prefix: str = "t") -> list[dict[str, str]]:
    return [{"name": f"{prefix}{n}"} for n in range(count)]


def test_the_integration_test_uses_the_real_limit() -> None:
    assert test_pins_pump_review7.MAX_PINNED_TOOLS == MAX_PINNED_TOOLS


def test_a_first_listing_beyond_the_limit_pins_nothing_and_fails_its_save() -> None:
    saved: list[PinTable] = []
    review = PinReview(None, saved.append)
    pinned_now, findings = review.review(_tools(MAX_PINNED_TOOLS + 1), last_page=True, save=False)
    assert pinned_now == [] and review.table.pinned == {}
    (refusal,) = findings
    assert refusal.tool == f"t{MAX_PINNED_TOOLS}" and "the listing is refused" in refusal.reason
    with pytest.raises(ValueError, match=f"more than {MAX_PINNED_TOOLS} tools"):
        review.save_pending()
    assert saved == []
    # A listing within the limit is pinned afterwards, whole.
    assert len(review.review(_tools(MAX_PINNED_TOOLS), last_page=True)[0]) == MAX_PINNED_TOOLS
    assert len(saved[-1].pinned) == MAX_PINNED_TOOLS


def test_pages_count_together_towards_the_limit() -> None:
    review = PinReview(None, lambda table: None)
    review.review(_tools(MAX_PINNED_TOOLS - 1), last_page=False)
    with pytest.raises(ValueError, match="the listing is refused"):
        review.review(_tools(2, "u"), last_page=True)
    assert len(review.table.pinned) == MAX_PINNED_TOOLS - 1


def test_an_overlong_name_is_refused_pinned_or_pending() -> None:
    name = "a" * (pins.MAX_PIN_NAME_LENGTH + 1)
    first = PinReview(None, lambda table: None)
    with pytest.raises(ValueError, match=f"tool name of {len(name)} characters"):
        first.review([{"name": "ok"}, {"name": name}], last_page=True)
    assert first.table.pinned == {}
    later = PinReview(PinTable({"ok": pin_tool({"name": "ok"})}, {}), lambda table: None)
    _, (refusal,) = later.review([{"name": name}], last_page=True, save=False)
    assert refusal.refusal and later.table.pending == {}


def test_the_stored_size_of_a_server_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pins, "MAX_STORED_BYTES", 10_000)
    review = PinReview(PinTable({}, {}), lambda table: None)
    review.review(_tools(20), last_page=True)  # about 2.5 kB: fits
    with pytest.raises(ValueError, match="would take more than"):
        review.review(_tools(80, "u"), last_page=True)
    assert len(review.table.pending) == 20  # the refused page stored nothing
    review.review(_tools(5, "v"), last_page=True)  # what still fits is stored
    assert len(review.table.pending) == 25


def test_a_store_written_before_the_limits_stays_usable() -> None:
    big = PinTable({f"t{n}": pin_tool({"name": f"t{n}"}) for n in range(MAX_PINNED_TOOLS + 5)}, {})
    review = PinReview(big, lambda table: None)
    assert review.review([{"name": "t1"}], last_page=True) == ([], [])


def test_the_preloaded_table_serves_the_first_review_only(tmp_path: Path) -> None:
    store = tmp_path / "pins.json"
    PinStore(str(store)).save("srv", PinTable({"echo": pin_tool({"name": "echo"})}, {}))
    setup = PinSetup.prepare(str(store), ["srv"], parse_policy("version: 1\n", "p.yaml"))
    first = setup.review()
    first.table.pending["junk"] = pin_tool({"name": "junk"})  # what a failed review may leave behind
    assert setup.review().table.pending == {}  # read again from the store


def test_a_save_writes_one_line_per_server_and_keeps_the_others_as_they_are(tmp_path: Path) -> None:
    path = tmp_path / "pins.json"
    other = {"tools": {"x": {"sha256": "s", "fields": {}}}, "updated": "then", "extra": [1, 2]}
    path.write_text(json.dumps({"version": 1, "servers": {"other": other}}, indent=4))
    PinStore(str(path)).save("mine", PinTable({"echo": pin_tool({"name": "echo"})}, {}))
    text = path.read_text()
    assert len(text.splitlines()) == 4  # opening, one line per server, closing
    servers = json.loads(text)["servers"]
    assert servers["other"] == other and set(servers["mine"]["tools"]) == {"echo"}
    assert PinStore(str(path)).load("mine") == PinTable({"echo": pin_tool({"name": "echo"})}, {})
