"""``lilith audit tail`` and ``query`` on suspicious logs, through the real CLI: a FIFO planted in the rotated
set is never waited on, tampered envelope fields and a tampered index never end in a traceback, and nothing
from the log reaches a terminal unescaped, with or without ``--json``."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import sqlite3
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import StartProxy
from tests.integration.harness import LILITH, drain_pty

HOSTILE = "\x1b]0;pwned\x07\x1b[2J\x9b31m\u202egnp.exe\U000e0041"  # OSC, CSI, C1 CSI, bidi override, tag
_OUR_COLOURS = re.compile(r"\x1b\[\d*m")


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``lilith audit ...``; the timeout fails a command that waits on a FIFO."""
    return subprocess.run([LILITH, "audit", *args], capture_output=True, text=True, timeout=20, env=env)


def _lines(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines()


def _set(log: Path) -> list[Path]:
    rotated = [p for p in log.parent.iterdir() if p.name.startswith(log.name + ".") and p.suffix[1:].isdigit()]
    return [*sorted(rotated, key=lambda p: int(p.suffix[1:])), log]


def _records(log: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for path in _set(log) for line in _lines(path) if line.startswith(b"{")]


@pytest.fixture
def log(start_proxy: StartProxy, tmp_path: Path) -> Path:
    """A log set written by a real Lilith run: rotated files and the live one, with a hostile argument."""
    path = tmp_path / "audit.jsonl"
    run = start_proxy("--audit-log", str(path), "--audit-rotate-size", "3K")
    run.proxy.initialize()
    for n, tool in enumerate(["echo", "delete_file", "read_notes", "echo"] * 3):
        run.proxy.tool(tool, {"n": n, "text": HOSTILE if n == 0 else "x"})
    assert run.proxy.close() == 0
    assert len(_set(path)) > 2, "the fixture should span rotated files"
    return path


def _tamper(log: Path, changes: list[dict[str, Any]]) -> None:
    """Apply each change to one decision record of the set, in order (written as JSON allows: C1 and bidi
    characters raw)."""
    files = {path: _lines(path) for path in _set(log)}
    decisions = [(path, n) for path, lines in files.items() for n, line in enumerate(lines) if b'"decision"' in line]
    assert len(decisions) >= len(changes)
    for (path, n), change in zip(decisions, changes, strict=False):
        files[path][n] = json.dumps({**json.loads(files[path][n]), **change}, ensure_ascii=False).encode()
    for path, lines in files.items():
        path.write_bytes(b"\n".join(lines) + b"\n")


def test_query_skips_a_fifo_planted_at_a_rotated_name_and_says_so(log: Path) -> None:
    expected = _records(log)
    fifo = Path(f"{log}.99")
    os.mkfifo(fifo)
    done = _cli("query", str(log), "--json")
    assert done.returncode == 1  # the answer is incomplete, and the exit status says so
    assert f"skipped '{fifo}': not a regular file" in done.stderr
    assert [json.loads(line) for line in done.stdout.splitlines()] == expected
    alone = _cli("query", str(fifo), "--json")
    assert (alone.returncode, alone.stdout) == (1, "")
    assert "not a regular file" in alone.stderr


def test_tail_refuses_what_is_not_a_regular_file_without_waiting(tmp_path: Path) -> None:
    fifo = tmp_path / "audit.jsonl"
    os.mkfifo(fifo)
    for target in (str(fifo), "/dev/zero", str(tmp_path)):
        for follow in ([], ["-f"]):
            done = _cli("tail", target, *follow)
            assert done.returncode == 2, (target, follow)
            assert f"'{target}' is not a regular file" in done.stderr
            assert done.stdout == ""


def _read_lines(stream: Any, count: int, timeout: float = 10.0) -> list[bytes]:
    lines: list[bytes] = []
    deadline = time.monotonic() + timeout
    while len(lines) < count:
        ready, _, _ = select.select([stream], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            break
        line = stream.readline()
        if not line:
            break
        lines.append(line.rstrip(b"\n"))
    return lines


def test_tail_follow_skips_a_fifo_in_the_rotated_set_and_waits_out_one_at_the_live_name(
    log: Path, tmp_path: Path
) -> None:
    spare = [line for line in _lines(_set(log)[0]) if line.startswith(b"{")]
    numbers = [int(p.suffix[1:]) for p in _set(log)[:-1]]
    follow = subprocess.Popen(
        [LILITH, "audit", "tail", "-f", "-n", "1", "--json", str(log)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        bufsize=0,  # unbuffered: select() sees every line that has not been read
    )
    try:
        assert _read_lines(follow.stdout, 1) == _lines(log)[-1:]  # following FILE now
        # Rotated by hand: the live file becomes N+1, a FIFO sits at N+2, a new live file comes after it.
        fifo = Path(f"{log}.{max(numbers) + 2}")
        os.mkfifo(fifo)
        with log.open("ab") as live:
            live.write(spare[0] + b"\n")  # the last record before rotation is read too
        os.rename(log, f"{log}.{max(numbers) + 1}")
        staged = tmp_path / "staged"
        staged.write_bytes(b"\n".join(spare[1:4]) + b"\n")
        os.rename(staged, log)
        assert _read_lines(follow.stdout, 4) == spare[:4]
        # The live name itself becomes a FIFO for a while: named once, waited out, then followed again.
        os.rename(log, f"{log}.{max(numbers) + 3}")
        os.mkfifo(log)
        time.sleep(1.0)  # several polls
        staged.write_bytes(spare[4] + b"\n")
        os.rename(staged, log)
        assert _read_lines(follow.stdout, 1) == spare[4:5]
        assert follow.poll() is None
    finally:
        follow.terminate()
        _, errors = follow.communicate(timeout=10)
    assert errors.decode().count(f"skipping '{fifo}': not a regular file") == 1
    assert errors.decode().count(f"skipping '{log}': not a regular file") == 1  # not once per poll
    assert b"Traceback" not in errors


def test_tampered_envelope_fields_are_shown_never_a_traceback(log: Path) -> None:
    odd: list[dict[str, Any]] = [
        {"seq": 7.0},
        {"seq": "7"},
        {"seq": True},
        {"seq": 2**64 - 1},
        {"seq": 2**63},
        {"seq": None},
        {"session": 5},
        {"session": ["s"]},
        {"ts": 1e300},
        {"ts": -1e300},
        {"ts": 2**64 - 1},
        {"ts": "yesterday"},
    ]
    _tamper(log, odd)
    with log.open("ab") as live:
        live.write(b'{"session":"s","seq":1,"event":"record_revoked","revoked_seq":18446744073709551615}\n')
    expected = _records(log)
    for _ in range(2):  # building the index, then reading it back
        done = _cli("query", str(log), "--json")
        assert done.returncode == 0, done.stderr
        assert [json.loads(line) for line in done.stdout.splitlines()] == expected
    found = _cli("query", str(log), "--decision", "deny", "--json")
    assert found.returncode == 0, found.stderr
    assert [json.loads(line) for line in found.stdout.splitlines()] == [
        r for r in expected if r.get("decision") == "deny"
    ]
    shown: dict[str, list[str]] = {"query": [], "tail": []}
    for command, path in [("query", log)] + [("tail", path) for path in _set(log)]:  # tail reads one file
        done = _cli(command, str(path), *(["-n", "1000"] if command == "tail" else []))
        assert done.returncode == 0, done.stderr
        assert "Traceback" not in done.stderr
        shown[command] += done.stdout.splitlines()
    assert shown["tail"] == shown["query"]
    by_start = {line.split()[0]: line for line in shown["query"]}
    for ts in ("1e+300", "-1e+300", "18446744073709551615", '"yesterday"'):  # shown as they are
        assert ts in by_start
    assert any(line.split()[3:5] == ["7.0", "decision"] for line in shown["query"])  # date, time, session, seq


def _on_a_terminal(*args: str) -> str:
    """What ``lilith audit ARGS`` shows on a real terminal (read while it runs: a pty holds only ~4 KiB)."""
    leader, follower = pty.openpty()
    try:
        with subprocess.Popen([LILITH, "audit", *args], stdout=follower, stderr=subprocess.PIPE) as running:
            os.close(follower)
            shown = drain_pty(leader, 20)
            assert running.wait(timeout=20) == 0, running.stderr.read() if running.stderr else ""
        return shown.decode().replace("\r\n", "\n")
    finally:
        os.close(leader)


def test_nothing_from_the_log_reaches_a_terminal_unescaped_json_or_not(log: Path) -> None:
    _tamper(
        log,
        [
            {"seq": HOSTILE},
            {"session": HOSTILE},
            {"ts": HOSTILE},
            {"event": HOSTILE},
            {"decision": HOSTILE, "tool": HOSTILE, HOSTILE: HOSTILE},
        ],
    )
    with log.open("ab") as live:  # a line that is not JSON: raw control bytes are possible there
        live.write(b"\x1b]0;pwned\x07\xc2\x9b31m not a record\n")
    raw_lines = [line for path in _set(log) for line in _lines(path)]
    assert any("\x9b".encode() in line for line in raw_lines) and any(b"\x1b" in line for line in raw_lines)
    for args in (["tail", "-n", "1000"], ["tail", "-n", "1000", "--json"], ["query"], ["query", "--json"]):
        paths = _set(log) if args[0] == "tail" else [log]  # tail reads one file
        shown = "".join(_on_a_terminal(*args, str(path)) for path in paths)
        assert shown.count("\n") >= len(raw_lines) - 1, args  # every record (query leaves the torn line out)
        for line in shown.splitlines():
            assert _OUR_COLOURS.sub("", line).isprintable(), (args, line)
        if "--json" in args:  # escaped inside strings: still the same records
            records = [json.loads(line) for line in shown.splitlines() if line.startswith("{")]
            assert records == [json.loads(line) for line in raw_lines if line.startswith(b"{")]
    piped = _cli("query", str(log), "--json")  # not a terminal: the log's own bytes
    assert piped.stdout.encode().splitlines() == [line for line in raw_lines if line.startswith(b"{")]


def test_an_index_edited_into_nonsense_is_rebuilt_never_a_traceback(log: Path) -> None:
    expected = _cli("query", str(log), "--decision", "deny", "--json")
    assert expected.returncode == 0 and expected.stdout
    index = Path(f"{log}.idx.sqlite")
    for damage in (
        "UPDATE files SET indexed_to = 'x'",
        "UPDATE files SET last_start = -100",
        "UPDATE files SET indexed_to = 0.5",
        "UPDATE records SET pos = -5 - pos",
        "UPDATE records SET len = 'x'",
        "UPDATE records SET pos = 'x' || pos WHERE pos = (SELECT max(pos) FROM records)",
    ):
        with sqlite3.connect(index) as db:
            db.execute(damage)
        db.close()
        done = _cli("query", str(log), "--decision", "deny", "--json")
        assert (done.returncode, done.stdout, done.stderr) == (0, expected.stdout, ""), damage


def test_an_index_sqlite_cannot_read_gives_way_to_one_in_memory(log: Path) -> None:
    expected = _cli("query", str(log), "--decision", "deny", "--json")
    index = Path(f"{log}.idx.sqlite")
    data = bytearray(index.read_bytes())
    page = int.from_bytes(data[16:18], "big")
    assert len(data) > page  # the tables live past the first page, which stays intact
    data[page:] = b"\xa5" * (len(data) - page)
    index.write_bytes(bytes(data))
    done = _cli("query", str(log), "--decision", "deny", "--json")
    assert done.returncode == 0, done.stderr
    assert "malformed" in done.stderr and "indexing in memory" in done.stderr
    assert done.stdout == expected.stdout


def test_any_locale_shows_what_it_cannot_encode_as_escapes(start_proxy: StartProxy, tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    run = start_proxy("--audit-log", str(log))
    run.proxy.initialize()
    run.proxy.tool("echo", {"text": "café 日本"})
    assert run.proxy.close() == 0
    env = {**os.environ, "PYTHONIOENCODING": "ascii"}
    for command in (["tail"], ["query", "--event", "decision"]):
        done = _cli(*command, str(log), env=env)
        assert done.returncode == 0, done.stderr
        assert "caf\\xe9 \\u65e5\\u672c" in done.stdout
