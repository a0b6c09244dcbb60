"""Every benchmark in one run, one table: ``make bench``.

Runs ``overhead`` (latency, throughput, start-up and memory against the raw floor), ``decision`` (policy
decision time at 10, 100 and 1,000 rules), ``audit_rate`` (sealed audit records per second) and
``redact_bench`` (redaction alone), prints one table with the goals, and writes every number to
``bench/results/bench.json``. The machines are shared and noisy: compare within one run, not across runs.

    python -m bench.report [--quick] [--json bench/results/bench.json]
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from pathlib import Path
from typing import Any, NamedTuple

import orjson
from bench import audit_rate, decision, overhead, redact_bench

HERE = Path(__file__).resolve().parent


class Row(NamedTuple):
    measure: str
    value: float
    unit: str
    goal: float | None = None
    higher_is_better: bool = False

    def status(self) -> str:
        if self.goal is None or math.isnan(self.value):
            return ""
        met = self.value >= self.goal if self.higher_is_better else self.value <= self.goal
        return "ok" if met else "MISSED"


def run_all(quick: bool) -> dict[str, Any]:
    if quick:  # a smoke run of the whole pipeline, numbers not meant for reading
        numbers: dict[str, Any] = {
            "overhead": overhead.measure(calls=200, block=50, pipelined_messages=2000, rounds=1, startup_runs=2),
            "decision": decision.measure_all(calls=500),
            "audit": audit_rate.measure_all(records=500, rounds=1),
            "redaction": redact_bench.measure_all(records=500, rounds=1),
        }
    else:
        numbers = {
            "overhead": overhead.measure(),
            "decision": decision.measure_all(),
            "audit": audit_rate.measure_all(),
            "redaction": redact_bench.measure_all(),
        }
    numbers["machine"] = {"cpus": os.cpu_count(), "python": sys.version.split()[0], "quick": quick}
    return numbers


def rows(numbers: dict[str, Any]) -> list[Row]:
    o = numbers["overhead"]
    goals = overhead.GOALS
    out = [
        Row("added latency p50 over the raw floor", o["lilith_added_p50_ms"], "ms", goals["added_p50_ms"]),
        Row("added latency p99 over the raw floor", o["lilith_added_p99_ms"], "ms", goals["added_p99_ms"]),
        Row("  (bare pipe, for scale) added p50", o["pipe_added_p50_ms"], "ms"),
        Row("  (Lilith without the audit log) added p50", o["noaudit_added_p50_ms"], "ms"),
        Row("  (Lilith without the audit log) added p99", o["noaudit_added_p99_ms"], "ms"),
        Row(
            "pipelined throughput, ratio to direct", o["lilith_throughput_ratio"], "x", goals["throughput_ratio"], True
        ),
        Row("pipelined throughput through Lilith", o["lilith_msgs_per_s"], "msg/s"),
        Row("  (Lilith without the audit log)", o["noaudit_msgs_per_s"], "msg/s"),
        Row("Lilith's CPU per sequential call", o["lilith_cpu_us_per_call"], "us"),
        Row("  (Lilith without the audit log) CPU per call", o["noaudit_cpu_us_per_call"], "us"),
        Row("  (bare pipe, for scale) CPU per call", o["pipe_cpu_us_per_call"], "us"),
        Row("added start-up", o["lilith_startup_added_ms"], "ms", goals["startup_added_ms"]),
        Row("Lilith peak RSS", o["rss_mb"], "MB", goals["rss_mb"]),
    ]
    for name, result in numbers["decision"].items():
        goal = 5.0 if name.startswith("1000 ") else None
        out.append(Row(f"decision p50, {name}", result["p50_us"], "us", goal))
        out.append(Row(f"decision p99, {name}", result["p99_us"], "us"))
    for name, result in numbers["audit"].items():
        goal = 50_000.0 if name == "decision, no arguments" else None
        out.append(Row(f"audit records/s, {name}", result["records_per_s"], "1/s", goal, True))
    for name, result in numbers["redaction"].items():
        out.append(Row(f"redaction records/s, {name}", result["records_per_s"], "1/s"))
    return out


def table(report: list[Row]) -> str:
    lines = [f"{'measure':52} {'value':>12} {'unit':6} {'goal':>10} "]
    for row in report:
        goal = "" if row.goal is None else f"{'>=' if row.higher_is_better else '<='} {row.goal:g}"
        whole = row.unit in ("1/s", "msg/s") or abs(row.value) >= 1000
        value = f"{row.value:,.0f}" if whole else f"{row.value:.3f}"
        lines.append(f"{row.measure:52} {value:>12} {row.unit:6} {goal:>10} {row.status()}")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a short smoke run of every benchmark")
    parser.add_argument("--json", default=str(HERE / "results" / "bench.json"))
    args = parser.parse_args()
    numbers = run_all(args.quick)
    report = rows(numbers)
    numbers["table"] = [{**row._asdict(), "status": row.status()} for row in report]
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_bytes(orjson.dumps(numbers, option=orjson.OPT_INDENT_2))
    print(table(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
