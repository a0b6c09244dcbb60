"""A policy file nested thousands of levels deep is refused with its place, never a traceback: at start
(exit 2, no server started), by ``lilith policy check``, and on a hot reload (the old policy stays)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.integration.conftest import StartProxy
from tests.integration.harness import LILITH, wait_until

DEEP_LIST = "version: 1\nstatic_rules: " + "[" * 5000 + "]" * 5000 + "\n"
DEEP_MAP = "version: 1\ntaint_rules:\n  - when: " + "{not: " * 5000 + "true" + "}" * 5000 + "\n"


def _lilith(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([LILITH, *args], capture_output=True, text=True, timeout=30, check=False)


def test_lilith_does_not_start_on_a_deeply_nested_policy(tmp_path: Path) -> None:
    for n, (text, line) in enumerate(((DEEP_LIST, 2), (DEEP_MAP, 3))):
        policy, marker = tmp_path / f"deep{n}.yaml", tmp_path / f"server-started-{n}"
        policy.write_text(text)
        server = [sys.executable, "-c", f"open({str(marker)!r}, 'w')"]
        done = _lilith("run", "--policy", str(policy), "--", *server)
        assert done.returncode == 2, done.stderr
        assert f"{policy}:{line}:" in done.stderr and "nesting deeper than" in done.stderr
        assert "Traceback" not in done.stderr
        assert not marker.exists()  # the server was never started


def test_policy_check_names_the_place_of_too_deep_nesting(tmp_path: Path) -> None:
    policy = tmp_path / "deep.yaml"
    policy.write_text(DEEP_LIST)
    done = _lilith("policy", "check", str(policy))
    assert done.returncode == 1
    assert done.stderr.startswith(f"{policy}:2:") and "nesting deeper than 200 levels" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_deeply_nested_reload_is_rejected_and_the_old_policy_stays(start_proxy: StartProxy) -> None:
    started = start_proxy()
    proxy = started.proxy
    proxy.initialize()
    assert "result" in proxy.tool("echo", {"text": "before"})
    started.policy.write_text(DEEP_LIST)
    assert wait_until(lambda: "policy_reload_failed" in proxy.stderr(), timeout=5)
    assert proxy.proc.poll() is None  # still running
    assert "after" in proxy.tool("echo", {"text": "after"})["result"]["content"][0]["text"]  # old policy: allowed
    assert proxy.tool("delete_file", {"path": "/x"})["error"]["data"]["rule"] == "static_rules.delete_file"
    assert proxy.close() == 0
    assert "Traceback" not in proxy.stderr()
    records = [json.loads(line) for line in started.audit.read_bytes().splitlines()]
    [rejected] = [r for r in records if r["event"] == "policy_reload"]
    assert rejected["outcome"] == "rejected" and "nesting deeper than" in rejected["error"]
