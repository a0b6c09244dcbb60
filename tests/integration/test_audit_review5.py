"""Review 5's audit findings, through a real ``lilith run`` in front of the hostile server.

Secrets on the server's command line, in a rejected policy file, in the client's ``clientInfo``, request
ids and tool names, and behind JSON escapes in arguments and answers reach neither the audit log (nor its
query index) nor Lilith's stderr, while the server still receives every value as sent; a file planted next
to a rotated log with a non-ASCII digit in its suffix stops nothing.
"""

from __future__ import annotations

import json
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.audit_records import schema_problems
from tests.integration.conftest import StartProxy
from tests.integration.harness import ALLOW_ECHO_POLICY, HOSTILE, LILITH, Proxy, lilith_run, recorded, wait_until

GHP = "ghp_" + "Q1w2E3r4T5y6U7i8O9p0A1s2D3f4G5h6J7k8"


def _records(*paths: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for path in paths for line in path.read_bytes().splitlines() if line.startswith(b"{")]


def _audit(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([LILITH, "audit", *args], capture_output=True, text=True, timeout=30)


# --- A2: the server's command line on stderr (and -p in the audit log) -----------------------------------
ARGV_SECRETS = {
    "bearer header": ("--header", "Authorization: Bearer eyQ7xK2mN9pL4rT8vW1zB6cF3hJ5"),
    "api key header": ("-H", "X-Api-Key: 9f8e7d6c5b4a39281706f5e4d3c2b1a0"),
    "bare token": ("--verbose", GHP),
    "json argument": ("--config-json", '{"apiKey":"zz-9a8b7c6d5e4f3g2h1i0j"}'),
    "short password flag": ("-p", "s3cr3t-Pa55w0rd-Value"),
    "openai key": ("--openai", "sk-proj-" + "abc123DEF456ghi789JKL012mno345"),
}
ARGV_SECRET_PARTS = [
    "eyQ7xK2mN9pL4rT8vW1zB6cF3hJ5",
    "9f8e7d6c5b4a39281706f5e4d3c2b1a0",
    GHP,
    "zz-9a8b7c6d5e4f3g2h1i0j",
    "s3cr3t-Pa55w0rd-Value",
    "abc123DEF456ghi789JKL012mno345",
]


SecretArgv = tuple[Proxy, Path, Path]  # Lilith, its audit log, the file the server's shell wrote its argv to


@pytest.fixture
def secret_argv(tmp_path: Path) -> Iterator[Any]:
    """Start Lilith with ``sh -c`` as the server and the secrets as extra arguments: ``sh`` writes what it
    got to a file, then runs the hostile server (which would refuse them) without them."""
    started: list[Proxy] = []

    def start(*options: str) -> SecretArgv:
        n = len(started)
        audit = tmp_path / f"audit-{n}.jsonl"
        policy = tmp_path / "policy.yaml"
        policy.write_text(ALLOW_ECHO_POLICY)
        got = tmp_path / f"argv-{n}.txt"
        script = 'printf "%s\\n" "$@" > "$3"; exec "$0" "$1" --record "$2"'
        extra = [item for pair in ARGV_SECRETS.values() for item in pair]
        server = ["sh", "-c", script, *HOSTILE, str(tmp_path / f"received-{n}.jsonl"), str(got), *extra]
        options = ("--policy", str(policy), "--audit-log", str(audit), *options)
        started.append(Proxy(lilith_run(*options, server=server), tmp_path))
        return started[-1], audit, got

    yield start
    for proxy in started:
        proxy.kill()
    assert [p for n in range(len(started)) for p in schema_problems(tmp_path / f"audit-{n}.jsonl")] == []


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_secrets_on_the_server_command_line_never_reach_stderr(secret_argv: Any, fmt: str) -> None:
    proxy, _, got = secret_argv("--log-format", fmt)
    proxy.initialize()
    assert proxy.close() == 0
    assert wait_until(lambda: got.exists() and got.read_text().count("\n") >= 2 + 2 * len(ARGV_SECRETS))
    received = got.read_text()
    assert [part for part in ARGV_SECRET_PARTS if part not in received] == []  # the server got them all
    stderr = proxy.stderr()
    [started] = [line for line in stderr.splitlines() if "server_started" in line]
    assert [part for part in ARGV_SECRET_PARTS if part in stderr] == []
    argv = started if fmt == "text" else json.dumps(json.loads(started)["argv"])
    for shown in ("--header", "Authorization: <secret>", "X-Api-Key: <secret>", "<github_token>", "<api_key>"):
        assert shown in argv, (shown, argv)


def test_a_password_after_short_p_is_redacted_in_the_audit_log(secret_argv: Any) -> None:
    proxy, audit, _ = secret_argv()
    proxy.initialize()
    assert proxy.close() == 0
    [start] = [r for r in _records(audit) if r["event"] == "session_start"]
    command = start["server_command"]
    assert [part for part in ARGV_SECRET_PARTS if part in json.dumps(command)] == []
    after_p = command[command.index("-p") + 1]
    assert after_p.startswith("<secret:"), command
    assert _audit("verify", str(audit)).returncode == 0


# --- A3: a planted file whose suffix is a digit of another script -------------------------------------
@pytest.mark.parametrize(
    "suffix", ["\u00b2", "\u0661", "+1", " 2"], ids=["superscript-two", "arabic-one", "plus", "space"]
)
def test_a_file_with_a_non_ascii_digit_suffix_stops_neither_lilith_nor_the_readers(
    start_proxy: StartProxy, tmp_path: Path, suffix: str
) -> None:
    log = tmp_path / "a.jsonl"
    for _ in range(2):  # an honest rotated set
        run = start_proxy("--audit-log", str(log), "--audit-rotate-size", "1500")
        run.proxy.initialize()
        for n in range(4):
            assert "result" in run.proxy.tool("echo", {"n": n})
        assert run.proxy.close() == 0
    assert list(tmp_path.glob("a.jsonl.[0-9]*")), "the set should span rotated files"
    planted = tmp_path / f"a.jsonl.{suffix}"
    planted.write_text("x\n")

    run = start_proxy("--audit-log", str(log), "--audit-rotate-size", "1500")  # it reads the set at start
    run.proxy.initialize()
    for n in range(6):  # enough to rotate again, past the planted name
        assert "result" in run.proxy.tool("echo", {"n": n})
    assert run.proxy.close() == 0
    assert "Traceback" not in run.proxy.stderr()
    sent = [m["params"]["arguments"] for m in recorded(run.record) if m.get("method") == "tools/call"]
    assert sent == [{"n": n} for n in range(6)]
    assert planted.read_text() == "x\n"
    rotated = sorted(p.name for p in tmp_path.glob("a.jsonl.[0-9]*"))

    verified = _audit("verify", str(log))
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert f"in {len(rotated) + 1} files, chain intact" in verified.stdout
    queried = _audit("query", str(log), "--event", "session_start", "--json")
    assert queried.returncode == 0, queried.stderr
    assert len(queried.stdout.splitlines()) == 3
    assert _audit("tail", str(log), "-n", "1").returncode == 0


# --- A4: clientInfo, request ids and tool names --------------------------------------------------------
CLIENT_EMAIL = "alice.clientinfo@example.com"
ID_EMAIL = "carol.requestid@example.com"
TOOL_EMAIL = "dave.toolname@example.com"


def test_client_info_request_ids_and_tool_names_are_redacted_and_still_correlate(start_proxy: StartProxy) -> None:
    started = start_proxy()
    proxy = started.proxy
    client_info = {"name": f"agent {CLIENT_EMAIL}", "version": GHP}
    hello = {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": client_info}
    proxy.request("initialize", hello, request_id=0)
    assert "result" in proxy.recv()
    proxy.send({"jsonrpc": "2.0", "method": "notifications/initialized"})
    proxy.request("tools/call", {"name": "echo", "arguments": {"a": 1}}, request_id=ID_EMAIL)
    assert proxy.recv()["id"] == ID_EMAIL  # the client gets its own id back
    proxy.request("tools/call", {"name": TOOL_EMAIL, "arguments": {"a": 2}}, request_id=7)
    assert proxy.recv()["error"]["code"] == -32000
    assert proxy.close() == 0

    messages = recorded(started.record)
    assert messages[0]["params"]["clientInfo"] == client_info  # the server got them as sent
    assert [m["id"] for m in messages if m.get("method") == "tools/call"] == [ID_EMAIL]

    _audit("query", str(started.audit), "--json")  # builds the index next to the log
    index = started.audit.parent / (started.audit.name + ".idx.sqlite")
    assert index.exists()
    for where in (started.audit, index):
        blob = where.read_bytes()
        assert [s for s in (CLIENT_EMAIL, GHP, ID_EMAIL, TOOL_EMAIL) if s.encode() in blob] == [], where
    records = _records(started.audit)
    [hello_record] = [r for r in records if r["event"] == "initialize"]
    assert hello_record["client_info"]["name"].startswith("agent <email:")
    assert hello_record["client_info"]["version"].startswith("<github_token:")
    assert hello_record["server_info"] == {"name": "hostile", "version": "1"}
    by_id = [r for r in records if r.get("tool") == "echo"]
    assert [r["event"] for r in by_id] == ["decision", "result"]
    assert by_id[0]["request_id"] == by_id[1]["request_id"]  # one tag: decision and answer still correlate
    assert by_id[0]["request_id"].startswith("<email:")
    [denied] = [r for r in records if r.get("request_id") == 7]
    assert denied["tool"].startswith("<email:") and denied["decision"] == "deny"
    assert f"tool '{denied['tool']}' is not allowed" in denied["reason"]  # the quotes around it are kept
    echo = json.loads(_audit("query", str(started.audit), "--tool", "echo", "--json").stdout.splitlines()[0])
    assert echo["event"] == "decision" and echo["tool"] == "echo"  # a plain tool name is found as before


# --- A5: a rejected policy reload ----------------------------------------------------------------------
RELOAD_TOKEN = "ghp_" + "Z9y8X7w6V5u4T3s2R1q0P9o8N7m6L5k4J3i2"
RELOAD_EMAIL = "ops.oncall@example.com"
BAD_POLICIES = [
    f"version: 1\nstatic_rules:\n  echo: {RELOAD_TOKEN}\n",  # a bad verdict: the file is quoted
    f"version: 1\nstatic_rules:\n  echo: ALLOW\n  {RELOAD_EMAIL}: MAYBE\n",
    f"version: 1\nargument_rules:\n  - tool: echo\n    arg: x\n    match: '(?P<{RELOAD_TOKEN}'\n",
]


def test_a_rejected_reload_quotes_no_secret_of_the_policy_file(start_proxy: StartProxy) -> None:
    started = start_proxy()
    proxy = started.proxy
    proxy.initialize()
    for n, bad in enumerate(BAD_POLICIES, start=1):
        started.policy.write_text(bad)
        proxy.proc.send_signal(signal.SIGHUP)
        assert wait_until(lambda n=n: proxy.stderr().count("policy_reload_failed") >= n)
    assert "result" in proxy.tool("echo", {"still": "allowed"})  # the old policy stays in force
    assert proxy.close() == 0

    stderr = proxy.stderr()
    raw = started.audit.read_text()
    assert [s for s in (RELOAD_TOKEN, RELOAD_EMAIL) if s in stderr or s in raw] == []
    rejected = [r for r in _records(started.audit) if r["event"] == "policy_reload"]
    assert [r["outcome"] for r in rejected] == ["rejected"] * 3
    assert "not '<github_token:" in rejected[0]["error"] and "rule for '<email:" in rejected[1]["error"]
    assert "not '<github_token>'" in stderr and "rule for '<email>'" in stderr
    assert _audit("verify", str(started.audit)).returncode == 0


# --- A6: values hidden behind JSON escapes ------------------------------------------------------------
ESCAPED = '{"email":"bob.escaped\\u0040example.com","card":"4111\\u00201111\\u00201111\\u00201111"'
ESCAPED += ',"k":"AKIA\\u0049OSFODNN7EXAMPLE"}'
HIDDEN = ["bob.escaped", "4111", "OSFODNN7EXAMPLE"]


@pytest.mark.parametrize("padding", [0, 5000], ids=["short", "longer-than-a-preview"])
def test_values_behind_json_escapes_are_redacted_in_arguments_and_previews(
    start_proxy: StartProxy, padding: int
) -> None:
    payload = ESCAPED[:-1] + ',"pad":"' + "x" * padding + '"}' if padding else ESCAPED
    started = start_proxy()
    proxy = started.proxy
    proxy.initialize()
    echoed = proxy.tool("echo", {"payload": payload})
    assert json.loads(echoed["result"]["content"][0]["text"]) == {"payload": payload}
    assert proxy.close() == 0

    [sent] = [m["params"]["arguments"] for m in recorded(started.record) if m.get("method") == "tools/call"]
    assert sent == {"payload": payload}  # the server got the escapes untouched
    records = [r for r in _records(started.audit) if r.get("tool") == "echo"]
    decision, result = records
    logged = json.dumps(decision["arguments"]) + result["preview"]
    assert [value for value in HIDDEN if value in logged] == []
    assert "<email:" in decision["arguments"]["payload"] and "<aws_key:" in decision["arguments"]["payload"]
    assert "<email:" in result["preview"]
    assert _audit("verify", str(started.audit)).returncode == 0


def test_a_value_without_hidden_escapes_keeps_its_escapes(start_proxy: StartProxy) -> None:
    payload = '{"note":"caf\\u00e9 at 10\\u003a30","n":"\\u0031"}'
    started = start_proxy()
    started.proxy.initialize()
    assert "result" in started.proxy.tool("echo", {"payload": payload})
    assert started.proxy.close() == 0
    [decision] = [r for r in _records(started.audit) if r["event"] == "decision" and r.get("tool") == "echo"]
    assert decision["arguments"] == {"payload": payload}


def test_plain_values_are_logged_unchanged(tmp_path: Path) -> None:
    """Masking must not mangle what holds no secret: paths, the server's ordinary command line."""
    policy = tmp_path / "policy.yaml"
    policy.write_text(ALLOW_ECHO_POLICY)
    proxy = Proxy(lilith_run("--policy", str(policy), server=HOSTILE), tmp_path)
    try:
        proxy.initialize()
        assert proxy.close() == 0
    finally:
        proxy.kill()
    stderr = proxy.stderr()
    assert f"policy_loaded file={policy} source=--policy" in stderr
    assert f"argv={json.dumps(HOSTILE, separators=(',', ':'))}" in stderr
