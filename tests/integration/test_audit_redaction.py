"""Secrets stay off the disk and out of stderr, in a real Lilith process.

Custom redaction patterns from ``--redact-pattern`` and ``--redaction-config`` keep their matches out of the
audit log (decision and result records alike) while the server still gets the real values; a bad pattern
refuses to start. A secret on the server's command line or in the environment never shows in Lilith's stderr.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.conftest import StartProxy
from tests.integration.harness import HOSTILE, ROOT, Proxy, lilith_run, recorded

EMPLOYEE = "EMP-482913"
TICKET = "TCK#77123"


def test_custom_patterns_never_reach_the_disk(start_proxy: StartProxy, tmp_path: Path) -> None:
    config = tmp_path / "redaction.yaml"
    config.write_text("- name: ticket\n  pattern: 'TCK#[0-9]{5}'\n")
    run = start_proxy("--redact-pattern", r"employee=EMP-\d{6}", "--redaction-config", str(config))
    run.proxy.initialize()
    reply = run.proxy.tool("echo", {"who": EMPLOYEE, "note": f"see {TICKET} for {EMPLOYEE}"})
    assert EMPLOYEE in json.dumps(reply)  # the client and the server see the real values
    assert run.proxy.tool("delete_file", {"path": f"/home/{EMPLOYEE}/{TICKET}"})["error"]["code"] == -32000
    assert run.proxy.close() == 0
    received = [m for m in recorded(run.record) if isinstance(m, dict) and m.get("method") == "tools/call"]
    assert received[0]["params"]["arguments"]["who"] == EMPLOYEE
    raw = b"".join(path.read_bytes() for path in tmp_path.glob("audit-0.jsonl*"))
    assert EMPLOYEE.encode() not in raw and b"482913" not in raw
    assert TICKET.encode() not in raw and b"77123" not in raw
    decision = next(json.loads(line) for line in raw.splitlines() if b'"decision"' in line)
    assert decision["arguments"]["who"].startswith("<employee:")
    assert "<ticket:" in decision["arguments"]["note"]


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--redact-pattern", "employee=EMP-("], "redaction pattern 'employee' is not valid"),
        (["--redact-pattern", "Bad-Name=x"], "redaction pattern kind 'Bad-Name'"),
        (["--redact-pattern", "no-equals-sign"], "expected NAME=REGEX"),
    ],
)
def test_a_bad_pattern_refuses_to_start(tmp_path: Path, flags: list[str], message: str) -> None:
    record = tmp_path / "received.jsonl"
    done = subprocess.run(
        lilith_run("--audit-log", str(tmp_path / "a.jsonl"), *flags, server=[*HOSTILE, "--record", str(record)]),
        input=b"",
        capture_output=True,
        timeout=30,
    )
    assert done.returncode == 2
    assert message in done.stderr.decode()
    assert not record.exists()  # the server was never started


SECRET_ENV = "env-secret-4f1c9a7e2b"
SECRET_FLAG = "flag-secret-8d2e6b1a9c"
SECRET_SPLIT = "split-secret-3a7f5c2e1d"
SECRET_ASSIGN = "assign-secret-6b9d2f4a8e"


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_secrets_from_the_command_line_and_environment_never_reach_stderr(tmp_path: Path, fmt: str) -> None:
    record = tmp_path / "received.jsonl"
    # A server whose command line carries secrets: `env NAME=value python -c … --api-key=… --password …`.
    launcher = (
        "import runpy, sys; sys.argv = ['hostile', '--record', sys.argv[1]]; "
        f"runpy.run_path({str(ROOT / 'tests' / 'servers' / 'hostile_server.py')!r}, run_name='__main__')"
    )
    server = [
        "env",
        f"DB_PASSWORD={SECRET_ASSIGN}",
        sys.executable,
        "-c",
        launcher,
        str(record),
        f"--api-key={SECRET_FLAG}",
        "--password",
        SECRET_SPLIT,
        f"--with-env={SECRET_ENV}",
    ]
    env = {**os.environ, "SERVICE_TOKEN": SECRET_ENV}
    args = lilith_run(
        "--log-level", "debug", "--log-format", fmt, "--audit-log", str(tmp_path / "a.jsonl"), server=server
    )
    proxy = Proxy(args, tmp_path, env=env)
    try:
        proxy.initialize()
        assert proxy.tool("echo", {"x": 1})["error"]["code"] == -32000  # no policy: every tool call denied
        assert proxy.close() == 0
    finally:
        proxy.kill()
    assert any(isinstance(m, dict) and m.get("method") == "initialize" for m in recorded(record))  # it ran
    stderr = proxy.stderr()
    assert "server_started" in stderr  # the command line was logged, masked
    for secret in (SECRET_ENV, SECRET_FLAG, SECRET_SPLIT, SECRET_ASSIGN):
        assert secret not in stderr
    assert "--with-env=" in stderr  # that argument is logged; only the environment's secret in it is masked
    if fmt == "json":
        started = next(json.loads(line) for line in stderr.splitlines() if '"server_started"' in line)
        assert any(arg.startswith("--api-key=") for arg in started["argv"])


def test_a_refusal_quoting_what_it_refused_is_redacted_on_disk(start_proxy: StartProxy, tmp_path: Path) -> None:
    policy = (
        "version: 1\nstatic_rules:\n  echo: ALLOW\n"
        'resource_rules:\n  - uri_pattern: "file:///srv/public/*"\n    action: ALLOW\n'
    )
    run = start_proxy(policy=policy)
    run.proxy.initialize()
    uri = "https://alice:UriPassw0rd@example.com/a?email=jane.doe@example.org"
    denied = run.proxy.call("resources/read", {"uri": uri})
    assert denied["error"]["code"] == -32000 and "UriPassw0rd" in denied["error"]["message"]  # the client's own
    assert run.proxy.close() == 0
    raw = b"".join(path.read_bytes() for path in tmp_path.glob("audit-0.jsonl*"))
    assert b"UriPassw0rd" not in raw and b"jane.doe@example.org" not in raw
    decision = next(json.loads(line) for line in raw.splitlines() if b'"resources/read"' in line)
    assert decision["decision"] == "deny" and "<email:" in decision["reason"]
