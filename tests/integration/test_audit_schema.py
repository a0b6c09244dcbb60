"""One real Lilith run that writes (nearly) every kind of audit record; each must match the documented schema.

(Every other integration test's records are checked too, by the ``start_proxy`` fixture.)
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

from tests.integration.audit_records import schema_problems
from tests.integration.conftest import StartProxy
from tests.integration.harness import ALLOW_ECHO_POLICY, LILITH, wait_until


def test_every_record_of_an_eventful_session_matches_the_schema(start_proxy: StartProxy, tmp_path: Path) -> None:
    first = start_proxy("--audit-rotate-size", "3K")
    first.proxy.initialize()
    assert "result" in first.proxy.tool("echo", {"n": 1})
    first.proxy.kill()  # SIGKILL; then tear the last record, as a kill in the middle of a write would
    with first.audit.open("ab") as handle:
        handle.write(b'{"v":1,"ts":1.0,"sess')
    run = start_proxy(
        "--audit-log",
        str(first.audit),
        "--audit-rotate-size",
        "3K",
        "--restart",
        "on-failure",
        "--request-timeout",
        "0.5",
        "--audit-failure",
        "continue",
    )
    run.proxy.initialize()
    for n in range(8):
        run.proxy.tool("echo" if n % 2 else "delete_file", {"n": n, "email": "a@example.com"})
    run.policy.write_text(ALLOW_ECHO_POLICY + "  extra: ALLOW\n")
    os.kill(run.proxy.proc.pid, signal.SIGHUP)
    assert wait_until(lambda: "policy_reload" in first.audit.read_text())
    run.policy.write_text("version: 1\nstatic_rules: [not a mapping]\n")
    os.kill(run.proxy.proc.pid, signal.SIGHUP)
    assert wait_until(lambda: '"rejected"' in first.audit.read_text())
    assert "error" in run.proxy.tool("hang", {}, timeout=15)  # answered by the request timeout
    run.proxy.tool("crash", {}, timeout=15)  # the server dies and is restarted
    assert "result" in run.proxy.tool("echo", {"n": "after restart"}, timeout=15)
    assert run.proxy.close() == 0

    events: set[str] = set()
    for path in tmp_path.glob("audit-0.jsonl*"):
        if path.suffix == ".head":
            continue  # the head witness, not a log (lilith.audit.head)
        for line in path.read_bytes().splitlines():
            try:
                events.add(json.loads(line)["event"])
            except ValueError:
                assert line == b'{"v":1,"ts":1.0,"sess'  # the torn record, sealed by the second run
    expected = {
        "session_start",
        "policy_load",
        "initialize",
        "decision",
        "policy_reload",
        "request_timeout",
        "server_exit",
        "server_restart",
        "session_end",
        "log_rotated",
        "log_resumed",
    }
    assert expected <= events, f"missing: {expected - events}"
    assert schema_problems(first.audit) == []
    done = subprocess.run([LILITH, "audit", "verify", str(first.audit)], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stdout
