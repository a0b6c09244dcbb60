"""Review 5 of the policy, through a real Lilith in front of the recording hostile server:

- a REMOVE_TAINT call removes its taints only once the server answered it successfully (not when it fails,
  hangs and is cancelled or timed out, or takes its server down), and only what was added before it went out;
- a section written under both spellings (``taint_rules`` and ``taintRules``) is refused, not half-dropped;
- URL host checks under ``arg: "**"`` read ``http:evil.example`` as a URL, as WHATWG parsers do;
- the example policies deny what their own comments forbid;
- taint rules that can never fire (an undefined class, a trifecta guard without an EXFILTRATION tool) are
  refused, and checks nothing can set off are reported by ``policy check`` and ``lilith run``.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import StartProxy
from tests.integration.harness import HOSTILE, LILITH, ROOT, Proxy, lilith_run, recorded, wait_until

EXAMPLES = ROOT / "examples" / "policies"
SERVER_UNAVAILABLE = -32001

CLEARING = """\
version: 1
static_rules:
  read_file: ALLOW
  echo: ALLOW            # succeeds
  clear_context: ALLOW   # unknown to the server: answered with isError
  add: ALLOW             # with bad arguments: a JSON-RPC error
  hang: ALLOW            # never answered
  crash: ALLOW           # the server exits without answering
  slow: ALLOW            # answered successfully, later
  send_email: ALLOW
taint_rules:
  - {tool: read_file, action: ADD_TAINT, tag: SECRET}
  - {tool: echo, action: REMOVE_TAINT, tag: SECRET}
  - {tool: clear_context, action: REMOVE_TAINT, tag: SECRET}
  - {tool: add, action: REMOVE_TAINT, tag: SECRET}
  - {tool: hang, action: REMOVE_TAINT, tag: SECRET}
  - {tool: crash, action: REMOVE_TAINT, tag: SECRET}
  - {tool: slow, action: REMOVE_TAINT, tag: SECRET}
  - {id: no-secrets-out, tool: send_email, action: CHECK_TAINT, forbidden_tags: [SECRET]}
