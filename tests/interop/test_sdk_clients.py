"""The official MCP Python SDK (``ClientSession`` and ``mcp.Client``) against the hostile test server.

The hostile server records every raw line it receives (``--record``), so these tests can check what
really reached the server, e.g. that a denied call never did.
"""

from __future__ import annotations

import json
import queue
import subprocess
import threading
from typing import TYPE_CHECKING, Any

import anyio
import mcp_types as types
import pytest
from mcp.client.session import ClientRequestContext, IncomingMessage
from mcp.shared.exceptions import MCPError

if TYPE_CHECKING:
    from tests.interop.conftest import Interop

pytestmark = [pytest.mark.interop, pytest.mark.timeout(60)]

ALL_TOOLS = {
    "echo",
    "add",
    "read_file",
    "delete_file",
    "run_command",
    "crash",
    "hang",
    "garbage",
    "huge",
    "fork_daemon",
    "sample",
    "elicit",
    "notify",
    "slow",
    "exit_now",
}

RULES = {
    "echo": "ALLOW",
    "add": "ALLOW",
    "read_*": "ALLOW",  # a glob
    "sample": "ALLOW",
    "elicit": "ALLOW",
    "notify": "ALLOW",
    "garbage": "ALLOW",
    "slow": "ALLOW",
    "hang": "ALLOW",
    "huge": "ALLOW",
    "crash": "ALLOW",
    "delete_file": "DENY",  # explicitly denied
    # run_command is unlisted, hence denied
}

SCENARIO_TIMEOUT = 45


def text_of(result: types.CallToolResult) -> str:
    assert result.content, result
    block = result.content[0]
    assert isinstance(block, types.TextContent), block
    return block.text


async def wait_for(predicate: Any, timeout: float = 5.0) -> None:
    with anyio.fail_after(timeout):
        while not predicate():
            await anyio.sleep(0.02)


def test_initialize_ping_and_list_tools(interop: Interop) -> None:
    async def scenario() -> None:
        with anyio.fail_after(SCENARIO_TIMEOUT):
            async with interop.session(interop.argv(interop.hostile(), RULES)) as session:
                init = await session.initialize()
                assert init.protocol_version == "2025-11-25"
                assert init.server_info.name == "hostile"
                assert init.capabilities.tools is not None
                await session.send_ping()
                listed = {tool.name for tool in (await session.list_tools()).tools}
                # The proxy may or may not hide denied tools; the allowed ones must all be there.
                assert {"echo", "add", "read_file", "sample", "elicit", "notify"} <= listed
                if interop.direct:
                    assert listed == ALL_TOOLS

    anyio.run(scenario)
    methods = [m.get("method") for m in interop.received() if isinstance(m, dict)]
    assert methods[:2] == ["initialize", "notifications/initialized"]
    assert "tools/list" in methods


def test_allowed_calls_pass_through_unchanged(interop: Interop) -> None:
    args: dict[str, Any] = {"zeta": [1, 2, {"deep": None}], "alpha": "x", "unicode": "héllo ✓", "n": 1.5}

    async def scenario() -> None:
        with anyio.fail_after(SCENARIO_TIMEOUT):
            async with interop.session(interop.argv(interop.hostile(), RULES)) as session:
                await session.initialize()
                echoed = await session.call_tool("echo", args)
                assert not echoed.is_error
                assert text_of(echoed) == json.dumps(args, sort_keys=True, ensure_ascii=False)
                assert echoed.structured_content == args

                added = await session.call_tool("add", {"a": 2, "b": 40})
                assert text_of(added) == "42"
                assert added.structured_content == {"sum": 42}

                read = await session.call_tool("read_file", {"path": "/etc/hostname"})  # allowed via "read_*"
                assert text_of(read) == 'called read_file with {"path": "/etc/hostname"}'

                big = await session.call_tool("huge", {"bytes": 1_000_000})
                assert text_of(big) == "x" * 1_000_000

    anyio.run(scenario)
    received = [m for m in interop.received() if isinstance(m, dict) and m.get("method") == "tools/call"]
    echo_call = next(m for m in received if m["params"]["name"] == "echo")
    assert echo_call["params"]["arguments"] == args  # arguments reach the server byte-for-byte equivalent
    assert interop.tool_calls_received() == ["echo", "add", "read_file", "huge"]


