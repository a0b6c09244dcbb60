"""Throughput of ``Redactor.redact_value`` on typical tools/call argument objects.

Each case is timed in several rounds; we print the median (and the spread) in records per second and
microseconds per record. The audit path's goal is >= 50,000 records/s in total, so redaction of a
typical small arguments object must cost only a few microseconds.

    python bench/redact_bench.py [--records 20000] [--rounds 7] [--json bench/results/redact.json]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path
from typing import Any

import orjson

from lilith.audit.redact import Redactor

CASES: dict[str, dict[str, Any]] = {
    "typical": {
        "path": "/home/user/projects/report-final.txt",
        "query": "weather forecast for Paris tomorrow",
        "encoding": "utf-8",
        "limit": 20,
        "offset": 0,
        "recursive": True,
    },
    "typical_with_digits": {
        "url": "https://api.example.com/v2/items?page=3",
        "since": "2024-05-01T10:30:00Z",
        "limit": 100,
        "ratio": 0.5,
    },
    "email_and_key": {
        "to": "alice.smith@example.com",
        "subject": "Deploy credentials",
        "body": "use AKIAIOSFODNN7EXAMPLE for the upload, ping me at 10:30",
        "priority": 2,
    },
    "secret_key_and_card": {
        "username": "bob",
        "password": "hunter2",
        "card": "4111 1111 1111 1111",
        "amount": 42.5,
    },
}


def measure(redactor: Redactor, args: dict[str, Any], records: int, rounds: int) -> dict[str, float]:
    redact = redactor.redact_value
    for _ in range(min(records, 2000)):  # warm up caches
        redact(args)
    rates = []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(records):
            redact(args)
        elapsed = time.perf_counter() - start
        rates.append(records / elapsed)
    median = statistics.median(rates)
    return {
        "records_per_s": round(median),
        "us_per_record": round(1e6 / median, 2),
        "min_records_per_s": round(min(rates)),
        "max_records_per_s": round(max(rates)),
    }


BENCH_KEY = b"bench-key-0123456789abcdef"


def measure_all(
    records: int = 20_000, rounds: int = 7, redactor: Redactor | None = None
) -> dict[str, dict[str, float]]:
    """Every case: ``name -> {records_per_s, us_per_record, min_records_per_s, max_records_per_s}``."""
    redactor = redactor or Redactor(BENCH_KEY)
    return {name: measure(redactor, args, records, rounds) for name, args in CASES.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--json", type=Path)
    opts = parser.parse_args()
    redactor = Redactor(BENCH_KEY)
    results = measure_all(opts.records, opts.rounds, redactor)
    for name, args in CASES.items():
        res = results[name]
        print(
            f"{name:22s} median {res['records_per_s']:>9,} records/s  {res['us_per_record']:>6.2f} us/record"
            f"  (range {res['min_records_per_s']:,}-{res['max_records_per_s']:,})"
        )
        print(f"{'':22s} -> {orjson.dumps(redactor.redact_value(args)).decode()}")
    if opts.json:
        opts.json.write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE))


if __name__ == "__main__":
    main()