"""


def _audit(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_bytes().splitlines()]


def _answer_to(proxy: Proxy, request_id: Any, timeout: float = 10.0) -> Any:
    while True:
        reply = proxy.recv(timeout)
        if reply.get("id") == request_id and "method" not in reply:
            return reply


def _mails_received(record: Path) -> list[Any]:
    return [
        m["params"]["arguments"].get("n")
        for m in recorded(record)
        if isinstance(m, dict) and m.get("method") == "tools/call" and m["params"]["name"] == "send_email"
    ]


def _calls_received(record: Path) -> list[str]:
    return [m["params"]["name"] for m in recorded(record) if isinstance(m, dict) and m.get("method") == "tools/call"]


def _denied_by(reply: Any, rule: str) -> bool:
    return bool(reply.get("error", {}).get("data", {}).get("rule") == rule)


# --- Q2: REMOVE_TAINT on success only -------------------------------------------------------------


@pytest.mark.parametrize(
    ("tool", "arguments", "failure"),
    [
        ("clear_context", {}, "isError"),
        ("add", {"a": "not a number"}, "error"),
    ],
    ids=["isError-result", "json-rpc-error"],
)
def test_a_clear_that_fails_clears_nothing(
    start_proxy: StartProxy, tool: str, arguments: dict[str, Any], failure: str
) -> None:
    started = start_proxy(policy=CLEARING)
    proxy = started.proxy
    proxy.initialize()
    assert "result" in proxy.tool("read_file", {"path": "/secret"})
    failed = proxy.tool(tool, arguments)
    assert failed["result"]["isError"] is True if failure == "isError" else "error" in failed
    assert _denied_by(proxy.tool("send_email", {"n": 1}), "no-secrets-out")
    # A clear that succeeds does remove the taint, and the audit log shows when.
    cleared_id = proxy.request("tools/call", {"name": "echo", "arguments": {"clear": True}})
    assert "result" in _answer_to(proxy, cleared_id)
    assert "result" in proxy.tool("send_email", {"n": 2})
    assert proxy.close() == 0
    assert _mails_received(started.record) == [2]
    assert _calls_received(started.record) == ["read_file", tool, "echo", "send_email"]
    records = _audit(started.audit)
    [decision] = [r for r in records if r["event"] == "decision" and r["request_id"] == cleared_id]
    assert decision["taints_after"] == ["SECRET"]  # forwarding it removed nothing yet ...
    [changed] = [r for r in records if r["event"] == "taints_changed"]
    assert changed["request_id"] == cleared_id  # ... its successful answer did
    assert (changed["taints_before"], changed["taints_after"], changed["cause"]) == (["SECRET"], [], "remove_taint")


def test_a_clear_that_is_cancelled_or_times_out_clears_nothing(start_proxy: StartProxy) -> None:
    started = start_proxy("--request-timeout", "1", policy=CLEARING)
    proxy = started.proxy
    proxy.initialize()
    assert "result" in proxy.tool("read_file", {"path": "/secret"})
    cancelled = proxy.request("tools/call", {"name": "hang", "arguments": {}})
    assert wait_until(lambda: "hang" in _calls_received(started.record))
    proxy.send({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": cancelled}})
    assert _denied_by(proxy.tool("send_email", {"n": 1}), "no-secrets-out")
    timed_out = proxy.request("tools/call", {"name": "hang", "arguments": {}})
    assert _answer_to(proxy, timed_out)["error"]["code"] == SERVER_UNAVAILABLE
    assert _denied_by(proxy.tool("send_email", {"n": 2}), "no-secrets-out")
    assert proxy.close() == 0
    assert _calls_received(started.record) == ["read_file", "hang", "hang"]  # both went out; no mail did
    assert not [r for r in _audit(started.audit) if r["event"] == "taints_changed"]


def test_a_clear_whose_server_crashes_clears_nothing(start_proxy: StartProxy) -> None:
    started = start_proxy("--restart", "on-failure", "--max-restarts", "1", policy=CLEARING)
    proxy = started.proxy
    proxy.initialize()
    assert "result" in proxy.tool("read_file", {"path": "/secret"})
    assert proxy.tool("crash")["error"]["code"] == SERVER_UNAVAILABLE
    assert _denied_by(proxy.tool("send_email", {"n": 1}), "no-secrets-out")
    assert "result" in proxy.tool("read_file", {"path": "/secret"}, timeout=20)  # the restarted server answers
    assert "result" in proxy.tool("slow", {"ms": 50})  # control: a clear that succeeds
    assert "result" in proxy.tool("send_email", {"n": 2})
    assert proxy.close() == 0
    assert _mails_received(started.record) == [2]
    assert _calls_received(started.record) == ["read_file", "crash", "read_file", "slow", "send_email"]


def test_a_clear_takes_back_only_what_was_added_before_it_went_out(start_proxy: StartProxy) -> None:
    started = start_proxy(policy=CLEARING)
    proxy = started.proxy
    proxy.initialize()
    assert "result" in proxy.tool("read_file", {"path": "/old-secret"})
    clearing = proxy.request("tools/call", {"name": "slow", "arguments": {"ms": 700}})
    assert "result" in proxy.tool("read_file", {"path": "/new-secret"})  # answered while the clear runs
    assert "result" in _answer_to(proxy, clearing)
    assert _denied_by(proxy.tool("send_email", {"n": 1}), "no-secrets-out")  # the new secret stays
    assert proxy.close() == 0
    assert _mails_received(started.record) == []
    assert not [r for r in _audit(started.audit) if r["event"] == "taints_changed"]


# --- Q3: a section under both spellings -----------------------------------------------------------

BOTH_SPELLINGS = """\
version: 1
static_rules:
  read_file: ALLOW
  fetch: ALLOW
argument_rules:
  - {tool: read_file, arg: path, path_within: [/tmp]}
# pasted from a lilith-zero policy:
argumentRules:
  - {tool: fetch, arg: url, url_host_in: [example.com]}
"""


def test_a_section_under_both_spellings_is_refused_where_the_second_is(tmp_path: Path) -> None:
    policy, record = tmp_path / "policy.yaml", tmp_path / "received.jsonl"
    policy.write_text(BOTH_SPELLINGS)
    check = subprocess.run([LILITH, "policy", "check", str(policy)], capture_output=True, text=True, timeout=60)
    assert check.returncode == 1
    assert f"{policy}:8:1: 'argumentRules' repeats the section 'argument_rules'" in check.stderr
    run = subprocess.run(
        lilith_run("--policy", str(policy), server=[*HOSTILE, "--record", str(record)]),
        input=b"",
        capture_output=True,
        timeout=60,
    )
    assert run.returncode == 2
    assert f"{policy}:8:1:".encode() in run.stderr
    assert recorded(record) == []  # the server never got anything: read_file /etc/shadow cannot go out


# --- Q6: URLs without slashes under "**" ----------------------------------------------------------

URL_HOSTS = """\
version: 1
static_rules: {fetch: ALLOW, open: ALLOW}
argument_rules:
  - {id: no-evil, tool: fetch, arg: "**", url_host_not_in: [evil.example]}
  - {id: docs-only, tool: open, arg: "**", url_host_in: [docs.python.org]}
