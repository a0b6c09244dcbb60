"""Review 5, policy paths, through a real ``lilith`` process in front of the hostile server (which records what
it receives), and once in front of the real @modelcontextprotocol/server-filesystem:

* Q1: a resource BLOCK rule meets the URI it names however it is spelled: under a symlinked directory, with a
  percent-escape copied from ``resources/list``, through a link below it, and in the reading of a server that
  collapses ``..`` first; ``taints_to_add`` likewise; ``lilith policy check`` refuses patterns that can never
  match.
* Q4: ``/proc/self``-style paths name Lilith when checked but the server when opened: refused.
* Q5: ``path_within`` conditions read paths as the server will, so a taint rule meets every spelling.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import StartProxy
from tests.integration.harness import HOSTILE, LILITH, ROOT, Proxy, lilith_run, recorded

FILESYSTEM_SERVER = ROOT / ".peers" / "node_modules" / ".bin" / "mcp-server-filesystem"


def _received(record: Path, method: str) -> list[dict[str, Any]]:
    return [m for m in recorded(record) if isinstance(m, dict) and m.get("method") == method]


def _real(path: Path) -> Path:
    return Path(os.path.realpath(path))


# --- Q1: resource patterns ----------------------------------------------------------------------------


def test_a_block_rule_meets_the_uri_it_names_however_it_is_spelled(start_proxy: StartProxy, tmp_path: Path) -> None:
    base = _real(tmp_path)
    (base / "real_dir").mkdir()
    (base / "link_dir").symlink_to(base / "real_dir")
    (base / "secrets").mkdir()
    (base / "public").mkdir()
    (base / "secrets" / "to_public").symlink_to(base / "public" / "x")
    (base / "allowed" / "deep").mkdir(parents=True)
    (base / "allowed" / "to_deep").symlink_to(base / "public")
    policy = f"""\
version: 1
resource_rules:
  - {{uri_pattern: "file://{base}/link_dir/secret*", action: BLOCK}}
  - {{uri_pattern: "file://{base}/My%20Docs/*", action: BLOCK}}
  - {{uri_pattern: "file://{base}/secrets/*", action: BLOCK}}
  - {{uri_pattern: "file://{base}/allowed/secret", action: BLOCK}}
  - {{uri_pattern: "file:///*", action: ALLOW}}
"""
    run = start_proxy(policy=policy)
    run.proxy.initialize()
    blocked = {
        f"file://{base}/link_dir/secret.txt": "resource_rules[0]",  # the rule's directory is a symlink
        f"file://{base}/real_dir/secret.txt": "resource_rules[0]",  # its target, spelled directly
        f"file://{base}/My%20Docs/salaries.xlsx": "resource_rules[1]",  # copied from resources/list
        f"file://{base}/secrets/to_public": "resource_rules[2]",  # a link below the rule, pointing away
        f"file://{base}/allowed/to_deep/../secret": "resource_rules[3]",  # a server that collapses '..' first
    }
    allowed = [f"file://{base}/link_dir/notes.txt", f"file://{base}/public/x", f"file://{base}/My%20Docs2/a"]
    answers = {uri: run.proxy.call("resources/read", {"uri": uri}) for uri in [*blocked, *allowed]}
    assert {uri: answers[uri]["error"]["data"]["rule"] for uri in blocked} == blocked
    assert all("result" in answers[uri] for uri in allowed)
    assert [m["params"]["uri"] for m in _received(run.record, "resources/read")] == allowed
    if os.path.islink("/var/run") and os.path.realpath("/var/run") == "/run":  # Debian and Ubuntu
        system = start_proxy(
            policy='version: 1\nresource_rules:\n  - {uri_pattern: "file:///var/run/secrets/*", action: BLOCK}\n'
            '  - {uri_pattern: "*", action: ALLOW}\n'
        )
        system.proxy.initialize()
        for uri in ("file:///var/run/secrets/token", "file:///run/secrets/token"):
            assert system.proxy.call("resources/read", {"uri": uri})["error"]["data"]["rule"] == "resource_rules[0]"
        assert _received(system.record, "resources/read") == []


def test_taints_to_add_meet_a_uri_under_a_symlinked_directory(start_proxy: StartProxy, tmp_path: Path) -> None:
    base = _real(tmp_path)
    (base / "crm" / "exports").mkdir(parents=True)
    (base / "crm_link").symlink_to(base / "crm")
    policy = f"""\
version: 1
static_rules: {{echo: ALLOW}}
tool_classes: {{echo: [EXFILTRATION]}}
resource_rules:
  - {{uri_pattern: "file://{base}/crm_link/exports/*", action: ALLOW, taints_to_add: [CUSTOMER_DATA]}}
  - {{uri_pattern: "file:///*", action: ALLOW}}