def test_denied_calls_never_reach_the_server(interop: Interop, proxied: None) -> None:
    async def scenario() -> None:
        with anyio.fail_after(SCENARIO_TIMEOUT):
            async with interop.session(interop.argv(interop.hostile(), RULES)) as session:
                await session.initialize()
                for tool, arguments in (("delete_file", {"path": "/etc/passwd"}), ("run_command", {"command": "id"})):
                    with pytest.raises(MCPError) as excinfo:
                        await session.call_tool(tool, arguments)
                    interop.assert_denied(excinfo.value)
                # The session is still usable after denials.
                after = await session.call_tool("echo", {"still": "alive"})
                assert text_of(after) == '{"still": "alive"}'

    anyio.run(scenario)
    assert interop.tool_calls_received() == ["echo"]
    assert not any("delete_file" in json.dumps(m) or "run_command" in json.dumps(m) for m in interop.received())
    records = interop.audit_records()
    assert records, "the audit log is empty"
    dumped = [json.dumps(r) for r in records]
    assert any("delete_file" in d for d in dumped)
    assert any("run_command" in d for d in dumped)
    assert any("echo" in d for d in dumped)


def test_server_to_client_requests_and_notifications(interop: Interop) -> None:
    sampled: list[types.CreateMessageRequestParams] = []
    elicited: list[types.ElicitRequestParams] = []
    logs: list[types.LoggingMessageNotificationParams] = []
    progress_seen: list[tuple[float, float | None, str | None]] = []

    async def on_sampling(
        context: ClientRequestContext, params: types.CreateMessageRequestParams
    ) -> types.CreateMessageResult:
        sampled.append(params)
        return types.CreateMessageResult(
            role="assistant", content=types.TextContent(type="text", text="sampled by test"), model="test-model"
        )

    async def on_elicitation(context: ClientRequestContext, params: types.ElicitRequestParams) -> types.ElicitResult:
        elicited.append(params)
        return types.ElicitResult(action="accept", content={"name": "Ada"})

    async def on_log(params: types.LoggingMessageNotificationParams) -> None:
        logs.append(params)

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        progress_seen.append((progress, total, message))

    async def scenario() -> None:
        with anyio.fail_after(SCENARIO_TIMEOUT):
            async with interop.session(
                interop.argv(interop.hostile(), RULES),
                sampling_callback=on_sampling,
                elicitation_callback=on_elicitation,
                logging_callback=on_log,
            ) as session:
                await session.initialize()

                sample = await session.call_tool("sample", {"prompt": "ping from test"})
                assert len(sampled) == 1
                first = sampled[0].messages[0].content
                assert isinstance(first, types.TextContent)
                assert first.text == "ping from test"
                assert sample.structured_content is not None
                assert sample.structured_content["model"] == "test-model"
                assert "sampled by test" in text_of(sample)

                elicit = await session.call_tool("elicit", {"message": "Who are you?"})
                assert len(elicited) == 1
                assert elicited[0].message == "Who are you?"
                assert elicit.structured_content == {"action": "accept", "content": {"name": "Ada"}}

                notified = await session.call_tool("notify", {}, progress_callback=on_progress)
                assert notified.structured_content == {"progressSent": 3}
                await wait_for(lambda: len(progress_seen) >= 3 and len(logs) >= 1)
                assert [p[0] for p in progress_seen] == [1, 2, 3]
                assert all(p[1] == 3 for p in progress_seen)
                assert logs[0].data == "hello from hostile notify"
                assert logs[0].level == "info"

    anyio.run(scenario)
    # The client's answers to the server's requests made it back to the server.
    responses = [m for m in interop.received() if isinstance(m, dict) and "method" not in m]
    assert {r.get("id") for r in responses} == {"s-1", "s-2"}


def test_concurrent_requests_complete_out_of_order(interop: Interop) -> None:
    finished: list[str] = []

    async def scenario() -> None:
        with anyio.fail_after(SCENARIO_TIMEOUT):
            async with interop.session(interop.argv(interop.hostile(), RULES)) as session:
                await session.initialize()

                async def slow() -> None:
                    result = await session.call_tool("slow", {"ms": 700})
                    assert text_of(result) == "slept 700 ms"
                    finished.append("slow")

                async def fast() -> None:
                    await anyio.sleep(0.1)
                    result = await session.call_tool("echo", {"fast": True})
                    assert result.structured_content == {"fast": True}
                    finished.append("fast")

                async with anyio.create_task_group() as tg:
                    tg.start_soon(slow)
                    tg.start_soon(fast)

    anyio.run(scenario)
    assert finished == ["fast", "slow"]


