"""Resource patterns written the original lilith-zero's way: a bare path (``/etc/*``) is a ``file:`` pattern,
``~/...`` one under the server user's home, and a pattern without a scheme that could never match a checked URI
is refused when the policy loads (second review, finding 2). Through a real `lilith-zero` in front of the hostile
server, whose record shows which reads reached it."""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path

from tests.integration.harness import HOSTILE, LILITH, Proxy, recorded

ZERO = str(Path(LILITH).with_name("lilith-zero"))
POLICY = """
version: 1
static_rules:
  echo: ALLOW
resource_rules:
  - uri_pattern: "/etc/*"
    action: BLOCK
  - uri_pattern: "~/.ssh/*"
    action: BLOCK
  - uri_pattern: "*"
    action: ALLOW
"""


def test_bare_path_and_home_patterns_block_what_they_name(tmp_path: Path) -> None:
    policy, record = tmp_path / "policy.yaml", tmp_path / "received.jsonl"
    policy.write_text(POLICY)
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    server = shlex.join([*HOSTILE, "--record", str(record)])
    proxy = Proxy([ZERO, "run", "-u", server, "--policy", str(policy)], tmp_path, {"HOME": str(home)})
    try:
        proxy.initialize()
        refused = {
            uri: proxy.call("resources/read", {"uri": uri})["error"]["data"]["rule"]
            for uri in ("file:///etc/passwd", f"file://{home}/.ssh/id_rsa")
        }
        assert set(refused.values()) == {"resource_rules[0]", "resource_rules[1]"}, refused
        assert "result" in proxy.call("resources/read", {"uri": "file:///tmp/notes.txt"})
        reads = [m["params"]["uri"] for m in recorded(record) if m.get("method") == "resources/read"]
        assert reads == ["file:///tmp/notes.txt"]
        assert proxy.close() == 0
    finally:
        proxy.kill()


def test_a_pattern_without_a_scheme_that_can_never_match_is_refused(tmp_path: Path) -> None:
    for pattern in ("etc/*", ".env", "~root/.ssh/*"):
        policy = tmp_path / "policy.yaml"
        policy.write_text(f'version: 1\nresource_rules:\n  - uri_pattern: "{pattern}"\n    action: BLOCK\n')
        done = subprocess.run([LILITH, "policy", "check", str(policy)], capture_output=True, text=True, timeout=30)
        assert done.returncode == 1, (pattern, done.stdout, done.stderr)
        assert f"{policy}:3:5:" in done.stdout + done.stderr and "scheme" in done.stdout + done.stderr
