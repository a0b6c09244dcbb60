"""``lilith audit tail`` and ``lilith audit query`` on logs written by real Lilith runs, through the real CLI."""

from __future__ import annotations

import json
import os
import pty
import sqlite3
import stat
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import StartProxy
from tests.integration.harness import LILITH, drain_pty

TOOLS = ["echo", "delete_file", "read_notes", "echo", "launch_rockets", "add"]


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([LILITH, "audit", *args], capture_output=True, text=True, timeout=30, env=env)


def _records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_bytes().splitlines() if line.startswith(b"{")]


def _session(start_proxy: StartProxy, log: Path, tools: list[str], rotate: str = "4K") -> None:
    run = start_proxy("--audit-log", str(log), "--audit-rotate-size", rotate)
    run.proxy.initialize()
    for n, tool in enumerate(tools):
        run.proxy.tool(tool, {"n": n, "a": 1, "b": 2, "path": "/tmp/x"})
    assert run.proxy.close() == 0


@pytest.fixture
def log(start_proxy: StartProxy, tmp_path: Path) -> Path:
    path = tmp_path / "audit.jsonl"
    _session(start_proxy, path, TOOLS * 3)
    _session(start_proxy, path, TOOLS)
    assert list(tmp_path.glob("audit.jsonl.[0-9]*")), "the fixture should span rotated files"
    return path


def _all_records(log: Path) -> list[dict[str, Any]]:
    rotated = sorted(log.parent.glob(log.name + ".[0-9]*"), key=lambda p: int(p.name.rsplit(".", 1)[1]))
    return [r for path in [*rotated, log] for r in _records(path)]


def _query_json(log: Path, *filters: str) -> list[dict[str, Any]]:
    done = _cli("query", str(log), *filters, "--json")
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


def test_query_filters_across_the_rotated_set_and_prints_the_records_themselves(log: Path) -> None:
    everything = _all_records(log)
    sessions = list(dict.fromkeys(r["session"] for r in everything))
    assert len(sessions) == 2
    denied = _query_json(log, "--decision", "deny")
    assert denied == [r for r in everything if r.get("decision") == "deny"]
    assert {r["tool"] for r in denied} == {"delete_file", "launch_rockets"}
    assert _query_json(log, "--tool", "echo", "--event", "decision") == [
        r for r in everything if r["event"] == "decision" and r["tool"] == "echo"
    ]
    assert _query_json(log, "--tool", "read_*") == [r for r in everything if r.get("tool") == "read_notes"]
    second = _query_json(log, "--session", sessions[1][:8])
    assert second == [r for r in everything if r["session"] == sessions[1]]
    assert [r["event"] for r in _query_json(log, "--event", "session_start")] == ["session_start"] * 2
    assert len(_query_json(log, "--since", "1h")) == len(everything)
    assert _query_json(log, "--since", "2999-01-01T00:00:00") == []
    middle = everything[len(everything) // 2]["ts"]
    iso = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(middle + 1))
    assert _query_json(log, "--until", iso) == [r for r in everything if r["ts"] <= int(middle) + 1]
    raw_lines = {line for path in log.parent.glob("audit.jsonl*") for line in path.read_bytes().splitlines()}
    done = _cli("query", str(log), "--decision", "deny", "--json")
    assert all(line.encode() in raw_lines for line in done.stdout.splitlines())  # byte for byte from the log


def test_the_index_grows_incrementally_and_is_rebuilt_when_the_log_is_replaced(
    start_proxy: StartProxy, log: Path
) -> None:
    index = Path(str(log) + ".idx.sqlite")
    before = len(_query_json(log))
    assert index.exists()

    def indexed() -> dict[str, int]:
        with sqlite3.connect(index) as db:
            return {Path(name).name: offset for name, offset in db.execute("SELECT name, indexed_to FROM files")}

    assert indexed()[log.name] == log.stat().st_size
    rotated_before = {name: offset for name, offset in indexed().items() if name != log.name}
    _session(start_proxy, log, ["echo"])
    after = _query_json(log)
    assert len(after) > before
    assert after == _all_records(log)
    still = indexed()
    assert all(still[name] == offset for name, offset in rotated_before.items() if name in still)
    assert still[log.name] == log.stat().st_size

    # Replaced in place by a shorter, different log: the index must not show the old records.
    for path in log.parent.glob("audit.jsonl.[0-9]*"):
        path.unlink()
    log.unlink()
    _session(start_proxy, log, ["delete_file"], rotate="1G")
    assert _query_json(log) == _records(log)
    assert [r["tool"] for r in _query_json(log, "--decision", "deny")] == ["delete_file"]


def test_a_corrupted_index_is_rebuilt_never_trusted(log: Path) -> None:
    expected = _query_json(log, "--decision", "deny")
    with sqlite3.connect(str(log) + ".idx.sqlite") as db:
        db.execute("UPDATE records SET pos = pos + 7")  # every offset now points into the middle of a line
    assert _query_json(log, "--decision", "deny") == expected


