"""Second review of the audit readers and policy tests, through the real CLI on logs a real Lilith wrote:
``audit query`` never answers what the log contradicts, however its index was edited; ``audit tail -n N``
cuts the last N lines right across block boundaries; ``audit verify`` never shows a crafted value raw; and
``policy test`` refuses a file that asserts nothing or holds a value of the wrong type (exit 2, file:line)."""

from __future__ import annotations

import hashlib
import json
import os
import pty
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import StartProxy
from tests.integration.harness import LILITH, drain_pty

HOSTILE = "\x1b]0;pwned\x07\x1b[2J\x9b31m\u202egnp.exe"  # OSC, CSI, C1 CSI, bidi override


def _lilith(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([LILITH, *args], capture_output=True, text=True, timeout=60, env=env)


def _query(log: Path, *filters: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return _lilith("audit", "query", str(log), "--json", *filters, env=env)


def _records(log: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.read_bytes().splitlines()]


def _lines_where(log: Path, **wanted: str) -> list[str]:
    """The truth: the log's own lines whose fields are ``wanted``, in log order."""
    lines = log.read_text().splitlines()
    return [line for line in lines if all(json.loads(line).get(k) == v for k, v in wanted.items())]


@pytest.fixture
def log(start_proxy: StartProxy) -> Path:
    """A log of a real run: echo allowed three times, delete_file denied twice."""
    run = start_proxy()
    run.proxy.initialize()
    for n, tool in enumerate(["echo", "delete_file", "echo", "delete_file", "echo"]):
        run.proxy.tool(tool, {"n": n})
    assert run.proxy.close() == 0
    assert len(_lines_where(run.audit, decision="deny")) == 2
    return run.audit


def _edit_index(log: Path, *statements: str) -> None:
    with sqlite3.connect(f"{log}.idx.sqlite") as db:
        for statement in statements:
            db.execute(statement)
    db.close()


def test_an_index_edited_to_hide_or_relabel_records_is_rebuilt_never_believed(log: Path) -> None:
    denied = _lines_where(log, decision="deny")
    echoed = _lines_where(log, decision="allow", tool="echo")
    assert _query(log, "--decision", "deny").stdout.splitlines() == denied  # builds the index
    last = log.read_bytes().splitlines(keepends=True)[-1]
    for edits in (
        ["UPDATE records SET decision = 'allow', tool = 'echo' WHERE decision = 'deny'"],  # the review's edit
        ["DELETE FROM records WHERE decision = 'deny'"],
        ["DELETE FROM records WHERE pos = (SELECT max(pos) FROM records WHERE decision = 'deny')"],
        # every record forgotten, and the resume point moved to the end as if they had been indexed
        [
            "DELETE FROM records",
            f"UPDATE files SET indexed_to = {log.stat().st_size}, last_start = {log.stat().st_size - len(last)},"
            f" last_hash = '{hashlib.sha256(last[:-1]).hexdigest()}'",
        ],
    ):
        _edit_index(log, *edits)
        deny = _query(log, "--decision", "deny")
        echo = _query(log, "--decision", "allow", "--tool", "echo")
        assert (deny.returncode, deny.stdout.splitlines()) == (0, denied), edits
        assert (echo.returncode, echo.stdout.splitlines()) == (0, echoed), edits


def _relabel_and_reseal_without_key(log: Path) -> None:
    """Denials relabelled as allowed echoes, and the index sealed again as anyone without the key can."""
    from lilith.audit.index_seal import IndexSeal  # here: this module also runs against the code before the fix

    with sqlite3.connect(f"{log}.idx.sqlite") as db:
        db.execute("UPDATE records SET decision = 'allow', tool = 'echo' WHERE decision = 'deny'")
        plain = IndexSeal(None)
        plain.store(db, plain.rescan(db))
    db.close()


def test_an_index_resealed_by_someone_without_the_audit_key_is_rebuilt(log: Path) -> None:
    denied = _lines_where(log, decision="deny")
    assert _query(log, "--decision", "deny").stdout.splitlines() == denied  # sealed with the run's key
    _relabel_and_reseal_without_key(log)
    done = _query(log, "--decision", "deny")
    assert (done.returncode, done.stdout.splitlines()) == (0, denied)


def test_a_hit_the_log_contradicts_is_said_and_the_query_answered_again(log: Path, tmp_path: Path) -> None:
    # No audit key at hand: an index anyone can seal again. What it adds is still checked against the log.
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "no-config")}
    echoed = _lines_where(log, decision="allow", tool="echo")
    assert _query(log, "--decision", "allow", "--tool", "echo", env=env).stdout.splitlines() == echoed
    _relabel_and_reseal_without_key(log)
    done = _query(log, "--decision", "allow", "--tool", "echo", env=env)
    assert (done.returncode, done.stdout.splitlines()) == (0, echoed)
    assert "does not match the log" in done.stderr and "rebuilding it" in done.stderr


