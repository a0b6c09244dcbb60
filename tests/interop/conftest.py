"""Shared plumbing for the interop tests: real MCP clients and servers, optionally behind Lilith.

Every test launches its server through :func:`wrap`, which puts ``lilith run`` in front of the
command. With ``LILITH_DIRECT=1`` the server is launched bare instead, so the same tests check the
peers themselves (useful while the proxy is being built); assertions that need the proxy (denials,
audit records) are skipped in that mode via the ``proxied`` fixture / :data:`DIRECT` flag.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import pytest
from mcp import Client, ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.shared.exceptions import MCPError

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
LILITH = BIN / "lilith"
DIRECT = os.environ.get("LILITH_DIRECT") == "1"
HOSTILE = REPO / "tests" / "servers" / "hostile_server.py"
NODE_BIN = REPO / ".peers" / "node_modules" / ".bin"

POLICY_DENIED = -32000
# A call of mcp-server-time's that the interop policies deny.
CONVERT_TIME_ARGS = {"source_timezone": "Etc/UTC", "time": "12:00", "target_timezone": "Asia/Tokyo"}

# Generous per-request bound (seconds): keeps a wedged peer from eating the whole pytest-timeout budget.
READ_TIMEOUT = 20.0


def wrap(cmd: list[str], policy: Path | None, audit: Path | None) -> list[str]:
    """Return the argv that launches ``cmd`` behind Lilith (or ``cmd`` itself when LILITH_DIRECT=1)."""
    if DIRECT:
        return list(cmd)
    argv = [str(LILITH), "run"]
    if policy is not None:
        argv += ["--policy", str(policy)]
    if audit is not None:
        argv += ["--audit-log", str(audit)]
    return [*argv, "--", *cmd]


def write_policy(path: Path, rules: dict[str, str]) -> Path:
    """Write a version-1 policy with the given static rules (tool name or glob -> ALLOW/DENY)."""
    lines = ["version: 1", "static_rules:"]
    lines += [f"  {json.dumps(name)}: {verdict}" for name, verdict in rules.items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def peer_binary(name: str) -> Path:
    """Path of a third-party peer executable; skips the test when it is not installed."""
    for candidate in (BIN / name, NODE_BIN / name):
        if candidate.exists():
            return candidate
    found = shutil.which(name)
    if found is None:
        pytest.skip(f"peer {name!r} is not installed")
    return Path(found)


def node_peer(name: str) -> Path:
    """Like :func:`peer_binary` for npm peers, which also need ``node`` itself."""
    path = peer_binary(name)
    if shutil.which("node") is None:
        pytest.skip("node is not installed")
    return path


def hostile_cmd(record: Path | None = None, *extra: str) -> list[str]:
    cmd = [sys.executable, str(HOSTILE)]
    if record is not None:
        cmd += ["--record", str(record)]
    return [*cmd, *extra]


def stdio_params(argv: list[str]) -> StdioServerParameters:
    return StdioServerParameters(command=argv[0], args=argv[1:], cwd=str(REPO))


def recorded_messages(record: Path) -> list[Any]:
    """Parse the hostile server's --record file (one raw line per message received)."""
    if not record.exists():
        return []
    out: list[Any] = []
    for line in record.read_text(encoding="utf-8").splitlines():
        if line.strip():
            out.append(json.loads(line))
    return out


def recorded_tool_calls(record: Path) -> list[str]:
    """Names of every tools/call the hostile server received (batches flattened)."""
    names: list[str] = []
    for message in recorded_messages(record):
        for item in message if isinstance(message, list) else [message]:
            if isinstance(item, dict) and item.get("method") == "tools/call":
                names.append(str((item.get("params") or {}).get("name")))
    return names


def audit_records(audit: Path) -> list[dict[str, Any]]:
    if not audit.exists():
        return []
    return [json.loads(line) for line in audit.read_text(encoding="utf-8").splitlines() if line.strip()]


def assert_denied(exc: BaseException) -> None:
    """Check an exception carries Lilith's policy-denial JSON-RPC error (-32000, ``Lilith: ...``, rule/reason)."""
    assert isinstance(exc, MCPError), f"expected MCPError, got {type(exc).__name__}: {exc}"
    assert exc.code == POLICY_DENIED, exc.error
    assert exc.message.startswith("Lilith: "), exc.message
    assert isinstance(exc.data, dict), exc.error
    assert "rule" in exc.data, exc.error
    assert "reason" in exc.data, exc.error


