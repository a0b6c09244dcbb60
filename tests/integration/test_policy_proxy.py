"""Policy behaviour that a client can see, through a real Lilith process in front of the hostile server."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import StartProxy
from tests.integration.harness import lilith_run, recorded, wait_until


def _calls(record: Path) -> list[str]:
    return [
        m["params"]["name"]
        for m in recorded(record)
        if isinstance(m, dict) and m.get("method") == "tools/call" and isinstance(m.get("params"), dict)
    ]


def test_tools_list_shows_only_what_may_be_called(start_proxy: StartProxy) -> None:
    run = start_proxy(policy="version: 1\nstatic_rules:\n  echo: ALLOW\n  'read_*': ALLOW\n  read_file: DENY\n")
    run.proxy.initialize()
    listed = run.proxy.call("tools/list")["result"]
    assert [tool["name"] for tool in listed["tools"]] == ["echo"]
    assert listed["x-hostile"] is True  # the rest of the result is untouched


def test_modern_era_tools_list_is_filtered_too(start_proxy: StartProxy) -> None:
    run = start_proxy(policy="version: 1\nstatic_rules:\n  add: ALLOW\n")
    meta = {"io.modelcontextprotocol/protocolVersion": "2026-07-28"}
    listed = run.proxy.call("tools/list", {"_meta": meta})["result"]
    assert [tool["name"] for tool in listed["tools"]] == ["add"]
    assert "ttlMs" in listed


def test_audit_mode_forwards_everything_and_records_would_deny(start_proxy: StartProxy) -> None:
    run = start_proxy(policy="version: 1\nmode: audit\nstatic_rules:\n  echo: ALLOW\n  delete_file: DENY\n")
    run.proxy.initialize()
    assert len(run.proxy.call("tools/list")["result"]["tools"]) == 15
    assert "result" in run.proxy.tool("delete_file", {"path": "/x"})
    assert "result" in run.proxy.tool("echo")
    assert _calls(run.record) == ["delete_file", "echo"]
    records = [json.loads(line) for line in run.audit.read_text().splitlines()]
    decisions = [(r["tool"], r["decision"], r["rule"]) for r in records if r["event"] == "decision"]
    assert decisions == [
        ("delete_file", "would-deny", "static_rules.delete_file"),
        ("echo", "allow", "static_rules.echo"),
    ]


def test_on_deny_tool_result(start_proxy: StartProxy) -> None:
    run = start_proxy(policy="version: 1\non_deny: tool_result\nstatic_rules:\n  echo: ALLOW\n")
    run.proxy.initialize()
    reply = run.proxy.tool("delete_file", {"path": "/x"})
    assert reply["result"]["isError"] is True
    assert reply["result"]["content"][0]["text"].startswith("Lilith: ")
    assert _calls(run.record) == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("version: 1\nmode: permissive\n", ":2:1: mode must be one of enforce, audit"),
        ("version: 1\non_deny: silently\n", ":2:1: on_deny must be one of error, tool_result"),
    ],
)
def test_bad_mode_or_on_deny_is_refused(tmp_path: Path, text: str, expected: str) -> None:
    policy = tmp_path / "p.yaml"
    policy.write_text(text)
    done = subprocess.run(lilith_run("--policy", str(policy)), input=b"", capture_output=True, timeout=30)
    assert done.returncode == 2
    assert f"{policy}{expected}" in done.stderr.decode()


def test_argument_rules_through_a_real_proxy(start_proxy: StartProxy, tmp_path: Path) -> None:
    allowed = tmp_path / "allowed"
    allowed.mkdir()
    (allowed / "notes.txt").write_text("x")
    (tmp_path / "allowed-evil").mkdir()
    (allowed / "escape").symlink_to("/etc")
    policy = f"""
version: 1
static_rules:
  run_command: ALLOW
  read_file: ALLOW
  echo: ALLOW
argument_rules:
  - tool: run_command
    arg: command
    match: '^ls( -[al]+)? /tmp(/[\\w.-]+)*$'
  - tool: read_file
    arg: path
    path_within: [{allowed}]
  - id: fetch-hosts
    tool: echo
    arg: url
    url_host_in: [example.com]
  - tool: "*"
    arg: "**"
    no_leading_dash: true
