"""``lilith policy check|explain``: tools for policy authors (no proxy, no server)."""

from __future__ import annotations

import argparse
import sys

from lilith.errors import LilithError

EXIT_DENIED = 1
EXIT_USAGE = 2


def add_policy_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    policy = commands.add_parser("policy", help="work with policy files")
    policy_commands = policy.add_subparsers(dest="policy_command", required=True)
    check = policy_commands.add_parser("check", help="validate a policy file; exit 1 with file:line:col on error")
    check.add_argument("file")
    explain = policy_commands.add_parser(
        "explain", help="show the decision for one tool call and the rule that made it (exit 0 allowed, 1 denied)"
    )
    explain.add_argument("file")
    explain.add_argument("--tool", required=True, help="tool name")
    explain.add_argument("--args", default="{}", metavar="JSON", help="the call's arguments as a JSON object")
    explain.add_argument("--cwd", help="the server's working directory, for relative paths (default: here)")
    explain.add_argument("--json", action="store_true", help="print the decision as JSON")
    policy_commands.add_parser("schema", help="print the JSON Schema of policy files (for editor completion)")
    test = policy_commands.add_parser("test", help="run table-driven policy tests (exit 1 if any fails)")
    test.add_argument("file", help="the policy")
    test.add_argument("cases", nargs="+", help="YAML files of test cases")


def run_policy_command(args: argparse.Namespace) -> int:
    if args.policy_command == "check":
        return _check(args.file)
    if args.policy_command == "test":
        return _test(args.file, args.cases)
    if args.policy_command == "schema":
        import json

        from lilith.policy.schema import policy_schema

        print(json.dumps(policy_schema(), indent=2))
        return 0
    return _explain(args)


def _test(file: str, cases: list[str]) -> int:
    from lilith.policy_testing import run_cases
    from lilith.runtime.policy_file import load_policy

    try:
        policy = load_policy(file)
        results = [(path, result) for path in cases for result in run_cases(policy, path)]
    except LilithError as exc:
        print(exc, file=sys.stderr)
        return EXIT_USAGE
    failed = 0
    for path, result in results:
        if result.failures:
            failed += 1
            print(f"FAIL {path}: {result.name}")
            for failure in result.failures:
                print(f"     {failure}")
        else:
            print(f"ok   {path}: {result.name}")
    print(f"{len(results) - failed} passed, {failed} failed")
    return 1 if failed else 0


def _check(file: str) -> int:
    from lilith.runtime.policy_file import load_policy

    try:
        policy = load_policy(file)
    except LilithError as exc:
        print(exc, file=sys.stderr)
        return 1
    for warning in policy.warnings:  # loads, but a part of it cannot act: the author should know
        print(warning, file=sys.stderr)
    print(f"{file}: ok")
    return 0


def _explain(args: argparse.Namespace) -> int:
    import json  # here, not at the top: `lilith run` imports this module on its start-up path
    import os

    from lilith.core.gate import build_gate
    from lilith.core.message import Kind, Message, id_key
    from lilith.policy.decision import Decision
    from lilith.runtime.policy_file import load_policy
    from lilith.runtime.resolver import ServerPathResolver

    try:
        arguments = json.loads(args.args)
    except ValueError as exc:
        print(f"lilith policy explain: --args is not JSON: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        policy = load_policy(args.file)
        resolver = ServerPathResolver(os.environ, args.cwd)  # refuses a working directory that is gone
    except LilithError as exc:
        print(exc, file=sys.stderr)
        return EXIT_USAGE
    # The whole chain, as for a session's first call: taint rules with conditions can decide too.
    gate = build_gate(lambda: policy, resolver, lambda: 0.0)
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": args.tool, "arguments": arguments}}
    try:
        decision = gate.check(Message(Kind.REQUEST, body, "tools/call", id_key(1)))
    except LilithError as exc:
        print(f"lilith policy explain: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if decision is None:  # pragma: no cover - the tool policy always decides a tools/call
        decision = Decision(False, "no-decision", "no check had an opinion")
    verdict = "would-deny (audit mode)" if decision.would_deny else "allow" if decision.allowed else "deny"
    if args.json:
        print(json.dumps({"decision": verdict, "rule": decision.rule, "reason": decision.reason}))
    else:
        print(f"{verdict}: {args.tool}\n  rule:   {decision.rule}\n  reason: {decision.reason}")
    return 0 if decision.allowed and not decision.would_deny else EXIT_DENIED