@dataclass
class Interop:
    """Per-test helper handed out by the ``interop`` fixture (tests never import conftest directly)."""

    tmp: Path
    direct: bool = DIRECT

    @property
    def audit(self) -> Path:
        return self.tmp / "audit.jsonl"

    @property
    def record(self) -> Path:
        return self.tmp / "received.jsonl"

    @property
    def stderr_log(self) -> Path:
        return self.tmp / "stderr.log"

    def wrap(self, cmd: list[str], policy: Path | None, audit: Path | None) -> list[str]:
        return wrap(cmd, policy, audit)

    def policy(self, rules: dict[str, str], name: str = "policy.yaml") -> Path:
        return write_policy(self.tmp / name, rules)

    def argv(self, cmd: list[str], rules: dict[str, str]) -> list[str]:
        """``cmd`` behind Lilith with a fresh policy file and the test's audit log."""
        return wrap(cmd, self.policy(rules), self.audit)

    def params(self, cmd: list[str], rules: dict[str, str]) -> StdioServerParameters:
        return stdio_params(self.argv(cmd, rules))

    def hostile(self, *extra: str) -> list[str]:
        """Command for the hostile server, recording what it receives into :attr:`record`."""
        return hostile_cmd(self.record, *extra)

    def peer(self, name: str) -> Path:
        return peer_binary(name)

    def node_peer(self, name: str) -> Path:
        return node_peer(name)

    def tool_calls_received(self) -> list[str]:
        return recorded_tool_calls(self.record)

    def received(self) -> list[Any]:
        return recorded_messages(self.record)

    def audit_records(self) -> list[dict[str, Any]]:
        return audit_records(self.audit)

    def assert_denied(self, exc: BaseException) -> None:
        assert_denied(exc)

    async def denied_unless_direct(self, call: Callable[[], Awaitable[Any]]) -> None:
        """Behind Lilith, ``call`` must fail with a policy denial (skipped with LILITH_DIRECT=1)."""
        if self.direct:
            return
        with pytest.raises(MCPError) as excinfo:
            await call()
        assert_denied(excinfo.value)

    def errlog(self) -> TextIO:
        """Open file for the client transport's ``errlog`` (the child's stderr); caller closes it."""
        return self.stderr_log.open("a", encoding="utf-8")

    @asynccontextmanager
    async def session(self, argv: list[str], **kwargs: Any) -> AsyncIterator[ClientSession]:
        """An (uninitialized) official-SDK ``ClientSession`` over stdio to ``argv``; the child's stderr goes to a file."""
        kwargs.setdefault("read_timeout_seconds", READ_TIMEOUT)
        with self.errlog() as err:
            async with (
                stdio_client(stdio_params(argv), errlog=err) as (read, write),
                ClientSession(read, write, **kwargs) as session,
            ):
                yield session

    @asynccontextmanager
    async def client(self, argv: list[str], **kwargs: Any) -> AsyncIterator[Client]:
        """A connected high-level ``mcp.Client`` (``mode="auto"`` unless overridden) over stdio to ``argv``."""
        kwargs.setdefault("read_timeout_seconds", READ_TIMEOUT)
        kwargs.setdefault("mode", "auto")
        with self.errlog() as err:
            async with Client(stdio_client(stdio_params(argv), errlog=err), **kwargs) as client:
                yield client

    def skip_if_direct(self, what: str = "this check") -> None:
        if self.direct:
            pytest.skip(f"{what} needs the Lilith proxy (LILITH_DIRECT=1)")


@pytest.fixture
def interop(tmp_path: Path) -> Interop:
    if not DIRECT and not LILITH.exists():
        pytest.fail(f"{LILITH} is missing: install the package (pip install -e .) or set LILITH_DIRECT=1")
    return Interop(tmp_path)


@pytest.fixture
def proxied() -> None:
    """Skip the test when there is no proxy in the path (LILITH_DIRECT=1)."""
    if DIRECT:
        pytest.skip("needs the Lilith proxy (LILITH_DIRECT=1)")