"""
    run = start_proxy(policy=policy)
    run.proxy.initialize()
    verdicts = {}
    for name, tool, arguments in [
        ("ls", "run_command", {"command": "ls -la /tmp/x"}),
        ("ls-chained", "run_command", {"command": "ls /tmp; rm -rf /"}),
        ("ls-newline", "run_command", {"command": "ls /tmp\nrm -rf /"}),
        ("ls-subshell", "run_command", {"command": "ls /tmp/$(id)"}),
        ("read", "read_file", {"path": str(allowed / "notes.txt")}),
        ("read-dotdot", "read_file", {"path": f"{allowed}/../allowed-evil/x"}),
        ("read-sibling", "read_file", {"path": f"{allowed}-evil/x"}),
        ("read-symlink", "read_file", {"path": str(allowed / "escape" / "passwd")}),
        ("read-missing-arg", "read_file", {}),
        ("url", "echo", {"url": "https://example.com/a"}),
        ("url-userinfo", "echo", {"url": "https://example.com@evil.com/"}),
        ("flag", "echo", {"url": "https://example.com/", "x": "--upload-pack=evil"}),
    ]:
        reply = run.proxy.tool(tool, arguments)
        verdicts[name] = "allowed" if "result" in reply else reply["error"]["data"]["rule"]
    assert verdicts == {
        "ls": "allowed",
        "ls-chained": "argument_rules[0]",
        "ls-newline": "argument_rules[0]",
        "ls-subshell": "argument_rules[0]",
        "read": "allowed",
        "read-dotdot": "argument_rules[1]",
        "read-sibling": "argument_rules[1]",
        "read-symlink": "argument_rules[1]",
        "read-missing-arg": "argument_rules[1]",
        "url": "allowed",
        "url-userinfo": "fetch-hosts",
        "flag": "argument_rules[3]",
    }
    received = [
        m["params"]["arguments"]
        for m in recorded(run.record)
        if isinstance(m, dict) and m.get("method") == "tools/call"
    ]
    assert received == [
        {"command": "ls -la /tmp/x"},
        {"path": str(allowed / "notes.txt")},
        {"url": "https://example.com/a"},
    ]


def test_bad_argument_rule_names_its_place(tmp_path: Path) -> None:
    policy = tmp_path / "p.yaml"
    policy.write_text("version: 1\nargument_rules:\n  - tool: x\n    arg: y\n    match: '(a'\n")
    done = subprocess.run(lilith_run("--policy", str(policy)), input=b"", capture_output=True, timeout=30)
    assert done.returncode == 2
    assert f"{policy}:5:" in done.stderr.decode()


def _reloads(run_audit: Path) -> list[str]:
    records = [json.loads(line) for line in run_audit.read_text().splitlines()]
    return [r["outcome"] for r in records if r.get("event") == "policy_reload"]


def test_sighup_swaps_the_policy_and_a_bad_file_keeps_the_old_one(start_proxy: StartProxy) -> None:
    run = start_proxy(policy="version: 1\nstatic_rules:\n  echo: ALLOW\n")
    run.proxy.initialize()
    assert "result" in run.proxy.tool("echo")
    run.policy.write_text("version: 1\nstatic_rules:\n  echo: DENY\n  add: ALLOW\n")
    os.kill(run.proxy.proc.pid, signal.SIGHUP)
    assert wait_until(lambda: _reloads(run.audit) == ["applied"])
    assert run.proxy.tool("echo")["error"]["code"] == -32000
    assert "result" in run.proxy.tool("add", {"a": 1, "b": 2})
    run.policy.write_text("version: 1\nstatic_rules:\n  echo: ALLOW\n  add: [oops\n")
    os.kill(run.proxy.proc.pid, signal.SIGHUP)
    assert wait_until(lambda: _reloads(run.audit) == ["applied", "rejected"])
    assert run.proxy.tool("echo")["error"]["code"] == -32000  # the old policy still holds
    assert "result" in run.proxy.tool("add", {"a": 1, "b": 2})
    assert run.proxy.proc.poll() is None  # SIGHUP reloads; it does not stop Lilith
    assert "policy_reload_failed" in run.proxy.stderr()


def test_policy_file_change_is_picked_up_without_a_signal(start_proxy: StartProxy) -> None:
    run = start_proxy(policy="version: 1\nstatic_rules:\n  echo: ALLOW\n")
    run.proxy.initialize()
    assert "result" in run.proxy.tool("echo")
    run.policy.write_text("version: 1\nstatic_rules:\n  add: ALLOW\n")
    assert wait_until(lambda: _reloads(run.audit) == ["applied"], timeout=5)
    assert run.proxy.tool("echo")["error"]["code"] == -32000
    assert [t["name"] for t in run.proxy.call("tools/list")["result"]["tools"]] == ["add"]


def test_rate_limit_through_a_real_proxy(start_proxy: StartProxy) -> None:
    run = start_proxy(
        policy=(
            "version: 1\nstatic_rules:\n  echo: ALLOW\n  add: ALLOW\n"
            "rate_limits:\n  - id: echo-limit\n    tool: echo\n    max_calls: 3\n    per_seconds: 60\n"
        )
    )
    run.proxy.initialize()
    outcomes = []
    for n in range(5):
        reply = run.proxy.tool("echo", {"n": n})
        outcomes.append("ok" if "result" in reply else reply["error"]["data"]["rule"])
        assert run.proxy.tool("delete_file")["error"]["data"]["rule"] == "default-deny"  # never counted
    assert outcomes == ["ok", "ok", "ok", "echo-limit", "echo-limit"]
    assert "result" in run.proxy.tool("add", {"a": 1, "b": 1})  # other tools are not limited
    assert _calls(run.record) == ["echo", "echo", "echo", "add"]


def test_lethal_trifecta_through_a_real_proxy(start_proxy: StartProxy) -> None:
    run = start_proxy(
        policy=(
            "version: 1\nstatic_rules:\n  read_file: ALLOW\n  echo: ALLOW\n  add: ALLOW\n"
            "tool_classes:\n  add: [EXFILTRATION]\n"
            "taint_rules:\n"
            "  - tool: read_file\n    action: ADD_TAINT\n    tag: ACCESS_PRIVATE\n"
            "  - tool: echo\n    action: ADD_TAINT\n    tag: UNTRUSTED_SOURCE\n"
            "protect_lethal_trifecta: true\n"
        )
    )
    run.proxy.initialize()
    assert "result" in run.proxy.tool("add", {"a": 1, "b": 1})
    assert "result" in run.proxy.tool("read_file", {"path": "/home/u/.ssh/id_rsa"})
    assert "result" in run.proxy.tool("add", {"a": 2, "b": 2})  # private data alone is not the trifecta
    assert "result" in run.proxy.tool("echo", {"page": "ignore previous instructions"})
    blocked = run.proxy.tool("add", {"a": 3, "b": 3})
    assert blocked["error"]["data"]["rule"] == "protect_lethal_trifecta"
    assert _calls(run.record) == ["add", "read_file", "add", "echo"]


RESOURCE_POLICY = """\
version: 1
resource_rules:
  - uri_pattern: "file:///tmp/secret*"
    action: BLOCK
  - uri_pattern: "file:///tmp/*"
    action: ALLOW
  - uri_pattern: "https://example.com/*"
    action: ALLOW
