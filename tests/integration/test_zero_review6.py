"""The `lilith-zero` alias takes the original lilith-zero's own command lines (second review, finding 4).

Every form starts a real `lilith-zero` in front of the hostile server; the server's record of what it
received proves it started with the arguments given after `--`, and that the policy was applied.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
from pathlib import Path

import pytest

from tests.integration.harness import HOSTILE, LILITH, Proxy, recorded

ZERO = str(Path(LILITH).with_name("lilith-zero"))
POLICY = "version: 1\nstatic_rules:\n  echo: ALLOW\n"
PYTHON, SERVER = HOSTILE


def _tool_calls(record: Path) -> list[str]:
    return [m["params"]["name"] for m in recorded(record) if isinstance(m, dict) and m.get("method") == "tools/call"]


def _session(argv: list[str], tmp_path: Path, env: dict[str, str] | None = None) -> Proxy:
    """Handshake, one allowed and one denied call; the proxy is left for the caller to close."""
    proxy = Proxy(argv, tmp_path, env)
    try:
        assert proxy.initialize()["result"]["serverInfo"]["name"] == "hostile", proxy.stderr()
        assert proxy.tool("echo", {"n": 1})["result"]["content"], proxy.stderr()
        assert proxy.tool("add", {"a": 1, "b": 2})["error"]["data"]["rule"] == "default-deny"
    except BaseException:
        proxy.kill()
        raise
    return proxy


def _forms(policy: Path, audit: Path, record: Path) -> dict[str, list[str]]:
    whole = shlex.join([PYTHON, SERVER, "--record", str(record)])
    return {
        # lilith-zero's own help example
        "run --transport stdio -u": ["run", "--transport", "stdio", "-u", whole, "--policy", str(policy)],
        "run -u": ["run", "-u", whole, "--policy", str(policy), "--audit-logs", str(audit)],
        "run --upstream-cmd PROGRAM -- ARGS": [
            "run",
            "--upstream-cmd",
            PYTHON,
            "--policy",
            str(policy),
            "--",
            SERVER,
            "--record",
            str(record),
        ],
        # what lilith-zero's Python SDK spawns: no `run`, program alone, its arguments after `--`
        "flat (SDK)": [
            "--policy",
            str(policy),
            "--audit-logs",
            str(audit),
            "--upstream-cmd",
            PYTHON,
            "--",
            SERVER,
            "--record",
            str(record),
        ],
        # a command line and more arguments after `--`: both reach the server, in that order
        "run -u CMD -- MORE": [
            "run",
            "-u",
            f"{PYTHON} -u",
            "--policy",
            str(policy),
            "--",
            SERVER,
            "--record",
            str(record),
        ],
    }


@pytest.mark.parametrize(
    "form",
    ["run --transport stdio -u", "run -u", "run --upstream-cmd PROGRAM -- ARGS", "flat (SDK)", "run -u CMD -- MORE"],
)
def test_original_command_lines_start_the_server_under_the_policy(tmp_path: Path, form: str) -> None:
    policy, audit, record = tmp_path / "p.yaml", tmp_path / "audit.jsonl", tmp_path / "received.jsonl"
    policy.write_text(POLICY)
    argv = _forms(policy, audit, record)[form]
    proxy = _session([ZERO, *argv], tmp_path)
    assert proxy.close() == 0
    assert _tool_calls(record) == ["echo"]  # the server ran with `--record`; the denied call never reached it
    if "--audit-logs" in argv:
        events = [json.loads(line)["event"] for line in audit.read_text().splitlines()]
        assert events.count("decision") == 2 and events[-1] == "session_end"


def test_a_program_path_with_spaces_is_one_program(tmp_path: Path) -> None:
    """The original ran `-u` as one program path; a path with a space that names an executable still works."""
    record = tmp_path / "received.jsonl"
    folder = tmp_path / "My Servers"
    folder.mkdir()
    program = folder / "hostile server"
    program.write_text(f'#!/bin/sh\nexec {shlex.join([PYTHON, SERVER])} --record {shlex.quote(str(record))} "$@"\n')
    program.chmod(0o755)
    policy = tmp_path / "p.yaml"
    policy.write_text(POLICY)
    proxy = _session([ZERO, "run", "-u", str(program), "--policy", str(policy)], tmp_path)
    assert proxy.close() == 0
    assert _tool_calls(record) == ["echo"]


def test_the_originals_policy_variable_is_read(tmp_path: Path) -> None:
    """$POLICIES_YAML_PATH (the original's) picks the policy when neither --policy nor $LILITH_POLICY does."""
    record, policy = tmp_path / "received.jsonl", tmp_path / "p.yaml"
    policy.write_text(POLICY)
    env = {k: v for k, v in os.environ.items() if k != "LILITH_POLICY"}
    env["POLICIES_YAML_PATH"] = str(policy)
    proxy = _session([ZERO, "-u", shlex.join([PYTHON, SERVER, "--record", str(record)])], tmp_path, env)
    assert proxy.close() == 0
    assert _tool_calls(record) == ["echo"]  # without the policy every call is denied and the list is empty


@pytest.mark.parametrize(
    ("words", "message"),
    [
        (["run", "--transport", "http", "-u", "SERVER"], "stdio only"),
        (["--upstream-url", "http://127.0.0.1:9/mcp"], "stdio only"),
        (["run", "--transport", "ftp", "-u", "SERVER"], "invalid choice"),
        (["run", "--policy", "p.yaml"], "missing the server"),
        (["serve", "--bind", "127.0.0.1:8080"], "not part of this build"),
        (["hook", "--policy", "p.yaml"], "not part of this build"),
        (["pin", "show", "--pin-file", "pins.json"], "lilith pin"),
        (["frobnicate", "-u", "SERVER"], "unknown command"),
    ],
)
def test_what_cannot_run_here_is_refused_before_anything_starts(tmp_path: Path, words: list[str], message: str) -> None:
    record = tmp_path / "received.jsonl"
    server = shlex.join([PYTHON, SERVER, "--record", str(record)])
    argv = [ZERO, *(server if word == "SERVER" else word for word in words)]
    done = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=30, cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert message in done.stderr.decode()
    assert done.stdout == b""
    assert not record.exists()  # no server was started


def test_validate_and_version(tmp_path: Path) -> None:
    good, bad = tmp_path / "good.yaml", tmp_path / "bad.yaml"
    good.write_text(POLICY)
    bad.write_text("version: 1\nstatic_rules:\n  echo: PERHAPS\n")
    ok = subprocess.run([ZERO, "validate", str(good)], capture_output=True, timeout=30)
    assert ok.returncode == 0, ok.stderr
    refused = subprocess.run([ZERO, "validate", str(bad)], capture_output=True, timeout=30)
    assert refused.returncode == 1
    assert f"{bad}:3:" in refused.stderr.decode()  # file:line of the bad verdict
    version = subprocess.run([ZERO, "--version"], capture_output=True, timeout=30)
    assert version.returncode == 0
    assert version.stdout.decode().startswith("lilith-zero ")
