"""The audit readers on tampered or hand-made records: whatever a field holds, a line is rendered (never an
exception), nothing reaches the terminal unescaped, and the index stores what the read-back compares."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lilith.audit import query as query_module
from lilith.audit.index import StaleIndexError, record_key
from lilith.audit.query import Filters, query
from lilith.audit.render import json_line, render, render_line
from lilith.errors import AuditReadError

_OUR_COLOURS = re.compile(r"\x1b\[\d*m")
_HOSTILE = "\x1b]0;pwned\x07\x1b[2J\x9b31m\u202e\u2028\U000e0041"  # OSC, CSI, C1 CSI, bidi, separator, tag

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(1 << 63), max_value=(1 << 64) - 1)  # what orjson reads as ints
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
    | st.sampled_from([_HOSTILE, 1e300, -1e300, 1e17, -1e17, 7.0])
)
json_values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3)
)
FIELDS = ["ts", "session", "seq", "event", "decision", "method", "tool", "arguments", _HOSTILE]


def _printable(text: str) -> bool:
    return _OUR_COLOURS.sub("", text).isprintable()


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(FIELDS), json_values), st.sampled_from(["decision", "result", 5]), st.booleans())
def test_any_value_in_any_field_renders_one_printable_line(fields: dict[str, Any], event: Any, colour: bool) -> None:
    raw = orjson.dumps({"event": event, **fields})
    line = render_line(raw, colour)
    assert _printable(line)
    assert "\n" not in line


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from(FIELDS), json_values))
def test_json_on_a_terminal_is_printable_and_still_the_same_record(fields: dict[str, Any]) -> None:
    raw = orjson.dumps(fields)
    shown = json_line(raw, terminal=True)
    assert shown.isprintable()
    assert orjson.loads(shown) == orjson.loads(raw)  # escapes inside strings stand for the same characters
    assert json_line(raw, terminal=False) == raw.decode()  # through a pipe: the log's own bytes


def test_a_line_that_is_not_json_is_escaped_on_a_terminal_only() -> None:
    raw = b"\x1b]0;pwned\x07{torn \xc2\x9b"
    assert json_line(raw, terminal=True) == "\\u001b]0;pwned\\u0007{torn \\u009b"
    assert json_line(raw, terminal=False) == raw.decode()


def test_seq_and_every_other_envelope_field_are_escaped() -> None:
    record = {"ts": _HOSTILE, "session": _HOSTILE, "seq": _HOSTILE, "event": _HOSTILE, _HOSTILE: 1}
    line = render(record, colour=False)
    assert line.isprintable()
    assert line.count("\\u001b]0;pwned\\u0007") == 4
    assert " \\u001b]0;pwne " in line  # the session, cut to its first 8 characters before escaping
    assert "\\udb40\\udc41" in line  # an invisible tag character, as a JSON surrogate pair


@pytest.mark.parametrize("ts", [1e300, -1e300, (1 << 64) - 1, -(1 << 63), 1e17])
def test_a_ts_out_of_range_is_shown_as_it_is(ts: float) -> None:
    line = render({"ts": ts, "session": "s", "seq": 1, "event": "x"}, colour=False)
    assert line.split()[0] == orjson.dumps(ts).decode()
    assert line.split()[1:4] == ["s", "1", "x"]


def test_a_ts_that_is_not_a_number_is_quoted_so_it_cannot_pass_for_a_time() -> None:
    line = render({"ts": "2026-01-01 00:00:00.000", "session": "s", "seq": 1, "event": "x"}, colour=False)
    assert line.startswith('"2026-01-01 00:00:00.000" s')
    assert render({"ts": 1.5, "seq": "7", "event": "x"}, colour=False).split()[2:4] == ["?", '"7"']


def test_values_nested_deeper_than_orjson_writes_are_cut_not_a_crash() -> None:
    raw = b'{"event":"x","arguments":' + b"[" * 1000 + b"]" * 1000 + b"}"
    line = render_line(raw, colour=False)
    assert line.endswith('["…"]' + "]" * 63) and "arguments=[[[[" in line


def test_long_event_decision_and_field_names_are_cut_to_size() -> None:
    line = render({"event": "decision", "decision": "d" * 5000, "k" * 5000: 1}, colour=False)
    assert len(line) < 500


@pytest.mark.parametrize(
    ("record", "key"),
    [
        ({"session": "s", "seq": 7}, ("s", 7)),
        ({"session": "s", "seq": 7.0}, ("s", None)),
        ({"session": 5, "seq": "7"}, (None, None)),
        ({"session": None, "seq": True}, (None, None)),
        ({"seq": 1 << 63}, (None, None)),  # beyond SQLite's INTEGER: never handed to it
        ({"seq": -(1 << 63)}, (None, -(1 << 63))),
    ],
)
def test_the_key_a_hit_is_checked_by_is_what_the_index_can_store(record: dict[str, Any], key: tuple[Any, ...]) -> None:
    assert record_key(record) == key


def test_query_finds_records_whatever_their_envelope_holds(tmp_path: Path) -> None:
    odd = [7.0, "7", True, None, (1 << 64) - 1, 1 << 63, {"n": 1}]
    lines = [orjson.dumps({"ts": 1.0, "session": "s", "seq": seq, "event": "decision", "tool": "t"}) for seq in odd]
    lines += [
        orjson.dumps({"ts": ts, "session": session, "seq": 1, "event": "x"})
        for ts, session in [(1e300, 5), ((1 << 64) - 1, ["s"]), (-(1 << 63), None)]
    ]
    lines.append(orjson.dumps({"session": "s", "seq": 9, "event": "record_revoked", "revoked_seq": (1 << 64) - 1}))
    log = tmp_path / "audit.jsonl"
    log.write_bytes(b"\n".join(lines) + b"\n")
    for _ in range(2):  # built, then read from the index on disk
        answer = query(str(log), Filters())
        assert answer.lines == lines and answer.unreadable == []
    assert query(str(log), Filters(tool="t")).lines == lines[: len(odd)]
    assert query(str(log), Filters(since=1e200)).lines == [lines[len(odd)]]  # indexed as the number it is


def test_a_log_that_keeps_changing_under_the_query_is_an_error_not_a_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = tmp_path / "audit.jsonl"
    log.write_bytes(orjson.dumps({"session": "s", "seq": 1, "event": "x"}) + b"\n")
    checks: list[bytes] = []

    def always_stale(line: bytes, hit: Any) -> bytes:
        checks.append(line)
        raise StaleIndexError(hit.path)

    monkeypatch.setattr(query_module, "_checked", always_stale)
    with pytest.raises(AuditReadError, match="kept changing"):
        query(str(log), Filters())
    assert len(checks) == 3  # a rebuild, then one more try
    assert not os.path.exists(str(log) + ".idx.sqlite")  # discarded, never trusted


def test_a_live_log_whose_name_ends_in_a_number_is_queried_with_its_rotated_files(tmp_path: Path) -> None:
    names = ["audit.2026.1", "audit.2026.2", "audit.2026"]
    for name in names:
        (tmp_path / name).write_bytes(orjson.dumps({"session": "s", "seq": 1, "event": "x", "file": name}) + b"\n")
    found = query(str(tmp_path / "audit.2026"), Filters()).lines
    assert [orjson.loads(line)["file"] for line in found] == names
    alone = query(str(tmp_path / "audit.2026.2"), Filters()).lines  # a rotated file is still read alone
    assert [orjson.loads(line)["file"] for line in alone] == ["audit.2026.2"]