def test_a_log_line_rewritten_under_the_index_is_answered_as_the_log_has_it(log: Path) -> None:
    echoed = _lines_where(log, decision="allow", tool="echo")
    assert _query(log, "--decision", "allow", "--tool", "echo").stdout.splitlines() == echoed
    lines = log.read_bytes().splitlines(keepends=True)
    first = lines.index(echoed[0].encode() + b"\n")  # not the last line: the index resumes after it
    lines[first] = lines[first].replace(b'"echo"', b'"ecxo"', 1)  # same length, same session and seq
    assert json.loads(lines[first])["tool"] == "ecxo"
    log.write_bytes(b"".join(lines))
    done = _query(log, "--decision", "allow", "--tool", "echo")
    assert (done.returncode, done.stdout.splitlines()) == (0, echoed[1:])
    assert "does not match the log" in done.stderr


def test_tail_cuts_the_last_lines_right_across_block_boundaries(log: Path, tmp_path: Path) -> None:
    block = 65536  # what tail reads at a time, from the end
    records = log.read_bytes().splitlines(keepends=True)
    lines: list[bytes] = []
    while sum(map(len, lines)) < 3 * block:  # records of the real run, again and again, of varied lengths
        pad = b',"pad":"' + b"x" * (len(lines) % 97) + b'"}\n'
        lines.append(records[len(lines) % len(records)].replace(b"}\n", pad))
    # The last 40 lines made exactly one block long: a line ends right where the first block read starts.
    short = block - sum(map(len, lines[-40:]))
    assert short > 0
    lines[-40] = lines[-40].replace(b'"}\n', b"y" * short + b'"}\n')
    assert sum(map(len, lines[-40:])) == block
    big = tmp_path / "big.jsonl"
    big.write_bytes(b"".join(lines))
    expected = [line.rstrip(b"\n").decode() for line in lines]
    for count in (0, 1, 39, 40, 41, len(lines) - 1, len(lines), len(lines) + 5):
        done = _lilith("audit", "tail", str(big), "-n", str(count), "--json")
        assert done.returncode == 0, done.stderr
        assert done.stdout.splitlines() == (expected[-count:] if count else []), count
    with big.open("ab") as torn:  # a record still being written is not shown
        torn.write(b'{"session":"s","seq":')
    assert _lilith("audit", "tail", str(big), "-n", "3", "--json").stdout.splitlines() == expected[-3:]


def _on_a_terminal(*args: str) -> tuple[int, bytes]:
    leader, follower = pty.openpty()
    try:
        with subprocess.Popen([LILITH, *args], stdout=follower, stderr=follower) as running:
            os.close(follower)
            shown = drain_pty(leader, 30)
            code = running.wait(timeout=30)
        return code, shown
    finally:
        os.close(leader)


def _rechained(records: list[dict[str, Any]]) -> bytes:
    """``records`` as a log whose chain is intact (what anyone can forge without the key)."""
    out: list[bytes] = []
    previous = "0" * 64
    for record in records:
        line = json.dumps({**record, "prev": previous}, ensure_ascii=False, separators=(",", ":")).encode()
        out.append(line)
        previous = hashlib.sha256(line).hexdigest()
    return b"\n".join(out) + b"\n"