def test_a_revoked_allow_is_found_as_revoked_never_as_allow(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A log as Lilith writes it under --audit-fsync always when one flush fails (writer.record_revoked).
    from lilith.audit.writer import AuditFile
    from lilith.errors import AuditWriteError

    key_file = tmp_path / "audit.key"
    key_file.write_bytes(b"k" * 32)
    path = tmp_path / "audit.jsonl"
    audit = AuditFile(str(path), b"k" * 32, "always")
    audit.record({"event": "decision", "decision": "allow", "tool": "kept", "request_id": 1})

    def broken(fd: int) -> None:
        raise OSError(5, "Input/output error")

    with monkeypatch.context() as patch:
        patch.setattr(os, "fsync", broken)
        with pytest.raises(AuditWriteError):
            audit.record({"event": "decision", "decision": "allow", "tool": "refused", "request_id": 2})
    audit.close()
    env = {**os.environ, "LILITH_AUDIT_KEY_FILE": str(key_file)}
    assert _cli("verify", str(path), env=env).returncode == 0
    assert [r["tool"] for r in _query_json(path, "--decision", "allow")] == ["kept"]
    [revoked] = _query_json(path, "--decision", "revoked")
    assert revoked["tool"] == "refused"
    [notice] = _query_json(path, "--event", "record_revoked")
    assert notice["revoked_seq"] == revoked["seq"]


def test_query_without_a_writable_directory_indexes_in_memory(log: Path, tmp_path: Path) -> None:
    Path(str(log) + ".idx.sqlite").unlink(missing_ok=True)
    Path(str(log) + ".idx.sqlite").mkdir()  # the index cannot be created there
    done = _cli("query", str(log), "--decision", "deny", "--json")
    assert done.returncode == 0
    assert "indexing in memory" in done.stderr
    assert len(done.stdout.splitlines()) == len([r for r in _all_records(log) if r.get("decision") == "deny"])


def test_query_refuses_bad_times_and_missing_logs(tmp_path: Path) -> None:
    done = _cli("query", str(tmp_path / "nope.jsonl"))
    assert done.returncode == 2
    assert "No such file" in done.stderr
    (tmp_path / "a.jsonl").write_text("")
    done = _cli("query", str(tmp_path / "a.jsonl"), "--since", "yesterday-ish")
    assert done.returncode == 2
    assert "not a time" in done.stderr


def test_tail_prints_the_last_records_readably_without_colour_when_piped(log: Path) -> None:
    done = _cli("tail", str(log), "-n", "3")
    assert done.returncode == 0
    lines = done.stdout.splitlines()
    records = _records(log)[-3:]
    assert len(lines) == 3
    for line, record in zip(lines, records, strict=True):
        assert record["session"][:8] in line and f" {record['seq']} " in line and record["event"] in line
    assert "\x1b[" not in done.stdout
    as_json = _cli("tail", str(log), "-n", "3", "--json")
    assert [json.loads(line) for line in as_json.stdout.splitlines()] == records


def _tail_on_a_terminal(log: Path, env: dict[str, str]) -> str:
    leader, follower = pty.openpty()
    try:
        done = subprocess.run(
            [LILITH, "audit", "query", str(log), "--event", "decision"],
            stdout=follower,
            stderr=subprocess.PIPE,
            env=env,
            timeout=30,
        )
        assert done.returncode == 0, done.stderr
        os.close(follower)
        return drain_pty(leader, 30).decode()
    finally:
        os.close(leader)


def test_decisions_are_coloured_on_a_terminal_unless_no_color(log: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    coloured = _tail_on_a_terminal(log, env)
    assert "\x1b[31mdeny\x1b[0m" in coloured and "\x1b[32mallow\x1b[0m" in coloured
    plain = _tail_on_a_terminal(log, {**env, "NO_COLOR": "1"})
    assert "\x1b[" not in plain and " deny " in plain


def test_query_never_opens_an_index_planted_as_a_symlink(log: Path, tmp_path: Path) -> None:
    import sqlite3 as sqlite

    victim = tmp_path / "victim.sqlite"
    with sqlite.connect(victim) as db:
        db.execute("CREATE TABLE records (precious TEXT)")
        db.execute("INSERT INTO records VALUES ('keep me')")
    db.close()
    (tmp_path / "audit.jsonl.idx.sqlite").symlink_to(victim)
    done = _cli("query", str(log), "--decision", "deny", "--json")
    assert done.returncode == 0, done.stderr
    assert "symbolic link" in done.stderr and "indexing in memory" in done.stderr
    assert done.stdout.strip()  # the query still answers
    with sqlite.connect(victim) as db:
        assert db.execute("SELECT precious FROM records").fetchall() == [("keep me",)]
    db.close()


def test_the_index_is_private_to_the_logs_owner(log: Path, tmp_path: Path) -> None:
    index = tmp_path / "audit.jsonl.idx.sqlite"
    assert _cli("query", str(log), "--json").returncode == 0
    assert stat.S_IMODE(index.stat().st_mode) == 0o600
    index.chmod(0o644)  # left by an older version, or by hand
    assert _cli("query", str(log), "--json").returncode == 0
    assert stat.S_IMODE(index.stat().st_mode) == 0o600


def test_a_fifo_planted_as_the_index_is_not_waited_on(log: Path, tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "audit.jsonl.idx.sqlite")
    done = _cli("query", str(log), "--decision", "deny", "--json")  # _cli's timeout fails a blocked open
    assert done.returncode == 0, done.stderr
    assert "not a regular file" in done.stderr and "indexing in memory" in done.stderr
    assert done.stdout.strip()
