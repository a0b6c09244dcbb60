#!/usr/bin/env python3
"""A scripted "agent" session through Lilith Zero, using the official MCP Python SDK.

It launches ``lilith run --policy examples/demo/policy.yaml --audit-log AUDIT -- python examples/demo/server.py``
as its MCP server, then: initializes, lists tools, calls the allowed tools, and tries the denied
``delete_file`` to show the ``Lilith:`` error. It prints a short transcript and exits 0 only if
everything happened as the policy says it should.

    python examples/demo/agent.py [--audit-log PATH]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import anyio
import mcp_types as types
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.shared.exceptions import MCPError

DEMO_DIR = Path(__file__).resolve().parent
REPO = DEMO_DIR.parent.parent
POLICY = DEMO_DIR / "policy.yaml"
SERVER = DEMO_DIR / "server.py"
POLICY_DENIED = -32000
TIMEOUT = 30.0


def lilith_command() -> list[str]:
    script = Path(sys.executable).parent / "lilith"
    return [str(script)] if script.exists() else [sys.executable, "-m", "lilith"]


def show(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def first_lines(text: str, n: int = 3) -> str:
    lines = text.splitlines()
    shown = " | ".join(lines[:n])
    more = len(lines) - n
    return shown + (f" | ... ({more} more line{'s' if more > 1 else ''})" if more > 0 else "")


def result_text(result: types.CallToolResult) -> str:
    return "\n".join(block.text for block in result.content if isinstance(block, types.TextContent))


class Transcript:
    def __init__(self) -> None:
        self.problems: list[str] = []

    def out(self, text: str) -> None:
        print(f"  agent -> {text}", flush=True)

    def back(self, text: str) -> None:
        print(f"  agent <- {text}", flush=True)

    def problem(self, text: str) -> None:
        self.problems.append(text)
        print(f"  !! UNEXPECTED: {text}", flush=True)


async def call_allowed(session: ClientSession, log: Transcript, name: str, args: dict[str, Any]) -> str:
    log.out(f"tools/call {name} {json.dumps(args)}")
    try:
        result = await session.call_tool(name, args)
    except MCPError as exc:
        log.problem(f"{name} should be allowed but failed: {exc.code} {exc.message}")
        return ""
    text = result_text(result)
    if result.is_error:
        log.problem(f"{name} returned a tool error: {text}")
    else:
        log.back(f"allowed: {first_lines(text)}")
    return text


async def call_denied(session: ClientSession, log: Transcript, name: str, args: dict[str, Any]) -> None:
    log.out(f"tools/call {name} {json.dumps(args)}")
    try:
        result = await session.call_tool(name, args)
    except MCPError as exc:
        rule = exc.data.get("rule") if isinstance(exc.data, dict) else None
        log.back(f"DENIED, JSON-RPC error {exc.code}: {exc.message}  [rule: {rule}]")
        if exc.code != POLICY_DENIED or not exc.message.startswith("Lilith: "):
            log.problem(f"expected a -32000 'Lilith: ...' error, got {exc.code} {exc.message!r}")
        return
    log.problem(f"{name} should have been denied, but the server answered: {result_text(result)!r}")


async def run_session(audit_log: Path, key_file: Path | None = None) -> list[str]:
    stderr_log = audit_log.with_name(audit_log.stem + "-stderr.log")
    key = [] if key_file is None else ["--audit-key-file", str(key_file)]
    argv = [
        *lilith_command(),
        "run",
        "--policy",
        str(POLICY),
        "--audit-log",
        str(audit_log),
        *key,
        "--log-level",
        "warning",
        "--",
        sys.executable,
        str(SERVER),
    ]
    print("Lilith Zero demo: a scripted agent session through the proxy")
    print(f"  policy    : {show(POLICY)}")
    print(f"  audit log : {show(audit_log)}")
    print(f"  server    : lilith run ... -- python {show(SERVER)}")
    print(f"  stderr    : {show(stderr_log)} (Lilith's warnings and the server's own log)")
    print()
    log = Transcript()
    params = StdioServerParameters(command=argv[0], args=argv[1:], cwd=str(REPO))
    with anyio.fail_after(TIMEOUT), stderr_log.open("w", encoding="utf-8") as errlog:
        async with (
            stdio_client(params, errlog=errlog) as (read, write),
            ClientSession(read, write, read_timeout_seconds=TIMEOUT) as session,
        ):
            log.out("initialize")
            init = await session.initialize()
            log.back(
                f"connected to {init.server_info.name} {init.server_info.version} (protocol {init.protocol_version})"
            )

            log.out("tools/list")
            tools = [tool.name for tool in (await session.list_tools()).tools]
            log.back(f"{len(tools)} tools: {', '.join(tools)}")

            await call_allowed(session, log, "get_time", {})
            listing = await call_allowed(session, log, "list_dir", {"path": show(DEMO_DIR)})
            if listing and "policy.yaml" not in listing.split("\n"):
                log.problem("list_dir did not list policy.yaml")
            content = await call_allowed(session, log, "read_file", {"path": show(POLICY)})
            if content and "static_rules" not in content:
                log.problem("read_file did not return the policy's text")
            await call_denied(session, log, "delete_file", {"path": show(POLICY)})

            # The session keeps working after a denial.
            await call_allowed(session, log, "get_time", {})
    server_log = stderr_log.read_text(encoding="utf-8", errors="replace")
    if "delete_file was called" in server_log:
        log.problem("the demo server saw the delete_file call")
    print()
    return log.problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--audit-log", type=Path, default=Path("demo-audit.jsonl"), help="where Lilith writes its audit log"
    )
    parser.add_argument("--audit-key-file", type=Path, help="the audit log's HMAC key (default: Lilith's own)")
    args = parser.parse_args(argv)
    audit_log: Path = args.audit_log.resolve()
    try:
        problems = anyio.run(run_session, audit_log, args.audit_key_file)
    except Exception as exc:
        print(f"demo agent failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    if problems:
        print(f"demo agent: {len(problems)} unexpected outcome(s)", file=sys.stderr)
        return 1
    print("Agent session finished: allowed calls went through, the denied call never reached the server.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
