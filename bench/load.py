"""Many concurrent sessions: N ``lilith run`` processes, each with its own echo server and pipelined traffic.

Each session keeps ``--window`` calls in flight (a new call goes out as each answer comes back) for
``--seconds``; every call's latency is kept. Every second the resident memory of each Lilith is sampled.
Prints latency percentiles (p50/p90/p99/max), throughput and Lilith's memory over time as a table, and
writes everything to ``bench/results/load.json``. The load generator is one Python process with a thread
per session, so on a small machine it competes with what it measures: read the numbers as a soak test
(does anything fail, grow or stall under load?) more than as a capacity figure.

    python -m bench.load [--sessions 20] [--seconds 10] [--window 8] [--json bench/results/load.json]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import orjson

HERE = Path(__file__).resolve().parent
ECHO = [sys.executable, str(HERE / "echo_server.py")]
LILITH = str(Path(sys.executable).parent / "lilith")
POLICY = "version: 1\nstatic_rules:\n  echo: ALLOW\n"


class LoadSession:
    """One Lilith with its echo server, driven by one thread with a window of calls in flight."""

    def __init__(self, index: int, workdir: Path, window: int) -> None:
        self.index = index
        self.window = window
        self.latencies_ms: list[float] = []
        self.errors = 0
        self.failure: str | None = None
        argv = [
            LILITH,
            "run",
            "--policy",
            str(workdir / "policy.yaml"),
            "--audit-log",
            str(workdir / f"audit-{index}.jsonl"),
            "--log-level",
            "warning",
            "--",
            *ECHO,
        ]
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)

    def _line(self, request_id: int) -> bytes:
        params = {"name": "echo", "arguments": {"session": self.index, "n": request_id}}
        return orjson.dumps({"jsonrpc": "2.0", "id": request_id, "method": "tools/call", "params": params}) + b"\n"

    def drive(self, deadline: float) -> None:
        stdin, stdout = self.proc.stdin, self.proc.stdout
        if stdin is None or stdout is None:
            raise RuntimeError("no pipes")
        try:
            init = {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "load"}}
            stdin.write(orjson.dumps({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": init}) + b"\n")
            stdin.flush()
            stdout.readline()
            sent: dict[int, float] = {}
            next_id = 1
            for _ in range(self.window):
                sent[next_id] = time.perf_counter()
                stdin.write(self._line(next_id))
                next_id += 1
            stdin.flush()
            while sent:
                raw = stdout.readline()
                if not raw:
                    raise EOFError("lilith closed its stdout")
                reply = orjson.loads(raw)
                began = sent.pop(reply.get("id"), None)
                if began is None:
                    continue
                self.latencies_ms.append((time.perf_counter() - began) * 1000)
                if "error" in reply:
                    self.errors += 1
                if time.perf_counter() < deadline:
                    sent[next_id] = time.perf_counter()
                    stdin.write(self._line(next_id))
                    stdin.flush()
                    next_id += 1
        except (OSError, ValueError, EOFError) as exc:
            self.failure = f"{type(exc).__name__}: {exc}"

    def stop(self) -> int:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        return self.proc.wait(30)


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def percentile(ordered: list[float], q: float) -> float:
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def run(sessions: int, seconds: float, window: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        (workdir / "policy.yaml").write_text(POLICY)
        load = [LoadSession(n, workdir, window) for n in range(sessions)]
        memory: list[dict[str, float]] = []
        began = time.perf_counter()
        deadline = began + seconds
        threads = [threading.Thread(target=s.drive, args=(deadline,), daemon=True) for s in load]
        for thread in threads:
            thread.start()
        next_sample = began
        while any(thread.is_alive() for thread in threads):
            now = time.perf_counter()
            if now >= next_sample:
                samples = [rss_mb(s.proc.pid) for s in load]
                memory.append(
                    {
                        "t_s": round(now - began, 1),
                        "max_mb": max(samples),
                        "mean_mb": statistics.fmean(samples),
                        "total_mb": sum(samples),
                    }
                )
                next_sample += 1.0
            time.sleep(min(0.05, max(0.0, next_sample - now)))
        elapsed = time.perf_counter() - began
        exit_codes = [s.stop() for s in load]
    latencies = sorted(value for s in load for value in s.latencies_ms)
    return {
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
        "sessions": sessions,
        "window": window,
        "seconds": round(elapsed, 2),
        "calls": len(latencies),
        "calls_per_s": len(latencies) / elapsed,
        "errors": sum(s.errors for s in load),
        "failures": [s.failure for s in load if s.failure],
        "exit_codes": sorted(set(exit_codes)),
        "latency_ms": {
            "p50": percentile(latencies, 0.50),
            "p90": percentile(latencies, 0.90),
            "p99": percentile(latencies, 0.99),
            "max": latencies[-1] if latencies else float("nan"),
        },
        "rss_mb_over_time": memory,
    }


def print_report(result: dict[str, Any]) -> None:
    latency = result["latency_ms"]
    print(
        f"{result['sessions']} sessions x {result['window']} in flight for {result['seconds']} s: "
        f"{result['calls']:,} calls, {result['calls_per_s']:,.0f} calls/s, {result['errors']} errors, "
        f"{len(result['failures'])} failed sessions, exit codes {result['exit_codes']}"
    )
    print(f"{'latency (ms)':14} {'p50':>8} {'p90':>8} {'p99':>8} {'max':>8}")
    print(f"{'':14} " + " ".join(f"{latency[key]:>8.2f}" for key in ("p50", "p90", "p99", "max")))
    print(f"{'t (s)':>6} {'max RSS':>9} {'mean RSS':>9} {'all RSS':>9}   (MB, per Lilith / all Liliths)")
    for sample in result["rss_mb_over_time"]:
        print(f"{sample['t_s']:>6} {sample['max_mb']:>9.1f} {sample['mean_mb']:>9.1f} {sample['total_mb']:>9.1f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--window", type=int, default=8, help="calls in flight per session")
    parser.add_argument("--json", default=str(HERE / "results" / "load.json"))
    args = parser.parse_args()
    result = run(args.sessions, args.seconds, args.window)
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2))
    print_report(result)
    return 1 if result["errors"] or result["failures"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