def test_hanging_call_times_out_and_cancellation_reaches_server(interop: Interop) -> None:
    async def scenario() -> None:
        with anyio.fail_after(SCENARIO_TIMEOUT):
            async with interop.session(interop.argv(interop.hostile(), RULES)) as session:
                await session.initialize()
                with pytest.raises(MCPError):
                    await session.call_tool("hang", {}, read_timeout_seconds=1.0)
                result = await session.call_tool("echo", {"after": "hang"})
                assert result.structured_content == {"after": "hang"}

    anyio.run(scenario)
    notes = [m for m in interop.received() if isinstance(m, dict) and m.get("method") == "notifications/cancelled"]
    assert len(notes) == 1
    hang_call = next(m for m in interop.received() if isinstance(m, dict) and m.get("method") == "tools/call")
    assert notes[0]["params"]["requestId"] == hang_call["id"]


def test_stdout_garbage_does_not_break_the_session(interop: Interop) -> None:
    async def scenario() -> None:
        with anyio.fail_after(SCENARIO_TIMEOUT):
            async with interop.session(interop.argv(interop.hostile("--banner-garbage"), RULES)) as session:
                await session.initialize()
                result = await session.call_tool("garbage", {})
                assert text_of(result) == "garbage sent"
                after = await session.call_tool("echo", {"k": "v"})
                assert after.structured_content == {"k": "v"}

    anyio.run(scenario)


def test_server_stderr_never_reaches_client_stdout(interop: Interop) -> None:
    problems: list[IncomingMessage] = []

    async def on_message(message: IncomingMessage) -> None:
        if isinstance(message, Exception):
            problems.append(message)

    async def scenario() -> None:
        with anyio.fail_after(SCENARIO_TIMEOUT):
            async with interop.session(interop.argv(interop.hostile(), RULES), message_handler=on_message) as session:
                await session.initialize()
                for i in range(5):
                    await session.call_tool("echo", {"i": i})

    anyio.run(scenario)
    assert problems == []
    if interop.direct:  # the hostile server does write to stderr; it went to the errlog file instead
        assert "hostile[" in interop.stderr_log.read_text(encoding="utf-8")


def test_server_crash_is_reported_not_hung(interop: Interop) -> None:
    async def scenario() -> None:
        with anyio.fail_after(SCENARIO_TIMEOUT):
            async with interop.session(interop.argv(interop.hostile(), RULES)) as session:
                await session.initialize()
                with pytest.raises(MCPError) as excinfo:
                    await session.call_tool("crash", {}, read_timeout_seconds=10.0)
                if not interop.direct:
                    assert excinfo.value.message.startswith("Lilith: "), excinfo.value.error

    anyio.run(scenario)


def test_high_level_client_auto_mode(interop: Interop) -> None:
    async def scenario() -> None:
        with anyio.fail_after(SCENARIO_TIMEOUT):
            async with interop.client(interop.argv(interop.hostile(), RULES), mode="auto") as client:
                # The hostile server answers server/discover, so auto mode settles on the modern era.
                assert client.protocol_version == "2026-07-28"
                listed = {tool.name for tool in (await client.list_tools()).tools}
                assert {"echo", "add"} <= listed
                result = await client.call_tool("add", {"a": 1, "b": 2})
                assert text_of(result) == "3"
                if not interop.direct:
                    with pytest.raises(MCPError) as excinfo:
                        await client.call_tool("delete_file", {"path": "/"})
                    interop.assert_denied(excinfo.value)

    anyio.run(scenario)
    methods = [m.get("method") for m in interop.received() if isinstance(m, dict)]
    assert methods[0] == "server/discover"
    assert interop.tool_calls_received() == ["add"]


