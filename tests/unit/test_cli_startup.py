"""`lilith run` sits on every agent's start-up path: what it parses and imports before the server starts."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from lilith.cli import build_parser

RUN_LINES = [
    ["run", "--", "python", "server.py"],
    ["run", "--policy", "p.yaml", "--audit-log", "a.jsonl", "--audit-fsync", "always", "--", "npx", "-y", "srv"],
    ["run", "--max-memory", "512M", "--restart", "on-failure", "--env-allow", "HOME", "API_*", "--", "srv", "--x"],
    ["run", "--redact-pattern", "emp=EMP-\\d+", "--request-timeout", "5", "--log-format", "json", "--", "s"],
]


@pytest.mark.parametrize("words", RUN_LINES)
def test_the_run_only_parser_reads_a_run_line_exactly_as_the_full_one(words: list[str]) -> None:
    full = build_parser().parse_args(words)
    assert vars(build_parser(run_only=True).parse_args(words)) == vars(full)


def _run_help() -> str:
    [run] = [action for action in build_parser(run_only=True)._actions if action.dest == "command"]
    assert isinstance(run.choices, dict)
    return str(run.choices["run"].format_help())


def test_help_is_as_wide_as_columns_says(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "60")
    narrow = _run_help()
    monkeypatch.setenv("COLUMNS", "200")
    wide = _run_help()
    assert len(narrow.splitlines()) > len(wide.splitlines())
    assert max(len(line) for line in wide.splitlines()) > 100
    # Only an unbreakable option spelling may stick out past the width.
    assert [line for line in narrow.splitlines() if len(line) > 60 and " " in line.strip()] == []


# What `lilith run` does before it hands the server to the supervisor, in the same order; any module in
# NOT_BEFORE_THE_SERVER loaded here would delay every server's start.
PRE_LAUNCH = """
import sys
from lilith.cli import build_parser
words = ["run", "--policy", sys.argv[1], "--audit-log", sys.argv[2], "--audit-key-file", sys.argv[3], "--", "srv"]
args = build_parser(run_only=True).parse_args(words)
from lilith.runtime.supervisor import ServerLauncher
from lilith.runtime.logs import StderrLog
from lilith.runtime.assemble import _checked_configuration
_checked_configuration(args, ["srv"], StderrLog("warning", "text"))
print(" ".join(sorted(set(sys.argv[4].split()) & set(sys.modules))))
"""
NOT_BEFORE_THE_SERVER = "shutil socket orjson re2 uuid dataclasses inspect"


def test_nothing_heavy_is_imported_before_the_server_starts(tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text("version: 1\nstatic_rules:\n  echo: ALLOW\n  'git_*': DENY\n")
    key = tmp_path / "audit.key"
    key.write_text(os.urandom(32).hex() + "\n")  # as Lilith creates one: hex text
    argv = [sys.executable, "-c", PRE_LAUNCH, str(policy), str(tmp_path / "a.jsonl"), str(key), NOT_BEFORE_THE_SERVER]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == ""
