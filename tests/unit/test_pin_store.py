"""The pin store on disk: atomic, private, validated; and how a run decides whether pinning is on."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from lilith.errors import ConfigError
from lilith.policy.loader import parse_policy
from lilith.policy.pins import PinTable, pin_tool
from lilith.runtime.pin_store import PinSetup, PinStore, choose_pin_store, default_pin_store_path, server_key

ECHO = {"name": "echo", "description": "Echo."}


def test_round_trip_keeps_other_servers_and_is_private(tmp_path: Path) -> None:
    store = PinStore(str(tmp_path / "sub" / "pins.json"))
    assert store.load("a") is None  # no file yet: an empty store
    table = PinTable({"echo": pin_tool(ECHO)}, {"new": pin_tool({"name": "new"})})
    store.save("a", table)
    store.save("b", PinTable({}, {}))
    assert store.load("a") == table
    assert set(store.servers()) == {"a", "b"}
    assert stat.S_IMODE(os.stat(store.path).st_mode) == 0o600
    # no temporary file left behind (the lock file stays: see lilith.runtime.pin_store)
    assert sorted(os.listdir(tmp_path / "sub")) == ["pins.json", "pins.json.lock"]
    assert store.remove("b") and not store.remove("b")
    assert set(store.servers()) == {"a"}


@pytest.mark.parametrize(
    "content",
    [
        "not json",
        '{"version": 2, "servers": {}}',
        '{"version": 1, "servers": []}',
        '{"version": 1, "servers": {"a": []}}',
        '{"version": 1, "servers": {"a": {"tools": {"echo": {"sha256": 5}}}}}',
        '{"version": 1, "servers": {"a": {"tools": {"echo": {"sha256": "x", "fields": {"d": 1}}}}}}',
    ],
)
def test_a_damaged_store_is_an_error_not_an_empty_one(tmp_path: Path, content: str) -> None:
    path = tmp_path / "pins.json"
    path.write_text(content)
    with pytest.raises(ConfigError, match="pin store"):
        PinStore(str(path)).load("a")


def test_a_failed_write_leaves_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = PinStore(str(tmp_path / "pins.json"))
    store.save("a", PinTable({"echo": pin_tool(ECHO)}, {}))
    before = Path(store.path).read_bytes()

    def full_disk(source: str, target: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", full_disk)
    with pytest.raises(ConfigError, match=r"cannot write pin store .*No space left"):
        store.save("a", PinTable({}, {}))
    assert Path(store.path).read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["pins.json", "pins.json.lock"]


def test_server_keys_and_default_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert server_key(["python", "my server.py", "--x"]) == "python 'my server.py' --x"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    monkeypatch.delenv("LILITH_PIN_STORE", raising=False)
    assert default_pin_store_path() == str(tmp_path / "lilith" / "pins.json")
    assert choose_pin_store(None) == default_pin_store_path()
    monkeypatch.setenv("LILITH_PIN_STORE", "/elsewhere.json")
    assert choose_pin_store(None) == "/elsewhere.json"
    assert choose_pin_store("/explicit.json") == "/explicit.json"


def test_setup_turns_pinning_on_with_a_store_or_the_policy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LILITH_PIN_STORE", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    plain = parse_policy("version: 1\n", "p.yaml")
    off = PinSetup.prepare(None, ["srv"], plain)
    assert off.default_mode == "off" and off.preloaded is None
    named = tmp_path / "pins.json"
    on = PinSetup.prepare(str(named), ["srv"], plain)
    assert on.default_mode == "enforce" and on.preloaded == (None,)
    by_policy = PinSetup.prepare(None, ["srv"], parse_policy("version: 1\npin_mode: audit\n", "p.yaml"))
    assert by_policy.store.path == str(tmp_path / "config" / "lilith" / "pins.json")
    assert by_policy.preloaded == (None,)
    named.write_text("{broken")
    with pytest.raises(ConfigError):  # checked before the server starts
        PinSetup.prepare(str(named), ["srv"], plain)
    assert (
        PinSetup.prepare(str(named), ["srv"], parse_policy("version: 1\npin_mode: off\n", "p.yaml")).preloaded is None
    )
