"""Review 6 of the policy, through a real ``lilith`` process in front of the recording hostile server, and once in
front of a file server built on the official TypeScript SDK:

* F1: a ``file:`` URI that a WHATWG URL parser reads as another file — a backslash (``\\`` is ``/`` to it), a
  trailing space (trimmed), a Windows drive letter (``..`` never removes it) — is refused, never forwarded, so
  neither a BLOCK nor an allow-list can be escaped; so is a path argument a URL parser reads as a ``file:`` URL;
  ``file:`` patterns that only such URIs could match are refused when the policy loads.
* F4: a key written under both spellings inside a rule (``forbidden_tags`` and ``forbiddenTags``) is refused
  with ``file:line:col``, never half-ignored.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.integration.harness import HOSTILE, LILITH, ROOT, Proxy, lilith_run, recorded

SDK = ROOT / ".peers" / "node_modules" / "@modelcontextprotocol" / "sdk" / "dist" / "esm" / "server"
SECRET = "TOP-SECRET-KEY"

# A resource server as the TypeScript SDK's documentation writes one: a file:///{+path} template, the URI
# parsed by McpServer with `new URL(...)` and opened with fileURLToPath.
TS_FILE_SERVER = """\
import {{ McpServer, ResourceTemplate }} from "{sdk}/mcp.js";
import {{ StdioServerTransport }} from "{sdk}/stdio.js";
import {{ readFileSync }} from "node:fs";
import {{ fileURLToPath }} from "node:url";

const server = new McpServer({{ name: "files", version: "1.0.0" }});
server.registerResource(
  "file",
  new ResourceTemplate("file:///{{+path}}", {{ list: undefined }}),
  {{ description: "any file" }},
  async (uri) => ({{ contents: [{{ uri: uri.href, text: readFileSync(fileURLToPath(uri), "utf8") }}] }}),
);
await server.connect(new StdioServerTransport());
"""


def _base(tmp_path: Path) -> Path:
    base = Path(os.path.realpath(tmp_path))
    (base / "secret").mkdir()
    (base / "secret" / "key").write_text(SECRET + "\n")
    (base / "pub").mkdir()
    (base / "pub" / "readme").write_text("hello\n")
    (base / "pub" / "private.txt").write_text(SECRET + " (private)\n")
    return base


def _resource_reads(record: Path) -> list[str]:
    return [m["params"]["uri"] for m in recorded(record) if isinstance(m, dict) and m.get("method") == "resources/read"]


# Two policies, and URIs that name a forbidden file to a WHATWG parser but, read as paths, an allowed one.
BLOCKING = """\
  - {{uri_pattern: "file://{base}/secret/*", action: BLOCK}}
  - {{uri_pattern: "file://{base}/pub/private.txt", action: BLOCK}}
  - {{uri_pattern: "file://{base}/*", action: ALLOW}}
"""
ALLOW_LIST = """\
  - {{uri_pattern: "file://{base}/pub/*", action: ALLOW}}