taint_rules:
  - {{tool_class: EXFILTRATION, action: CHECK_TAINT, forbidden_tags: [CUSTOMER_DATA]}}
"""
    run = start_proxy(policy=policy)
    run.proxy.initialize()
    assert "result" in run.proxy.tool("echo", {"text": "before"})
    # The canonical URI is under crm/, not crm_link/: the rule's directory must be resolved to meet it.
    assert "result" in run.proxy.call("resources/read", {"uri": f"file://{base}/crm/exports/all.csv"})
    denied = run.proxy.tool("echo", {"text": "after"})
    assert denied["error"]["data"]["rule"] == "taint_rules[0]"
    assert [m["params"]["arguments"]["text"] for m in _received(run.record, "tools/call")] == ["before"]
    assert [m["params"]["uri"] for m in _received(run.record, "resources/read")] == [
        f"file://{base}/crm/exports/all.csv"
    ]


@pytest.mark.parametrize(
    ("pattern", "problem"),
    [
        ("file:///srv/./x", "'.' segment"),
        ("file:///srv//x", "empty path segment"),
        ("file:///srv/", "empty path segment"),
        ("file://localhost/srv/*", "no host"),
        ("file:///srv/100%", "malformed percent-escape"),
    ],
)
def test_policy_check_refuses_a_pattern_that_can_never_match(tmp_path: Path, pattern: str, problem: str) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(f"version: 1\nresource_rules:\n  - uri_pattern: '{pattern}'\n    action: BLOCK\n")
    done = subprocess.run([LILITH, "policy", "check", str(policy)], capture_output=True, text=True, timeout=30)
    assert done.returncode == 1
    assert done.stderr.startswith(f"{policy}:3:") and problem in done.stderr


# --- Q4: /proc links ----------------------------------------------------------------------------------


def test_proc_self_paths_are_refused_where_lilith_and_the_server_differ(
    start_proxy: StartProxy, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = _real(tmp_path)
    lilith_dir, server_dir = base / "lilith_cwd", base / "server_cwd"
    (server_dir / ".ssh").mkdir(parents=True)
    lilith_dir.mkdir()
    (lilith_dir / "to_self").symlink_to("/proc/self/cwd")
    policy = f"""\
version: 1
static_rules: {{read_file: ALLOW, read_text: ALLOW}}
argument_rules:
  - {{tool: read_file, arg: path, path_within: ["{lilith_dir}"]}}
  - {{tool: read_text, arg: path, path_not_within: [.ssh]}}
"""
    monkeypatch.chdir(lilith_dir)  # Lilith runs inside the allowed root; the server does not
    run = start_proxy("--cwd", str(server_dir), policy=policy)
    run.proxy.initialize()
    refused = [
        ("read_file", "/proc/self/cwd/.ssh/id_rsa"),  # Lilith's cwd when checked, the server's when opened
        ("read_file", "/proc/thread-self/cwd/.ssh/id_rsa"),
        ("read_file", f"{lilith_dir}/to_self/.ssh/id_rsa"),  # a symlink to a /proc link
        ("read_text", "/proc/self/cwd/.ssh/id_rsa"),  # relative roots are the server's: ~ server_cwd/.ssh
    ]
    for tool, path in refused:
        reply = run.proxy.tool(tool, {"path": path})
        assert reply["error"]["data"]["rule"].startswith("argument_rules["), (tool, path)
        assert "/proc" in reply["error"]["data"]["reason"]
    assert "result" in run.proxy.tool("read_file", {"path": f"{lilith_dir}/notes.txt"})
    assert "result" in run.proxy.tool("read_text", {"path": "notes.txt"})
    assert [m["params"]["arguments"]["path"] for m in _received(run.record, "tools/call")] == [
        f"{lilith_dir}/notes.txt",
        "notes.txt",
    ]


@pytest.mark.skipif(not FILESYSTEM_SERVER.exists() or shutil.which("node") is None, reason="needs the npm peers")
def test_the_real_filesystem_server_does_not_read_the_server_cwd_through_proc_self(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = _real(tmp_path)
    lilith_dir, server_dir = base / "work", base / "home"
    lilith_dir.mkdir()
    (server_dir / ".ssh").mkdir(parents=True)
    (server_dir / ".ssh" / "id_rsa").write_text("PRIVATE KEY MATERIAL\n")
    policy = base / "policy.yaml"
    policy.write_text(
        "version: 1\nstatic_rules: {read_text_file: ALLOW}\nargument_rules:\n"
        f'  - {{tool: read_text_file, arg: path, path_within: ["{lilith_dir}"]}}\n'
    )
    monkeypatch.chdir(lilith_dir)
    args = ["--policy", str(policy), "--audit-log", str(base / "audit.jsonl"), "--cwd", str(server_dir)]
    proxy = Proxy(lilith_run(*args, server=[str(FILESYSTEM_SERVER), "/"]), base)
    try:
        proxy.initialize()
        reply = proxy.tool("read_text_file", {"path": "/proc/self/cwd/.ssh/id_rsa"}, timeout=20)
        assert "PRIVATE KEY" not in json.dumps(reply)  # what the server would have read: its own cwd's key
        assert reply["error"]["data"]["rule"] == "argument_rules[0]"
    finally:
        proxy.kill()


# --- Q5: path conditions ------------------------------------------------------------------------------


def test_a_path_within_condition_taints_every_spelling_of_a_secret_path(tmp_path: Path) -> None:
    base = _real(tmp_path)
    home = base / "home" / "me"
    (home / ".ssh").mkdir(parents=True)
    (base / "keys").symlink_to(home / ".ssh")
    (base / "pub").mkdir()
    (base / "pub" / "to_ssh").symlink_to(home / ".ssh" / "id_rsa")
    policy = base / "policy.yaml"
    policy.write_text(
        """\
