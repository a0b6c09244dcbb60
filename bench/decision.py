"""Time of one ``tools/call`` decision through the real interceptor chain at 10, 100 and 1,000 rules.

The policy at each size mixes exact static rules (70 %), globs (20 %) and argument rules (10 %); the call is
for the last tool with an argument rule, checked either by an RE2 ``match`` or by ``path_within`` (which
normalises the path and its roots as the server would, every time). Goal: p50 <= 5 us at 1,000 rules.

    python bench/decision.py [--calls 20000] [--json bench/results/decision.json]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import orjson

from lilith.core.gate import Gate, RateLimit, ResourceAndPromptAccess, ToolCallPolicy
from lilith.core.message import Kind, Message, id_key
from lilith.core.taint_tracking import TaintTracking
from lilith.policy.loader import parse_policy

HERE = Path(__file__).resolve().parent


class Resolver:
    def home(self) -> str:
        return "/home/u"

    def cwd(self) -> str:
        return "/srv"

    def realpath(self, path: str) -> str:
        return path


SIZES = (10, 100, 1000)
CHECKS = {
    "match": "match: '^/srv/data_{n}/[\\w.-]+$'",
    "path_within": "path_within: [/srv/data_{n}]",
}


def policy_text(rules: int, check: str) -> str:
    exact = rules * 7 // 10
    globs = rules * 2 // 10
    arguments = rules - exact - globs
    lines = ["version: 1", "static_rules:"]
    lines += [f"  tool_{n}: ALLOW" for n in range(exact)]
    lines += [f"  'family_{n}_*': ALLOW" for n in range(globs)]
    lines += ["argument_rules:"]
    lines += [f"  - tool: tool_{n}\n    arg: path\n    " + CHECKS[check].format(n=n) for n in range(arguments)]
    return "\n".join(lines) + "\n"


def measure(rules: int, check: str, calls: int) -> dict[str, float]:
    policy = parse_policy(policy_text(rules, check), f"<{rules} rules>")
    resolver = Resolver()
    gate = Gate(
        [
            ToolCallPolicy(lambda: policy, resolver),
            ResourceAndPromptAccess(lambda: policy, resolver),
            TaintTracking(lambda: policy),
            RateLimit(lambda: policy, time.monotonic),
        ]
    )
    # The last tool with an argument rule: every index and rule list is at its largest for it.
    target = max(0, rules - (rules * 7 // 10) - (rules * 2 // 10) - 1)
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call"}
    body["params"] = {"name": f"tool_{target}", "arguments": {"path": f"/srv/data_{target}/file.txt"}}
    message = Message(Kind.REQUEST, body, "tools/call", id_key(1))
    decision = gate.check(message)
    if decision is None or not decision.allowed:
        raise RuntimeError(f"benchmark call was not allowed: {decision}")
    samples = []
    for _ in range(calls):
        began = time.perf_counter_ns()
        gate.check(message)
        samples.append((time.perf_counter_ns() - began) / 1000)
    samples.sort()
    return {"p50_us": statistics.median(samples), "p99_us": samples[int(len(samples) * 0.99)]}


def measure_all(calls: int = 20000) -> dict[str, dict[str, float]]:
    """Every policy size with every argument check: ``"<size> rules, <check>" -> {p50_us, p99_us}``."""
    return {f"{size} rules, {check}": measure(size, check, calls) for check in CHECKS for size in SIZES}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=20000)
    parser.add_argument("--json", default=str(HERE / "results" / "decision.json"))
    args = parser.parse_args()
    results = measure_all(args.calls)
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(orjson.dumps(results, option=orjson.OPT_INDENT_2).decode())
    print(f"{'policy (argument check on the call)':36} {'p50 (us)':>9} {'p99 (us)':>9}")
    for name, result in results.items():
        print(f"{name:36} {result['p50_us']:>9.2f} {result['p99_us']:>9.2f}")
    print("goal: p50 <= 5 us at 1,000 rules")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
