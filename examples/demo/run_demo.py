#!/usr/bin/env python3
"""Entry point of ``make demo``: run the scripted agent through Lilith, then show the audit log.

Exits non-zero if anything unexpected happens (e.g. the denied call was allowed, or the audit log
does not record the decisions).
"""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

DEMO_DIR = Path(__file__).resolve().parent
AGENT = DEMO_DIR / "agent.py"
LILITH = str(Path(sys.executable).parent / "lilith")


def load_audit(path: Path) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError as exc:
            raise SystemExit(f"audit log line {number} is not JSON: {exc}") from exc
        if not isinstance(record, dict):
            raise SystemExit(f"audit log line {number} is not a JSON object")
        records.append(record)
    return records


def check_audit(records: list[dict[str, Any]]) -> list[str]:
    """The decisions the demo must have produced; returns what is missing."""
    problems: list[str] = []

    def decisions_for(tool: str) -> set[str]:
        return {str(r.get("decision", "")).lower() for r in records if r.get("tool") == tool}

    if "deny" not in decisions_for("delete_file"):
        problems.append("no 'deny' decision for delete_file in the audit log")
    if "allow" in decisions_for("delete_file"):
        problems.append("the audit log shows delete_file as allowed")
    for tool in ("get_time", "list_dir", "read_file"):
        if "allow" not in decisions_for(tool):
            problems.append(f"no 'allow' decision for {tool} in the audit log")
    return problems


def main() -> int:
    audit_dir = Path(tempfile.mkdtemp(prefix="lilith-demo-"))
    audit_log = audit_dir / "demo-audit.jsonl"
    # The demo's own key: the MCP SDK starts Lilith with a minimal environment, so the key Lilith would
    # find by default might not be the one `lilith audit verify` finds from here.
    key_file = audit_dir / "audit.key"
    key_file.write_text(secrets.token_hex(32) + "\n")
    key_file.chmod(0o600)
    agent = [sys.executable, str(AGENT), "--audit-log", str(audit_log), "--audit-key-file", str(key_file)]
    status = subprocess.run(agent, check=False).returncode
    if status != 0:
        print(f"\ndemo FAILED: the agent exited with status {status}", file=sys.stderr)
        return 1
    if not audit_log.exists():
        print(f"\ndemo FAILED: no audit log at {audit_log}", file=sys.stderr)
        return 1

    records = load_audit(audit_log)
    print(f"\nAudit log: {audit_log} ({len(records)} records), as `lilith audit tail` shows it:\n", flush=True)
    subprocess.run([LILITH, "audit", "tail", "-n", str(len(records)), str(audit_log)], check=False)
    denial = next((r for r in records if r.get("event") == "decision" and r.get("decision") == "deny"), None)
    if denial is not None:
        print("\nThe denial's whole record (hash-chained by `prev`, sealed by `mac`):\n")
        print(json.dumps(denial, indent=2, sort_keys=True, ensure_ascii=False))
    print(f"\n$ lilith audit verify --key-file {key_file} {audit_log}", flush=True)
    verify = [LILITH, "audit", "verify", "--key-file", str(key_file), str(audit_log)]
    verified = subprocess.run(verify, check=False).returncode
    problems = check_audit(records)
    if verified != 0:
        problems.append("`lilith audit verify` did not accept the log")
    if problems:
        for problem in problems:
            print(f"demo FAILED: {problem}", file=sys.stderr)
        return 1
    print("\nDemo OK.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
