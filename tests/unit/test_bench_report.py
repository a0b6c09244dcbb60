"""``make bench`` folds every benchmark into one table: the folding is checked here on made-up numbers."""

from __future__ import annotations

from typing import Any

from bench import audit_rate, decision, overhead, redact_bench
from bench.report import Row, rows, table


def _numbers() -> dict[str, Any]:
    o = {
        "lilith_added_p50_ms": 0.05,
        "lilith_added_p99_ms": 0.9,
        "pipe_added_p50_ms": 0.04,
        "noaudit_added_p50_ms": 0.045,
        "noaudit_added_p99_ms": 0.3,
        "noaudit_msgs_per_s": 30000.0,
        "lilith_throughput_ratio": 0.5,
        "lilith_msgs_per_s": 15000.0,
        "lilith_startup_added_ms": 80.0,
        "lilith_cpu_us_per_call": 300.0,
        "noaudit_cpu_us_per_call": 200.0,
        "pipe_cpu_us_per_call": 100.0,
        "rss_mb": 30.0,
    }
    return {
        "overhead": o,
        "decision": {f"{n} rules, match": {"p50_us": 4.0, "p99_us": 9.0} for n in decision.SIZES},
        "audit": {name: {"records_per_s": 90000.0} for name in audit_rate.CASES},
        "redaction": {name: {"records_per_s": 150000.0} for name in redact_bench.CASES},
    }


def test_every_benchmark_is_in_the_table_with_its_goal() -> None:
    report = {row.measure: row for row in rows(_numbers())}
    assert report["added latency p50 over the raw floor"].status() == "ok"
    assert report["added latency p99 over the raw floor"].status() == "MISSED"
    assert report["pipelined throughput, ratio to direct"].status() == "MISSED"
    assert report["added start-up"].goal == overhead.GOALS["startup_added_ms"]
    assert report["  (bare pipe, for scale) CPU per call"].value == 100.0
    assert report["decision p50, 1000 rules, match"].status() == "ok"
    assert report["audit records/s, decision, no arguments"].status() == "ok"
    assert len([name for name in report if name.startswith("redaction")]) == len(redact_bench.CASES)
    printed = table(list(report.values()))
    assert printed.count("\n") == len(report)
    assert "MISSED" in printed and "15,000" in printed


def test_a_row_without_a_goal_has_no_verdict() -> None:
    assert Row("x", 1.0, "ms").status() == ""
    assert Row("x", float("nan"), "ms", 1.0).status() == ""
    assert Row("x", 2.0, "1/s", 1.0, higher_is_better=True).status() == "ok"