"""
ESCAPES = {
    "blocking": (
        BLOCKING,
        [
            "file://{base}/secret\\key",  # to a path normaliser one name, 'secret\key', in {base}
            "file://{base}/pub\\..\\secret/key",
            "file://{base}/pub/private.txt ",  # the exact BLOCK: WHATWG trims the space
        ],
    ),
    "allow-list": (
        ALLOW_LIST,
        [
            "file://{base}/pub/x\\..\\..\\secret\\key",  # one name 'x\..\..\secret\key' in pub
            "file://{base}/pub/x%5C..%5C..%5Csecret%5Ckey",  # a name to fileURLToPath; refused all the same
            "file:///C:/..{base}/pub/readme",  # /C:{base}/pub/readme to WHATWG, not {base}/pub/readme
        ],
    ),
}
# Not refused: a URL parser keeps escaped spaces, so this names 'private.txt  ' to everyone (no such file).
KEPT = "file://{base}/pub/private.txt%20%20"


def _policy(base: Path, rules: str) -> Path:
    path = base / "policy.yaml"
    path.write_text("version: 1\nstatic_rules: {}\nresource_rules:\n" + rules.format(base=base))
    return path


@pytest.mark.parametrize("case", sorted(ESCAPES))
def test_a_file_uri_a_url_parser_reads_as_another_file_never_reaches_the_server(tmp_path: Path, case: str) -> None:
    base = _base(tmp_path)
    rules, escapes = ESCAPES[case]
    record = base / "received.jsonl"
    args = ["--policy", str(_policy(base, rules)), "--audit-log", str(base / "audit.jsonl")]
    proxy = Proxy(lilith_run(*args, server=[*HOSTILE, "--record", str(record)]), base)
    allowed = [f"file://{base}/pub/readme", KEPT.format(base=base)]
    try:
        proxy.initialize()
        for uri in escapes:
            reply = proxy.call("resources/read", {"uri": uri.format(base=base)})
            assert reply["error"]["data"]["rule"] == "resource-invalid", uri
        for uri in allowed:
            assert "result" in proxy.call("resources/read", {"uri": uri})
    finally:
        proxy.kill()
    assert _resource_reads(record) == allowed  # nothing a URL parser reads as a forbidden file went out


@pytest.mark.skipif(not (SDK / "mcp.js").exists() or shutil.which("node") is None, reason="needs the npm peers")
@pytest.mark.parametrize("case", sorted(ESCAPES))
def test_the_typescript_sdk_file_server_never_serves_a_forbidden_file(tmp_path: Path, case: str) -> None:
    base = _base(tmp_path)
    rules, escapes = ESCAPES[case]
    server = base / "ts_file_server.mjs"
    server.write_text(TS_FILE_SERVER.format(sdk=SDK))
    args = ["--policy", str(_policy(base, rules)), "--audit-log", str(base / "audit.jsonl")]
    proxy = Proxy(lilith_run(*args, server=["node", str(server)]), base)
    try:
        proxy.initialize("2025-06-18")
        for uri in escapes:
            reply = proxy.call("resources/read", {"uri": uri.format(base=base)}, timeout=20)
            assert SECRET not in json.dumps(reply), uri
            assert reply["error"]["data"]["rule"] == "resource-invalid", uri
        allowed = proxy.call("resources/read", {"uri": f"file://{base}/pub/readme"}, timeout=20)
        assert allowed["result"]["contents"][0]["text"] == "hello\n"  # the server does serve what is allowed
    finally:
        proxy.kill()


def test_a_path_argument_a_url_parser_reads_as_a_file_uri_is_no_path(tmp_path: Path) -> None:
    base = _base(tmp_path)
    home = base / "home"
    (home / ".ssh").mkdir(parents=True)
    record = base / "received.jsonl"
    policy = base / "policy.yaml"
    policy.write_text(
        "version: 1\nstatic_rules: {read_file: ALLOW, read_text: ALLOW, echo: ALLOW}\n"
        f'argument_rules:\n  - {{tool: read_file, arg: path, path_within: ["{base}/pub"]}}\n'
        "tool_classes: {echo: [EXFILTRATION]}\ntaint_rules:\n"
        "  - {tool: read_text, action: ADD_TAINT, tag: SECRET, when: {arg: path, op: path_within, value: [~/.ssh]}}\n"
        "  - {tool_class: EXFILTRATION, action: CHECK_TAINT, forbidden_tags: [SECRET]}\n"
    )
    # With the server working in pub, " file:///etc/passwd" read as a path is {base}/pub/" file:/etc/passwd".
    args = ["--policy", str(policy), "--audit-log", str(base / "audit.jsonl"), "--cwd", str(base / "pub")]
    env = dict(os.environ, HOME=str(home))
    proxy = Proxy(lilith_run(*args, server=[*HOSTILE, "--record", str(record)]), base, env=env)
    try:
        proxy.initialize()
        for value in (" file:///etc/passwd", "fi\tle:///etc/passwd"):
            reply = proxy.tool("read_file", {"path": value})
            assert reply["error"]["data"]["rule"] == "argument_rules[0]", value
            assert "file: URI" in reply["error"]["data"]["reason"]
        # a path condition cannot tell where it points: unknown, so the ADD_TAINT taints
        assert "result" in proxy.tool("read_text", {"path": f" file://{home}/.ssh/id_rsa"})
        assert proxy.tool("echo", {"text": "out"})["error"]["data"]["rule"] == "taint_rules[1]"
    finally:
        proxy.kill()
    calls = [m["params"] for m in recorded(record) if isinstance(m, dict) and m.get("method") == "tools/call"]
    assert calls == [{"name": "read_text", "arguments": {"path": f" file://{home}/.ssh/id_rsa"}}]


@pytest.mark.parametrize(
    ("pattern", "why"),
    [
        ("'file:///srv/a\\\\b/*'", "a backslash never appears"),  # a glob-escaped (literal) backslash
        ('"file:///srv/a%5Cb/*"', "a backslash never appears"),
        ('"file:///C:/*"', "a Windows drive letter ('C:') never appears"),
    ],
)
def test_a_file_pattern_only_a_refused_uri_could_match_is_refused_at_load(
    tmp_path: Path, pattern: str, why: str
) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(f"version: 1\nresource_rules:\n  - {{uri_pattern: {pattern}, action: ALLOW}}\n")
    check = subprocess.run([LILITH, "policy", "check", str(policy)], capture_output=True, text=True, timeout=60)
    assert check.returncode == 1
    assert f"{policy}:3:6: uri_pattern" in check.stderr and f"can never match: {why}" in check.stderr


# --- F4: two spellings of a key inside a rule ------------------------------------------------------------

TWO_SPELLINGS = """\
version: 1
static_rules: {{read_customers: ALLOW, send_email: ALLOW}}
tool_classes: {{send_email: [EXFILTRATION]}}
resource_rules:
  - {{uri_pattern: "file:///srv/*", action: ALLOW, taints_to_add: [PII]}}
