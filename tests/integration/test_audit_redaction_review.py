"""A review's redaction findings, through a real ``lilith run`` in front of the hostile server.

What the server receives is unchanged (it is recorded), and nothing a call carried reaches the audit log
or the stderr log: not in the decision, not in the result preview, not in the server's command line.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.audit_records import schema_problems
from tests.integration.conftest import StartProxy
from tests.integration.harness import ALLOW_ECHO_POLICY, HOSTILE, Proxy, lilith_run, recorded

TAG = re.compile(r"<[a-z_]+:[0-9a-f]+>")
BIG_ID = 123456789012345678901234567890
# Each call's secrets fit in the first 200 characters of its answer, the part a preview keeps.
CALLS: list[dict[str, Any]] = [
    {"cfg": 'db_password="Hunter2Quoted"', "body": '{"api_key": "AbcKey123xyz", "token": "Tok999zz"}'},
    {
        "headers": [{"name": "Authorization", "value": "Bearer opaqueTok3nValue123"}],
        "url": "redis://:S3cretRedisPw@redis:6379/0",
    },
    {"cmd": "curl -u admin:CurlPassw0rd https://x", "q": "https://a.example.com/?email=jane.doe%40example.com"},
    {"pw": "PwOnlyByKey1", "creds": {"MYSQL_PWD": "MysqlPwdValue1"}, "ssn": "078051120"},
]
SECRETS = [
    "Hunter2Quoted",
    "AbcKey123xyz",
    "Tok999zz",
    "opaqueTok3nValue123",
    "S3cretRedisPw",
    "CurlPassw0rd",
    "jane.doe",
    "PwOnlyByKey1",
    "MysqlPwdValue1",
    "078051120",
]


def _records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_bytes().splitlines()]


def _tags(value: Any) -> set[str]:
    return set(TAG.findall(json.dumps(value)))


def test_one_calls_decision_and_result_preview_redact_the_same_values(start_proxy: StartProxy) -> None:
    started = start_proxy()
    proxy = started.proxy
    proxy.initialize()
    for arguments in CALLS:
        echoed = proxy.tool("echo", arguments)
        assert json.loads(echoed["result"]["content"][0]["text"]) == arguments  # the client sees it all
    assert proxy.close() == 0

    received = [m["params"]["arguments"] for m in recorded(started.record) if m.get("method") == "tools/call"]
    assert received == CALLS  # the server got every value as sent
    raw = started.audit.read_text()
    leaked = [secret for secret in SECRETS if secret in raw]
    assert leaked == []
    records = _records(started.audit)
    decisions = [r for r in records if r["event"] == "decision" and r.get("tool") == "echo"]
    results = [r for r in records if r["event"] == "result" and r.get("tool") == "echo"]
    assert len(decisions) == len(results) == len(CALLS)
    for decision, result in zip(decisions, results, strict=True):
        argument_tags = _tags(decision["arguments"])
        assert argument_tags, decision["arguments"]
        assert argument_tags <= _tags(result["preview"]), (decision["arguments"], result["preview"])


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_a_request_id_beyond_64_bits_times_out_without_taking_lilith_down(start_proxy: StartProxy, fmt: str) -> None:
    started = start_proxy("--request-timeout", "0.5", "--log-format", fmt)
    proxy = started.proxy
    proxy.initialize()
    proxy.request("tools/call", {"name": "hang", "arguments": {}}, request_id=BIG_ID)
    answer = proxy.recv(timeout=10)
    assert answer["id"] == BIG_ID and answer["error"]["code"] == -32001
    assert "result" in proxy.tool("echo", {"text": "still here"})  # Lilith is still serving
    assert proxy.close() == 0

    stderr = proxy.stderr()
    assert "request_timeout" in stderr and str(BIG_ID) in stderr
    assert "Traceback" not in stderr
    cancelled = [m for m in recorded(started.record) if m.get("method") == "notifications/cancelled"]
    assert [m["params"]["requestId"] for m in cancelled] == [BIG_ID]  # the server was told, id intact
    timeouts = [r for r in _records(started.audit) if r["event"] == "request_timeout"]
    assert [r["request_id"] for r in timeouts] == [BIG_ID]


COMMAND_SECRETS = ["CmdLineApiKey123", "CmdPw12345", "CmdTok99", "EnvAssignPw", "FlagPassValue"]


@pytest.fixture
def secret_command_line(tmp_path: Path) -> Iterator[tuple[Proxy, Path]]:
    """Lilith in front of the hostile server, started through ``sh -c`` with secrets as extra arguments
    (which ``sh`` ignores, so the server starts as usual)."""
    audit = tmp_path / "audit.jsonl"
    policy = tmp_path / "policy.yaml"
    policy.write_text(ALLOW_ECHO_POLICY)
    script = 'exec "$0" "$1" --record "$2"'
    extra = ["--api-key", "CmdLineApiKey123", "--password", "CmdPw12345", "--token=CmdTok99"]
    extra += ["DB_PASS=EnvAssignPw", "--pass", "FlagPassValue"]
    server = ["sh", "-c", script, *HOSTILE, str(tmp_path / "received.jsonl"), *extra]
    proxy = Proxy(lilith_run("--policy", str(policy), "--audit-log", str(audit), server=server), tmp_path)
    try:
        yield proxy, audit
    finally:
        proxy.kill()
    assert schema_problems(audit) == []


def test_the_server_command_line_is_masked_in_the_stderr_log(secret_command_line: tuple[Proxy, Path]) -> None:
    proxy, _ = secret_command_line
    proxy.initialize()
    assert proxy.close() == 0
    stderr = proxy.stderr()
    assert "server_started" in stderr
    assert [secret for secret in COMMAND_SECRETS if secret in stderr] == []


def test_the_server_command_line_is_redacted_in_the_audit_log(secret_command_line: tuple[Proxy, Path]) -> None:
    proxy, audit = secret_command_line
    proxy.initialize()
    assert proxy.close() == 0
    [start] = [r for r in _records(audit) if r["event"] == "session_start"]
    command = start["server_command"]
    assert command[:3] == ["sh", "-c", 'exec "$0" "$1" --record "$2"']
    assert [secret for secret in COMMAND_SECRETS if secret in json.dumps(command)] == []
    assert "--api-key" in command and "DB_PASS=<secret:" in json.dumps(command)