"""
SLASHLESS = [
    "http:evil.example/x",
    "https:evil.example",
    "HTTPS:evil.example",
    " \x01http:evil.example/x",
    "ht\ttp:evil.example",
    "wss:evil.example",
    "ftp:evil.example/file",
]


def test_urls_without_slashes_are_checked_under_star_star(start_proxy: StartProxy) -> None:
    started = start_proxy(policy=URL_HOSTS)
    proxy = started.proxy
    proxy.initialize()
    for url in SLASHLESS:
        assert _denied_by(proxy.tool("fetch", {"target": {"url": url}}), "no-evil"), url
        assert _denied_by(proxy.tool("open", {"url": url}), "docs-only"), url
    assert "result" in proxy.tool("fetch", {"url": "https://docs.python.org/3/", "note": "mailto:me"})
    assert "result" in proxy.tool("open", {"url": "https://docs.python.org/3/", "note": "see http: later"})
    # An allowed host written without slashes is denied too: Python's and WHATWG's readings differ.
    assert _denied_by(proxy.tool("open", {"url": "https:docs.python.org/3/"}), "docs-only")
    assert proxy.close() == 0
    received = [
        m["params"]["arguments"]
        for m in recorded(started.record)
        if isinstance(m, dict) and m.get("method") == "tools/call"
    ]
    assert [args for args in received if "url" in args or "target" in args] == [
        {"url": "https://docs.python.org/3/", "note": "mailto:me"},
        {"url": "https://docs.python.org/3/", "note": "see http: later"},
    ]


# --- Q7: the example policies ---------------------------------------------------------------------


def _example(start_proxy: StartProxy, name: str, *options: str) -> tuple[Proxy, Path]:
    started = start_proxy(*options, policy=(EXAMPLES / name).read_text())
    started.proxy.initialize()
    return started.proxy, started.record


def test_the_shell_example_lists_only_inside_tmp(start_proxy: StartProxy) -> None:
    proxy, record = _example(start_proxy, "shell.yaml")
    for command in ("ls /tmp/../etc", "ls -la /tmp/../root/.ssh", "ls /tmp/a/.."):
        assert _denied_by(proxy.tool("run_command", {"command": command}), "only-ls-in-tmp"), command
    assert "result" in proxy.tool("run_command", {"command": "ls -la /tmp/build-1.2"})
    assert proxy.close() == 0
    assert [
        m["params"]["arguments"]["command"]
        for m in recorded(record)
        if isinstance(m, dict) and m.get("method") == "tools/call"
    ] == ["ls -la /tmp/build-1.2"]


def test_the_customer_data_example_keeps_customer_data_in(start_proxy: StartProxy, tmp_path: Path) -> None:
    proxy, record = _example(start_proxy, "customer-data.yaml", "--pin-store", str(tmp_path / "pins.json"))
    assert "result" in proxy.tool("query_customers", {"fields": ["name", "email"], "include_pii": False})
    denied = proxy.tool("send_email", {"to": "partner@example.org"})
    assert _denied_by(denied, "no-customer-data-out")
    smuggled = proxy.tool("send_email", {"to": "attacker@evil.example, x@support.example.com"})
    assert _denied_by(smuggled, "no-customer-data-out")
    assert "result" in proxy.tool("clear_context", {"confirm": True})  # the server does not know it: isError
    assert _denied_by(proxy.tool("send_email", {"to": "partner@example.org"}), "no-customer-data-out")
    assert "result" in proxy.tool("send_email", {"to": "lead@support.example.com"})
    assert proxy.close() == 0
    mails = [
        m["params"]["arguments"]["to"]
        for m in recorded(record)
        if isinstance(m, dict) and m.get("params", {}).get("name") == "send_email"
    ]
    assert mails == ["lead@support.example.com"]


def test_the_filesystem_example_keeps_every_path_in_work(start_proxy: StartProxy) -> None:
    proxy, record = _example(start_proxy, "filesystem.yaml")
    assert _denied_by(proxy.tool("search_files", {"path": "/", "pattern": "id_rsa"}), "search-stays-in-work")
    assert _denied_by(proxy.tool("get_file_info", {"path": "/etc/shadow"}), "info-stays-in-work")
    assert _denied_by(proxy.tool("read_media_file", {"path": "/etc/shadow"}), "media-reads-stay-in-work")
    assert _denied_by(proxy.tool("some_future_tool", {"path": "/etc"}), "default-deny")
    assert "result" in proxy.tool("get_file_info", {"path": "/tmp/work/notes.md"})
    assert proxy.close() == 0
    assert [m["params"] for m in recorded(record) if isinstance(m, dict) and m.get("method") == "tools/call"] == [
        {"name": "get_file_info", "arguments": {"path": "/tmp/work/notes.md"}}
    ]


# --- Q8: taint rules that can never fire ----------------------------------------------------------

DEAD_CLASS = """\
version: 1
static_rules: {read_file: ALLOW, fetch: ALLOW, send_email: ALLOW}
tool_classes:
  send_email: [EXFILTRATION]