taint_rules:
  - {{tool: read_customers, action: ADD_TAINT, tag: PII}}
  - tool: send_email
    action: CHECK_TAINT
{rule}"""

RULES = [
    # (the rule's further lines, where the second spelling is, its key, the first one's key)
    ("    forbidden_tags: [SECRET]\n    forbiddenTags: [PII]  # pasted from lilith-zero\n", "11:5", "forbiddenTags"),
    ("    forbiddenTags: [PII]\n    forbidden_tags: [SECRET]\n", "11:5", "forbidden_tags"),
    ("    required_taints: [PII]\n    requiredTaints: [OK]\n", "11:5", "requiredTaints"),
    ("    tool_class: EXFILTRATION\n    toolClass: EXFILTRATION\n", "11:5", "toolClass"),
]


def _refused(policy: Path, where: str, second: str) -> None:
    check = subprocess.run([LILITH, "policy", "check", str(policy)], capture_output=True, text=True, timeout=60)
    assert check.returncode == 1
    assert f"{policy}:{where}: '{second}' repeats the key" in check.stderr
    assert "under its other spelling; write the key once" in check.stderr


@pytest.mark.parametrize(("rule", "where", "second"), RULES)
def test_a_taint_rule_with_both_spellings_of_a_key_is_refused(
    tmp_path: Path, rule: str, where: str, second: str
) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(TWO_SPELLINGS.format(rule=rule))
    _refused(policy, where, second)


def test_a_resource_rule_with_both_spellings_is_refused_and_lilith_does_not_start(tmp_path: Path) -> None:
    policy, record = tmp_path / "policy.yaml", tmp_path / "received.jsonl"
    text = TWO_SPELLINGS.format(rule="    forbidden_tags: [PII]\n").replace(
        "taints_to_add: [PII]}", "taints_to_add: [PII],\n      taintsToAdd: [AUDITED]}"
    )
    policy.write_text(text)
    _refused(policy, "6:7", "taintsToAdd")
    run = subprocess.run(
        lilith_run("--policy", str(policy), server=[*HOSTILE, "--record", str(record)]),
        input=b"",
        capture_output=True,
        timeout=60,
    )
    assert run.returncode == 2
    assert f"{policy}:6:7:".encode() in run.stderr
    assert recorded(record) == []  # the server never started, nothing went out


def test_the_reviewers_policy_no_longer_lets_pii_out(tmp_path: Path) -> None:
    """The reported case: a pasted ``forbiddenTags: [PII]`` next to ``forbidden_tags``, with PII held."""
    policy, record = tmp_path / "policy.yaml", tmp_path / "received.jsonl"
    policy.write_text(TWO_SPELLINGS.format(rule=RULES[0][0]))
    run = subprocess.run(
        lilith_run("--policy", str(policy), server=[*HOSTILE, "--record", str(record)]),
        input=_session_lines(),
        capture_output=True,
        timeout=60,
    )
    assert run.returncode == 2 and f"{policy}:11:5:".encode() in run.stderr
    assert recorded(record) == []  # no send_email reached the server


def _session_lines() -> bytes:
    messages: list[dict[str, Any]] = [
        {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2025-11-25"}},
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "read_customers", "arguments": {}}},
        {"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": "send_email", "arguments": {}}},
    ]
    return b"".join(json.dumps(message).encode() + b"\n" for message in messages)