prompt_rules:
  - prompt: "review_*"
    action: ALLOW
"""


def test_resource_and_prompt_rules_through_a_real_proxy(start_proxy: StartProxy) -> None:
    run = start_proxy(policy=RESOURCE_POLICY)
    run.proxy.initialize()
    listed = run.proxy.call("resources/list")["result"]["resources"]
    assert [item["uri"] for item in listed] == ["file:///tmp/notes.txt", "https://example.com/page"]
    prompts = run.proxy.call("prompts/list")["result"]["prompts"]
    assert [item["name"] for item in prompts] == ["review_code", "review_docs"]
    verdicts = {}
    for uri in [
        "file:///tmp/notes.txt",
        "file:///tmp/../etc/passwd",
        "file:///%65tc/passwd",
        "file:///tmp/%2e%2e/etc/passwd",
        "file:///tmp/secret.key",
        "file://evil.example/tmp/x",
        "https://example.com/page",
        "HTTPS://EXAMPLE.COM/a/../page",
        "mem://other",
    ]:
        reply = run.proxy.call("resources/read", {"uri": uri})
        verdicts[uri] = "ok" if "result" in reply else reply["error"]["data"]["rule"]
    assert verdicts == {
        "file:///tmp/notes.txt": "ok",
        "file:///tmp/../etc/passwd": "resource-default-deny",
        "file:///%65tc/passwd": "resource-default-deny",
        "file:///tmp/%2e%2e/etc/passwd": "resource-default-deny",
        "file:///tmp/secret.key": "resource_rules[0]",
        "file://evil.example/tmp/x": "resource-invalid",
        "https://example.com/page": "ok",
        "HTTPS://EXAMPLE.COM/a/../page": "ok",
        "mem://other": "resource-default-deny",
    }
    assert run.proxy.call("resources/subscribe", {"uri": "file:///etc/passwd"})["error"]["code"] == -32000
    assert "result" in run.proxy.call("prompts/get", {"name": "review_code"})
    assert run.proxy.call("prompts/get", {"name": "exfiltrate"})["error"]["data"]["rule"] == "prompt-default-deny"
    assert run.proxy.call("resources/read", {})["error"]["code"] == -32602
    reads = [
        m["params"]["uri"]
        for m in recorded(run.record)
        if isinstance(m, dict) and m.get("method") in ("resources/read", "resources/subscribe")
    ]
    assert reads == ["file:///tmp/notes.txt", "https://example.com/page", "HTTPS://EXAMPLE.COM/a/../page"]


def test_without_resource_rules_resources_pass(start_proxy: StartProxy) -> None:
    run = start_proxy()
    run.proxy.initialize()
    assert len(run.proxy.call("resources/list")["result"]["resources"]) == 4
    assert "result" in run.proxy.call("resources/read", {"uri": "file:///etc/passwd"})
    assert "result" in run.proxy.call("prompts/get", {"name": "exfiltrate"})


CONDITIONAL_TAINTS = """\
version: 1
static_rules:
  echo: ALLOW
  read_file: ALLOW
  run_command: ALLOW
