"""Sealed audit records per second through the real writer (``lilith.audit.writer.AuditFile``).

Each record is what the proxy writes for a decision: JSON, the SHA-256 link to the previous line, the
HMAC seal and one ``write`` on an ``O_APPEND`` descriptor; with arguments, redaction too. Timed in rounds
on a fresh file in a temporary directory; we report the median.

    python bench/audit_rate.py [--records 20000] [--rounds 5] [--json bench/results/audit.json]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

from lilith.audit.writer import AuditFile

HERE = Path(__file__).resolve().parent
KEY = b"bench-audit-key-0123456789abcdef0123"
DECISION: dict[str, Any] = {
    "event": "decision",
    "decision": "allow",
    "method": "tools/call",
    "tool": "read_file",
    "request_id": 17,
    "rule": "static_rules.read_file",
    "reason": "allowed by policy",
}
ARGUMENTS = {"path": "/home/user/projects/report-final.txt", "encoding": "utf-8", "limit": 20}
# name -> (record, fsync policy, share of --records: fsync=always is a disk flush per record)
CASES: dict[str, tuple[dict[str, Any], str, float]] = {
    "decision, no arguments": (DECISION, "interval", 1.0),
    "decision, redacted arguments": ({**DECISION, "arguments": ARGUMENTS}, "interval", 1.0),
    "decision, fsync always": (DECISION, "always", 0.05),
}


def measure(record: dict[str, Any], fsync: str, records: int, rounds: int) -> dict[str, float]:
    rates = []
    with tempfile.TemporaryDirectory() as tmp:
        for round_ in range(rounds):
            path = os.path.join(tmp, f"audit-{round_}.jsonl")
            audit = AuditFile(path, KEY, fsync)
            audit.record(record)  # first use builds the redactor: not part of the rate
            began = time.perf_counter()
            for _ in range(records):
                audit.record(record)
            elapsed = time.perf_counter() - began
            audit.close()
            rates.append(records / elapsed)
    median = statistics.median(rates)
    return {"records_per_s": round(median), "us_per_record": round(1e6 / median, 2)}


def measure_all(records: int = 20_000, rounds: int = 5) -> dict[str, dict[str, float]]:
    return {
        name: measure(record, fsync, max(1, int(records * share)), rounds)
        for name, (record, fsync, share) in CASES.items()
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--json", default=str(HERE / "results" / "audit.json"))
    args = parser.parse_args()
    results = measure_all(args.records, args.rounds)
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2))
    for name, result in results.items():
        print(f"{name:32} {result['records_per_s']:>9,} records/s  {result['us_per_record']:>7.2f} us/record")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