def test_verify_without_a_key_never_shows_a_crafted_value_raw(start_proxy: StartProxy, tmp_path: Path) -> None:
    first = start_proxy()  # a log, then a new one where it was: the new one opens with log_started_over
    first.proxy.initialize()
    assert first.proxy.close() == 0
    first.audit.rename(tmp_path / "archived.jsonl")
    second = start_proxy("--audit-log", str(first.audit))
    second.proxy.initialize()
    assert second.proxy.close() == 0
    records = _records(first.audit)
    assert records[0]["event"] == "log_started_over"
    forged = tmp_path / "forged.jsonl"
    records[0].update(head_session=HOSTILE, head_hash="\x1b[1A\x1b[2Kok: all fine\x1b[8m", head_seq=HOSTILE)
    forged.write_bytes(_rechained(records))
    code, shown = _on_a_terminal("audit", "verify", "--no-key", str(forged))
    text = shown.decode().replace("\r\n", "\n")
    assert code == 0, text  # the chain is intact: only what it shows is in question
    assert "started over after an earlier one ended at session <invalid> seq <invalid>" in text
    assert "--last-hash <invalid>" in text
    assert all(line.isprintable() for line in text.split("\n")), text
    records[0].update(event="head_mismatch", problem=f"{HOSTILE}\nok: 9 records, chain intact")
    forged.write_bytes(_rechained(records))
    code, shown = _on_a_terminal("audit", "verify", "--no-key", str(forged))
    text = shown.decode().replace("\r\n", "\n")
    assert code == 1
    assert text.endswith("\n") and text[:-1].isprintable(), text  # one line, with nothing raw in it
    assert "its head file did not match: \\u001b]0;pwned\\u0007" in text and "\\u000aok: 9 records" in text


@pytest.mark.parametrize(
    ("cases", "line", "message"),
    [
        ("cases: []\n", 1, "'cases' is empty"),
        ("cases:\n  - name: nothing\n    calls: []\n", 3, "'calls' is empty"),
        ("cases:\n  - name: bad cwd\n    cwd: 5\n    calls:\n      - {tool: echo, expect: allow}\n", 3, "cwd must be"),
        ("cases:\n  - cwd: relative/dir\n    calls:\n      - {tool: echo, expect: allow}\n", 2, "cwd must be"),
        ("cases:\n  - name: [a]\n    calls:\n      - {tool: echo, expect: allow}\n", 2, "name must be text"),
        ("cases:\n  - calls:\n      - {tool: 5, expect: allow}\n", 3, "tool must be text"),
        ("cases:\n  - calls:\n      - {tool: echo, args: [1], expect: allow}\n", 3, "args must be a mapping"),
        ("cases:\n  - calls:\n      - {tool: echo, expect: allow, rule: 7}\n", 3, "rule must be text"),
        ("cases:\n  - calls:\n      - {resource: 'file:///x', args: {}, expect: deny}\n", 3, "belong to a tool call"),
        ("cases:\n  - calls:\n      - {tool: echo, expect: allow, at: .inf}\n", 3, "at must be a number"),
        (
            "cases:\n  - calls:\n      - {tool: echo, expect: allow, at: 5}\n      - {tool: echo, expect: allow, at: 1}\n",
            4,
            "at goes back in time",
        ),
    ],
)
def test_a_policy_test_file_that_asserts_nothing_or_holds_a_wrong_type_is_an_error_in_the_file(
    tmp_path: Path, cases: str, line: int, message: str
) -> None:
    policy = tmp_path / "p.yaml"
    policy.write_text("version: 1\nstatic_rules:\n  echo: ALLOW\n")
    table = tmp_path / "cases.yaml"
    table.write_text(cases)
    done = _lilith("policy", "test", str(policy), str(table))
    assert (done.returncode, done.stdout) == (2, ""), done.stdout + done.stderr
    assert done.stderr.startswith(f"{table}:{line}:") and message in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