def test_high_level_client_legacy_mode(interop: Interop) -> None:
    async def scenario() -> None:
        with anyio.fail_after(SCENARIO_TIMEOUT):
            async with interop.client(interop.argv(interop.hostile(), RULES), mode="legacy") as client:
                assert client.protocol_version == "2025-11-25"
                result = await client.call_tool("echo", {"legacy": True})
                assert result.structured_content == {"legacy": True}
                if not interop.direct:
                    with pytest.raises(MCPError) as excinfo:
                        await client.call_tool("run_command", {"command": "rm -rf /"})
                    interop.assert_denied(excinfo.value)

    anyio.run(scenario)
    assert interop.tool_calls_received() == ["echo"]


# --------------------------------------------------------------------------- raw JSON-RPC over the wire


class RawPeer:
    """A minimal line-oriented JSON-RPC client, to see exactly what comes back on stdout."""

    def __init__(self, argv: list[str], stderr_path: Any) -> None:
        self._stderr = stderr_path.open("ab")
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr)
        self._lines: queue.Queue[bytes] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._lines.put(line)

    def send(self, message: Any) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(message).encode() + b"\n")
        self.proc.stdin.flush()

    def receive(self, timeout: float = 10.0) -> Any:
        """Next JSON value on stdout (non-JSON lines, e.g. a server banner, are skipped)."""
        while True:
            line = self._lines.get(timeout=timeout)
            try:
                return json.loads(line)
            except ValueError:
                continue

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._stderr.close()


def _initialize(peer: RawPeer, version: str = "2025-06-18") -> dict[str, Any]:
    peer.send(
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {
                "protocolVersion": version,
                "capabilities": {},
                "clientInfo": {"name": "raw", "version": "0"},
                "x-unknown-param": {"kept": True},
            },
            "x-unknown-top": 1,
        }
    )
    response: dict[str, Any] = peer.receive()
    peer.send({"jsonrpc": "2.0", "method": "notifications/initialized"})
    return response


def test_raw_unknown_fields_pass_through(interop: Interop) -> None:
    peer = RawPeer(interop.argv(interop.hostile(), RULES), interop.stderr_log)
    try:
        init = _initialize(peer)
        assert init["id"] == 1
        assert init["result"]["protocolVersion"] == "2025-06-18"  # the server echoes a supported version
        assert init["result"]["x-hostile"] is True
        peer.send(
            {"jsonrpc": "2.0", "id": "str-id", "method": "tools/call", "params": {"name": "echo", "arguments": {}}}
        )
        echoed = peer.receive()
        assert echoed["id"] == "str-id"
        assert echoed["result"]["x-hostile"] is True
        peer.send({"jsonrpc": "2.0", "id": 7, "method": "no/such/method"})
        unknown = peer.receive()
        assert unknown["id"] == 7
        assert unknown["error"]["code"] == -32601
    finally:
        peer.close()
    first = interop.received()[0]
    assert first["x-unknown-top"] == 1
    assert first["params"]["x-unknown-param"] == {"kept": True}


def test_raw_batch(interop: Interop) -> None:
    peer = RawPeer(interop.argv(interop.hostile(), RULES), interop.stderr_log)
    try:
        # Batches exist only in protocol 2025-03-26, so negotiate exactly that.
        assert _initialize(peer, "2025-03-26")["result"]["protocolVersion"] == "2025-03-26"
        peer.send(
            [
                {
                    "jsonrpc": "2.0",
                    "id": 10,
                    "method": "tools/call",
                    "params": {"name": "add", "arguments": {"a": 1, "b": 1}},
                },
                {
                    "jsonrpc": "2.0",
                    "id": 11,
                    "method": "tools/call",
                    "params": {"name": "delete_file", "arguments": {"path": "/x"}},
                },
                {"jsonrpc": "2.0", "id": 12, "method": "ping"},
            ]
        )
        batch = peer.receive()
        assert isinstance(batch, list)
        by_id = {item["id"]: item for item in batch}
        assert set(by_id) == {10, 11, 12}
        assert by_id[10]["result"]["content"][0]["text"] == "2"
        assert "result" in by_id[12]
        if interop.direct:
            assert "result" in by_id[11]
        else:
            error = by_id[11]["error"]
            assert error["code"] == -32000
            assert error["message"].startswith("Lilith: ")
            assert {"rule", "reason"} <= set(error["data"])
    finally:
        peer.close()
    if not interop.direct:
        assert interop.tool_calls_received() == ["add"]
