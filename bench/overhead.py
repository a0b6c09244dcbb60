"""Lilith's added cost over the raw floor, measured side by side in one run.

A raw newline-JSON client talks to ``bench/echo_server.py`` directly and through ``lilith run`` (policy
and audit log on). Direct and proxied measurements are interleaved in small blocks so machine noise hits
both alike; we report medians and ratios, never single timings.

    python bench/overhead.py [--calls 3000] [--pipelined 20000] [--startups 15] [--json bench/results/overhead.json]
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
from dataclasses import dataclass
from pathlib import Path

import orjson

HERE = Path(__file__).resolve().parent
ECHO = [sys.executable, str(HERE / "echo_server.py")]
LILITH = str(Path(sys.executable).parent / "lilith")
POLICY = "version: 1\nstatic_rules:\n  echo: ALLOW\n  danger: DENY\n"
GOALS = {
    "added_p50_ms": 0.10,
    "added_p99_ms": 0.50,
    "throughput_ratio": 0.80,
    "startup_added_ms": 100.0,
    "rss_mb": 50.0,
}


@dataclass
class Peer:
    name: str
    argv: list[str]
    proc: subprocess.Popen[bytes] | None = None
    next_id: int = 0

    def start(self) -> float:
        """Start and return milliseconds until the first response (initialize)."""
        began = time.perf_counter()
        self.proc = subprocess.Popen(
            self.argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
        )
        self.request(
            "initialize", {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "bench"}}
        )
        return (time.perf_counter() - began) * 1000

    def line(self, method: str, params: dict[str, object]) -> bytes:
        self.next_id += 1
        return orjson.dumps({"jsonrpc": "2.0", "id": self.next_id, "method": method, "params": params}) + b"\n"

    def request(self, method: str, params: dict[str, object]) -> bytes:
        proc = self.proc
        if proc is None or proc.stdin is None or proc.stdout is None:
            raise RuntimeError("peer not started")
        proc.stdin.write(self.line(method, params))
        proc.stdin.flush()
        reply = proc.stdout.readline()
        if not reply:
            raise RuntimeError(f"{self.name}: no reply")
        return reply

    @property
    def pid(self) -> int:
        if self.proc is None:
            raise RuntimeError("peer not started")
        return self.proc.pid

    def stop(self) -> None:
        if self.proc is not None:
            if self.proc.stdin is not None:
                self.proc.stdin.close()
            self.proc.wait(10)


def call_params(n: int) -> dict[str, object]:
    return {"name": "echo", "arguments": {"text": f"hello {n}", "n": n}}


def sequential(peers: list[Peer], calls: int, block: int) -> dict[str, list[float]]:
    samples: dict[str, list[float]] = {peer.name: [] for peer in peers}
    done = 0
    while done < calls:
        for peer in peers:
            for n in range(block):
                began = time.perf_counter_ns()
                peer.request("tools/call", call_params(n))
                samples[peer.name].append((time.perf_counter_ns() - began) / 1e6)
        done += block
    return samples


def pipelined(peer: Peer, count: int) -> float:
    """Messages per second with the writer never waiting for replies."""
    proc = peer.proc
    if proc is None or proc.stdin is None or proc.stdout is None:
        raise RuntimeError("peer not started")
    payload = b"".join(peer.line("tools/call", call_params(n)) for n in range(count))
    stdin = proc.stdin

    def write() -> None:
        stdin.write(payload)
        stdin.flush()

    began = time.perf_counter()
    writer = threading.Thread(target=write)
    writer.start()
    for _ in range(count):
        if not proc.stdout.readline():
            raise RuntimeError(f"{peer.name}: closed during pipelined run")
    elapsed = time.perf_counter() - began
    writer.join()
    return count / elapsed


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (all its threads), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def measure(
    calls: int = 3000, block: int = 100, pipelined_messages: int = 20000, rounds: int = 3, startup_runs: int = 15
) -> dict[str, object]:
    """Run the whole comparison and return its numbers (what ``--json`` writes)."""
    with tempfile.TemporaryDirectory() as tmp:
        policy = Path(tmp) / "policy.yaml"
        policy.write_text(POLICY)
        audit = Path(tmp) / "audit.jsonl"
        bare_lilith = [LILITH, "run", "--policy", str(policy), "--log-level", "warning"]
        commands = {
            "direct": ECHO,
            "pipe": [sys.executable, str(HERE / "passthrough.py"), *ECHO],
            # The same proxy without the audit log: what the sealed, redacted records cost, side by side.
            "noaudit": [*bare_lilith, "--", *ECHO],
            "lilith": [*bare_lilith, "--audit-log", str(audit), "--", *ECHO],  # last: its RSS is measured
        }
        startups: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(startup_runs):
            for name, argv in commands.items():
                peer = Peer(name, argv)
                startups[name].append(peer.start())
                peer.stop()

        peers = [Peer(name, argv) for name, argv in commands.items()]
        for peer in peers:
            peer.start()
        sequential(peers, 300, 100)  # warm-up
        # Lilith's own CPU per call over the sequential run: in this ping-pong the proxy is cache-cold on
        # every call, so this is several times what the same code costs back to back (docs/performance.md).
        cpu_before = {peer.name: cpu_seconds(peer.pid) for peer in peers}
        latency = sequential(peers, calls, block)
        cpu_per_call = {peer.name: (cpu_seconds(peer.pid) - cpu_before[peer.name]) / calls * 1e6 for peer in peers}
        rates: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(rounds):
            for peer in peers:
                rates[peer.name].append(pipelined(peer, pipelined_messages))
        lilith_proc = peers[-1].proc
        if lilith_proc is None:
            raise RuntimeError("lilith not started")
        lilith_rss = rss_mb(lilith_proc.pid)
        for peer in peers:
            peer.stop()
        audit_lines = sum(1 for _ in audit.open("rb"))

    result: dict[str, object] = {
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0], "platform": sys.platform},
        "calls": calls,
        "pipelined_messages": pipelined_messages,
        "rss_mb": lilith_rss,
        "audit_records": audit_lines,
    }
    for name in commands:
        result[f"{name}_p50_ms"] = statistics.median(latency[name])
        result[f"{name}_p99_ms"] = percentile(latency[name], 0.99)
        result[f"{name}_msgs_per_s"] = statistics.median(rates[name])
        result[f"{name}_startup_ms"] = statistics.median(startups[name])
        result[f"{name}_cpu_us_per_call"] = cpu_per_call[name]
    for name in ("pipe", "noaudit", "lilith"):
        result[f"{name}_added_p50_ms"] = _f(result, f"{name}_p50_ms") - _f(result, "direct_p50_ms")
        result[f"{name}_added_p99_ms"] = _f(result, f"{name}_p99_ms") - _f(result, "direct_p99_ms")
        result[f"{name}_throughput_ratio"] = _f(result, f"{name}_msgs_per_s") / _f(result, "direct_msgs_per_s")
        result[f"{name}_startup_added_ms"] = _f(result, f"{name}_startup_ms") - _f(result, "direct_startup_ms")
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--block", type=int, default=100)
    parser.add_argument("--pipelined", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--startups", type=int, default=15)
    parser.add_argument("--json", default=str(HERE / "results" / "overhead.json"))
    args = parser.parse_args()
    result = measure(args.calls, args.block, args.pipelined, args.rounds, args.startups)
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode())
    print_table(result)
    return 0


def _f(result: dict[str, object], key: str) -> float:
    value = result[key]
    return float(value) if isinstance(value, int | float) else float("nan")


def print_table(r: dict[str, object]) -> None:
    def row(label: str, key: str, fmt: str) -> str:
        cells = [format(_f(r, f"{name}_{key}"), fmt) for name in ("direct", "pipe", "noaudit", "lilith")]
        return f"{label:24} " + " ".join(f"{cell:>10}" for cell in cells)

    def delta(label: str, key: str, goal_key: str, fmt: str, op: str) -> str:
        cells = [format(_f(r, f"{name}_{key}"), fmt) for name in ("pipe", "noaudit", "lilith")]
        value, goal = _f(r, f"lilith_{key}"), GOALS[goal_key]
        ok = value <= goal if op == "<=" else value >= goal
        return (
            f"{label:24} {'':>10} "
            + " ".join(f"{cell:>10}" for cell in cells)
            + f"   goal {op} {goal} {'ok' if ok else 'MISSED'}"
        )

    print(f"{'':24} {'direct':>10} {'bare pipe':>10} {'no audit':>10} {'lilith':>10}")
    print(row("latency p50 (ms)", "p50_ms", ".3f"))
    print(delta("  added p50 (ms)", "added_p50_ms", "added_p50_ms", "+.3f", "<="))
    print(row("latency p99 (ms)", "p99_ms", ".3f"))
    print(delta("  added p99 (ms)", "added_p99_ms", "added_p99_ms", "+.3f", "<="))
    print(row("pipelined msg/s", "msgs_per_s", ".0f"))
    print(delta("  ratio to direct", "throughput_ratio", "throughput_ratio", ".2f", ">="))
    print(row("process CPU/call (us)", "cpu_us_per_call", ".0f"))
    print(row("start-up (ms)", "startup_ms", ".1f"))
    print(delta("  added start-up (ms)", "startup_added_ms", "startup_added_ms", "+.1f", "<="))
    rss = _f(r, "rss_mb")
    print(
        f"{'Lilith peak RSS (MB)':24} {'':>10} {'':>10} {'':>10} {rss:>10.1f}   goal <= {GOALS['rss_mb']} {'ok' if rss <= GOALS['rss_mb'] else 'MISSED'}"
    )


if __name__ == "__main__":
    raise SystemExit(main())