tool_classes:
  echo: [EXFILTRATION]
resource_rules:
  - uri_pattern: "file:///tmp/*"
    action: ALLOW
    taints_to_add: [ACCESS_PRIVATE]
  - uri_pattern: "https://example.com/*"
    action: ALLOW
    taints_to_add: [UNTRUSTED_SOURCE]
taint_rules:
  - tool: read_file
    action: ADD_TAINT
    tag: SECRET
    when: {arg: path, op: glob, value: "/srv/secrets/*"}
  - id: no-secret-out
    tool_class: EXFILTRATION
    action: CHECK_TAINT
    forbidden_tags: [SECRET]
    exceptions:
      - when: {all: [{arg: redacted, op: eq, value: true}, {session: call_count, op: lt, value: 10}]}
  - id: no-rm
    tool: run_command
    action: BLOCK
    when: {arg: command, op: matches, value: '.*\\brm\\b.*'}
protect_lethal_trifecta: true
"""


def test_conditions_exceptions_and_resource_taints_through_a_real_proxy(start_proxy: StartProxy) -> None:
    run = start_proxy(policy=CONDITIONAL_TAINTS)
    run.proxy.initialize()
    outcomes = []
    steps: list[tuple[str, dict[str, Any]]] = [
        ("tools/call", {"name": "run_command", "arguments": {"command": "ls /tmp"}}),
        ("tools/call", {"name": "run_command", "arguments": {"command": "ls; rm -rf /"}}),
        ("tools/call", {"name": "run_command", "arguments": {}}),  # unknown: the BLOCK applies
        ("tools/call", {"name": "read_file", "arguments": {"path": "/tmp/a"}}),
        ("tools/call", {"name": "echo", "arguments": {"text": "fine"}}),
        ("tools/call", {"name": "read_file", "arguments": {"path": "/srv/secrets/key"}}),
        ("tools/call", {"name": "echo", "arguments": {"text": "leak"}}),
        ("tools/call", {"name": "echo", "arguments": {"text": "ok", "redacted": True}}),
        ("tools/call", {"name": "echo", "arguments": {"text": "x", "redacted": "true"}}),
        ("resources/read", {"uri": "file:///tmp/notes.txt"}),
        ("tools/call", {"name": "echo", "arguments": {"text": "ok", "redacted": True}}),
        ("resources/read", {"uri": "https://example.com/page"}),
        ("tools/call", {"name": "echo", "arguments": {"text": "ok", "redacted": True}}),
    ]
    for method, params in steps:
        reply = run.proxy.call(method, params)
        outcomes.append("ok" if "result" in reply else reply["error"]["data"]["rule"])
    assert outcomes == [
        "ok",
        "no-rm",
        "no-rm",
        "ok",
        "ok",
        "ok",
        "no-secret-out",
        "ok",
        "no-secret-out",
        "ok",
        "ok",
        "ok",
        "protect_lethal_trifecta",  # both resource reads tainted the session; no exception skips the guard
    ]
    forwarded = [
        (m["method"], m["params"].get("name") or m["params"].get("uri"))
        for m in recorded(run.record)
        if isinstance(m, dict) and m.get("method") in ("tools/call", "resources/read")
    ]
    assert forwarded == [
        ("tools/call", "run_command"),
        ("tools/call", "read_file"),
        ("tools/call", "echo"),
        ("tools/call", "read_file"),
        ("tools/call", "echo"),
        ("resources/read", "file:///tmp/notes.txt"),
        ("tools/call", "echo"),
        ("resources/read", "https://example.com/page"),
    ]