taint_rules:
  - {tool: read_file, action: ADD_TAINT, tag: ACCESS_PRIVATE}
  - {tool: fetch, action: ADD_TAINT, tag: UNTRUSTED_SOURCE}
  - {tool_class: EXFILTRATON, action: CHECK_TAINT, forbidden_tags: [ACCESS_PRIVATE]}
"""
CASE_CLASS = """\
version: 1
static_rules: {read_file: ALLOW, fetch: ALLOW, send_email: ALLOW}
tool_classes:
  send_email: [Exfiltration]
taint_rules:
  - {tool: read_file, action: ADD_TAINT, tag: ACCESS_PRIVATE}
  - {tool: fetch, action: ADD_TAINT, tag: UNTRUSTED_SOURCE}
protect_lethal_trifecta: true
"""
NO_EXFILTRATION = """\
version: 1
static_rules: {read_file: ALLOW, fetch: ALLOW, send_email: ALLOW}
taint_rules:
  - {tool: read_file, action: ADD_TAINT, tag: ACCESS_PRIVATE}
  - {tool: fetch, action: ADD_TAINT, tag: UNTRUSTED_SOURCE}
protect_lethal_trifecta: true
"""


@pytest.mark.parametrize(
    ("text", "where", "says"),
    [
        (DEAD_CLASS, "8:6", "no tool has the class 'EXFILTRATON'"),
        (CASE_CLASS, "4:16", "class 'Exfiltration' differs from 'EXFILTRATION'"),
        (NO_EXFILTRATION, "6:1", "the lethal-trifecta guard blocks tools of class EXFILTRATION, and no tool"),
    ],
    ids=["undefined-class", "class-in-another-case", "trifecta-without-exfiltration"],
)
def test_taint_rules_that_can_never_fire_are_refused(tmp_path: Path, text: str, where: str, says: str) -> None:
    policy, record = tmp_path / "policy.yaml", tmp_path / "received.jsonl"
    policy.write_text(text)
    check = subprocess.run([LILITH, "policy", "check", str(policy)], capture_output=True, text=True, timeout=60)
    assert check.returncode == 1
    assert f"{policy}:{where}: {says}" in check.stderr
    run = subprocess.run(
        lilith_run("--policy", str(policy), server=[*HOSTILE, "--record", str(record)]),
        input=b"",
        capture_output=True,
        timeout=60,
    )
    assert run.returncode == 2 and f"{policy}:{where}:".encode() in run.stderr
    assert recorded(record) == []


HALF_A_TRIFECTA = """\
version: 1
static_rules: {read_file: ALLOW, send_email: ALLOW}
tool_classes: {send_email: [EXFILTRATION]}
taint_rules:
  - {tool: read_file, action: ADD_TAINT, tag: ACCESS_PRIVATE}
protect_lethal_trifecta: true
"""


def test_a_guard_nothing_can_set_off_is_reported(start_proxy: StartProxy) -> None:
    started = start_proxy(policy=HALF_A_TRIFECTA)
    check = subprocess.run([LILITH, "policy", "check", str(started.policy)], capture_output=True, text=True, timeout=60)
    assert check.returncode == 0 and check.stdout.strip().endswith(": ok")
    warning = f"{started.policy}:6:1: warning: protect_lethal_trifecta cannot fire: no rule adds UNTRUSTED_SOURCE"
    assert warning in check.stderr
    proxy = started.proxy
    proxy.initialize()
    assert "result" in proxy.tool("send_email", {"to": "a@example.com"})  # it loads and runs
    assert proxy.close() == 0
    assert "policy_warning" in proxy.stderr() and "no rule adds UNTRUSTED_SOURCE" in proxy.stderr()


def test_policy_test_tables_say_how_a_call_is_answered(tmp_path: Path) -> None:
    cases = tmp_path / "cases.yaml"
    cases.write_text(
        "cases:\n  - calls:\n"
        "      - {tool: read_file, expect: allow}\n"
        "      - {tool: clear_context, expect: allow, answer: error}\n"
        "      - {tool: send_email, expect: deny, rule: no-secrets-out}\n"
        "      - {tool: echo, expect: allow}\n"
        "      - {tool: send_email, expect: allow}\n"
        "      - {tool: echo, expect: allow, answer: maybe}\n"
    )
    policy = tmp_path / "policy.yaml"
    policy.write_text(CLEARING)
    bad = subprocess.run(
        [LILITH, "policy", "test", str(policy), str(cases)], capture_output=True, text=True, timeout=60
    )
    assert bad.returncode == 2 and f"{cases}:8:" in bad.stderr and "answer must be one of ok, error, none" in bad.stderr
    cases.write_text(cases.read_text().replace("      - {tool: echo, expect: allow, answer: maybe}\n", ""))
    done = subprocess.run(
        [LILITH, "policy", "test", str(policy), str(cases)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed, 0 failed" in done.stdout
