"""Readable audit lines: colour only when asked for or on a terminal without NO_COLOR, and never raw control
characters from the log."""

from __future__ import annotations

import io
from typing import Any

import pytest

from lilith.audit.render import render, render_line, use_colour

ENVELOPE: dict[str, Any] = {"v": 1, "ts": 1_800_000_000.25, "session": "0123456789abcdef" * 2, "seq": 7}


def _decision(decision: str, **extra: Any) -> dict[str, Any]:
    return {**ENVELOPE, "event": "decision", "decision": decision, "method": "tools/call", "tool": "echo", **extra}


def test_a_decision_line_has_time_session_seq_event_and_what_was_decided() -> None:
    line = render(_decision("deny", rule="static_rules.echo", reason="no", arguments={"a": 1}), colour=False)
    assert ".250 01234567      7 decision        deny tools/call echo rule=static_rules.echo reason=no" in line
    assert line.endswith('arguments={"a":1}')
    assert "prev" not in line and "mac" not in line


@pytest.mark.parametrize(("decision", "code"), [("allow", "32"), ("deny", "31"), ("would-deny", "33")])
def test_decisions_are_coloured_when_colour_is_on(decision: str, code: str) -> None:
    assert f"\x1b[{code}m{decision}\x1b[0m" in render(_decision(decision), colour=True)
    assert "\x1b" not in render(_decision(decision), colour=False)


class FakeTty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_colour_auto_means_a_terminal_without_no_color(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    assert use_colour("auto", FakeTty())
    assert not use_colour("auto", io.StringIO())
    monkeypatch.setenv("NO_COLOR", "1")
    assert not use_colour("auto", FakeTty())
    assert use_colour("always", io.StringIO())  # an explicit flag overrides NO_COLOR
    assert not use_colour("never", FakeTty())


def test_escape_sequences_and_bidi_controls_from_the_log_are_shown_escaped() -> None:
    hostile = _decision("allow", tool="\x1b]0;pwned\x07echo", arguments={"x": "\x9b31m\u202etxt.exe"})
    line = render(hostile, colour=False)
    assert all(ch.isprintable() for ch in line)
    assert "\\u001b" in line and "\\u009b" in line and "\\u202e" in line


def test_other_events_show_their_fields_and_a_torn_line_is_named() -> None:
    line = render({**ENVELOPE, "event": "records_lost", "count": 3, "failure_mode": "continue"}, colour=False)
    assert line.endswith("records_lost    count=3 failure_mode=continue")
    assert render_line(b'{"v":1,"ts":1.0,"sess', colour=False) == "<not a record: 21 bytes>"


@pytest.mark.parametrize("event", ["head_mismatch", "record_revoked", "records_lost"])
def test_evidence_of_loss_or_tampering_is_red_on_a_terminal(event: str) -> None:
    assert f"\x1b[31m{event}" in render({**ENVELOPE, "event": event, "problem": "x"}, colour=True)


@pytest.mark.parametrize(
    ("content", "count", "expected"),
    [
        (b"", 5, []),
        (b"a\nb\nc\n", 2, [b"b", b"c"]),
        (b"a\nb\nc\n", 10, [b"a", b"b", b"c"]),
        (b"a\nb\n", 0, []),
        (b"a\nb\n{torn", 5, [b"a", b"b"]),  # an unfinished last line waits for its newline
        (b"".join(b"%06d\n" % n for n in range(50_000)), 3, [b"049997", b"049998", b"049999"]),  # many blocks back
    ],
)
def test_last_lines(tmp_path: Any, content: bytes, count: int, expected: list[bytes]) -> None:
    from lilith.audit.tail import last_lines

    path = tmp_path / "log"
    path.write_bytes(content)
    with path.open("rb") as handle:
        assert last_lines(handle, count) == expected
        assert handle.read() == content[content.rfind(b"\n") + 1 :]  # positioned after the last whole line