version: 1
static_rules: {read_file: ALLOW, echo: ALLOW, add: ALLOW}
tool_classes: {echo: [EXFILTRATION]}
taint_rules:
  - {tool: read_file, action: ADD_TAINT, tag: SECRET, when: {arg: path, op: path_within, value: [~/.ssh]}}
  - {tool: add, action: REMOVE_TAINT, tag: SECRET}
  - {tool_class: EXFILTRATION, action: CHECK_TAINT, forbidden_tags: [SECRET]}
"""
    )
    record = base / "received.jsonl"
    args = ["--policy", str(policy), "--audit-log", str(base / "audit.jsonl"), "--cwd", str(home)]
    env = dict(os.environ, HOME=str(home))
    proxy = Proxy(lilith_run(*args, server=[*HOSTILE, "--record", str(record)]), base, env=env)
    spellings = [
        f"{home}/.ssh/id_rsa",
        "~/.ssh/id_rsa",  # the server's HOME
        ".ssh/id_rsa",  # relative to the server's working directory
        f"{base}/keys/id_rsa",  # a symlink to the directory
        f"{base}/pub/to_ssh",  # a symlink to the file
        f"{base}/home/me/x/../.ssh/id_rsa",
    ]
    try:
        proxy.initialize()
        for number, spelling in enumerate(spellings):
            assert "result" in proxy.tool("read_file", {"path": spelling})
            denied = proxy.tool("echo", {"n": number})
            assert denied.get("error", {}).get("data", {}).get("rule") == "taint_rules[2]", spelling
            assert "result" in proxy.tool("add", {"a": 1, "b": 1})  # clears the taint for the next spelling
        assert "result" in proxy.tool("read_file", {"path": f"{base}/pub/notes.txt"})
        assert "result" in proxy.tool("echo", {"n": "clean"})  # a path outside the root taints nothing
    finally:
        proxy.kill()
    calls = _received(record, "tools/call")
    assert [m["params"]["arguments"]["path"] for m in calls if m["params"]["name"] == "read_file"] == [
        *spellings,
        f"{base}/pub/notes.txt",
    ]
    assert [m["params"]["arguments"] for m in calls if m["params"]["name"] == "echo"] == [{"n": "clean"}]


def test_lilith_policy_explain_reads_path_conditions_like_the_proxy(tmp_path: Path) -> None:
    base = _real(tmp_path)
    policy = base / "policy.yaml"
    policy.write_text(
        "version: 1\nstatic_rules: {read_file: ALLOW}\ntaint_rules:\n"
        "  - {tool: read_file, action: BLOCK, when: {arg: path, op: path_within, value: [secrets]}}\n"
    )
    (base / "secrets").mkdir()
    argv = [LILITH, "policy", "explain", str(policy), "--tool", "read_file", "--cwd", str(base), "--json"]
    inside = subprocess.run([*argv, "--args", '{"path": "secrets/a"}'], capture_output=True, text=True, timeout=30)
    outside = subprocess.run([*argv, "--args", '{"path": "public/a"}'], capture_output=True, text=True, timeout=30)
    assert (inside.returncode, json.loads(inside.stdout)["rule"]) == (1, "taint_rules[0]"), inside.stderr
    assert (outside.returncode, json.loads(outside.stdout)["decision"]) == (0, "allow"), outside.stderr
