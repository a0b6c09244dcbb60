"""The fastmcp client (a popular third-party client built on the SDK) through Lilith."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import anyio
import mcp_types as types
import pytest
from fastmcp import Client
from fastmcp.client.transports import StdioTransport
from mcp.shared.exceptions import MCPError

from tests.interop.conftest import CONVERT_TIME_ARGS

if TYPE_CHECKING:
    from tests.interop.conftest import Interop

pytestmark = [pytest.mark.interop, pytest.mark.timeout(60)]

SCENARIO_TIMEOUT = 45

HOSTILE_RULES = {"echo": "ALLOW", "add": "ALLOW", "sample": "ALLOW", "elicit": "ALLOW", "notify": "ALLOW"}
HOSTILE_RULES |= {"delete_file": "DENY"}


def transport(interop: Interop, argv: list[str]) -> StdioTransport:
    return StdioTransport(command=argv[0], args=argv[1:], keep_alive=False, log_file=interop.stderr_log)


@asynccontextmanager
async def connected(interop: Interop, argv: list[str], **kwargs: Any) -> AsyncIterator[Client[StdioTransport]]:
    async with Client(transport(interop, argv), timeout=20, init_timeout=20, **kwargs) as client:
        yield client


def text_of(content: list[Any]) -> str:
    return "\n".join(block.text for block in content if isinstance(block, types.TextContent))


@pytest.mark.parametrize("mode", ["auto", "legacy"])
def test_fastmcp_hostile_allowed_and_denied(interop: Interop, mode: str) -> None:
    async def scenario() -> None:
        with anyio.fail_after(SCENARIO_TIMEOUT):
            async with connected(interop, interop.argv(interop.hostile(), HOSTILE_RULES), mode=mode) as client:
                tools = {tool.name for tool in await client.list_tools()}
                assert {"echo", "add"} <= tools
                result = await client.call_tool("echo", {"via": "fastmcp", "n": [1, 2]})
                assert result.structured_content == {"via": "fastmcp", "n": [1, 2]}
                assert json.loads(text_of(result.content)) == {"n": [1, 2], "via": "fastmcp"}
                added = await client.call_tool("add", {"a": 20, "b": 22})
                assert text_of(added.content) == "42"
                if not interop.direct:
                    with pytest.raises(MCPError) as excinfo:
                        await client.call_tool("delete_file", {"path": "/etc/passwd"})
                    interop.assert_denied(excinfo.value)
                    with pytest.raises(MCPError) as excinfo:
                        await client.call_tool("run_command", {"command": "id"})  # unlisted
                    interop.assert_denied(excinfo.value)

    anyio.run(scenario)
    assert interop.tool_calls_received() == ["echo", "add"]
    first = interop.received()[0]
    assert first["method"] == ("server/discover" if mode == "auto" else "initialize")


def test_fastmcp_hostile_handlers(interop: Interop) -> None:
    sampled: list[Any] = []
    elicited: list[str] = []
    logs: list[Any] = []
    progress_seen: list[float] = []

    async def sampling_handler(messages: list[types.SamplingMessage], params: Any, context: Any) -> str:
        sampled.append(messages)
        return "fastmcp sampled"

    async def elicitation_handler(message: str, response_type: Any, params: Any, context: Any) -> dict[str, Any]:
        elicited.append(message)
        return {"name": "Grace"}

    async def log_handler(message: types.LoggingMessageNotificationParams) -> None:
        logs.append(message)

    async def progress_handler(progress: float, total: float | None, message: str | None) -> None:
        progress_seen.append(progress)

    async def scenario() -> None:
        with anyio.fail_after(SCENARIO_TIMEOUT):
            async with connected(
                interop,
                interop.argv(interop.hostile(), HOSTILE_RULES),
                mode="legacy",
                sampling_handler=sampling_handler,
                elicitation_handler=elicitation_handler,
                log_handler=log_handler,
                progress_handler=progress_handler,
            ) as client:
                sample = await client.call_tool("sample", {"prompt": "hi from fastmcp"})
                assert sampled
                assert "fastmcp sampled" in text_of(sample.content)
                elicit = await client.call_tool("elicit", {"message": "name?"})
                assert elicited == ["name?"]
                assert "Grace" in text_of(elicit.content)
                await client.call_tool("notify", {})
                with anyio.fail_after(5):
                    while len(progress_seen) < 3 or not logs:
                        await anyio.sleep(0.05)
                assert progress_seen == [1, 2, 3]
                assert logs[0].data == "hello from hostile notify"

    anyio.run(scenario)


def test_fastmcp_time_server(interop: Interop) -> None:
    server = [str(interop.peer("mcp-server-time")), "--local-timezone", "Etc/UTC"]
    rules = {"get_current_time": "ALLOW", "convert_time": "DENY"}

    async def scenario() -> None:
        with anyio.fail_after(SCENARIO_TIMEOUT):
            async with connected(interop, interop.argv(server, rules)) as client:
                tools = {tool.name for tool in await client.list_tools()}
                assert "get_current_time" in tools
                result = await client.call_tool("get_current_time", {"timezone": "Etc/UTC"})
                assert json.loads(text_of(result.content))["timezone"] == "Etc/UTC"
                await interop.denied_unless_direct(lambda: client.call_tool("convert_time", CONVERT_TIME_ARGS))

    anyio.run(scenario)


def test_fastmcp_everything_handlers(interop: Interop) -> None:
    server = [str(interop.node_peer("mcp-server-everything")), "stdio"]
    rules = {"echo": "ALLOW", "trigger-*": "ALLOW", "get-env": "DENY"}
    sampled: list[Any] = []
    elicited: list[str] = []
    progress_seen: list[float] = []

    async def sampling_handler(messages: list[types.SamplingMessage], params: Any, context: Any) -> str:
        sampled.append(messages)
        return "fastmcp-sampled-everything"

    async def elicitation_handler(message: str, response_type: Any, params: Any, context: Any) -> dict[str, Any]:
        elicited.append(message)
        return {"name": "Grace Hopper"}

    async def progress_handler(progress: float, total: float | None, message: str | None) -> None:
        progress_seen.append(progress)

    async def scenario() -> None:
        with anyio.fail_after(SCENARIO_TIMEOUT):
            async with connected(
                interop,
                interop.argv(server, rules),
                sampling_handler=sampling_handler,
                elicitation_handler=elicitation_handler,
            ) as client:
                with anyio.fail_after(10):
                    while "trigger-elicitation-request" not in {t.name for t in await client.list_tools()}:
                        await anyio.sleep(0.1)
                echoed = await client.call_tool("echo", {"message": "fastmcp"})
                assert text_of(echoed.content) == "Echo: fastmcp"
                sample = await client.call_tool("trigger-sampling-request", {"prompt": "p", "maxTokens": 10})
                assert sampled
                assert "fastmcp-sampled-everything" in text_of(sample.content)
                elicit = await client.call_tool("trigger-elicitation-request", {})
                assert elicited
                assert "Name: Grace Hopper" in text_of(elicit.content)
                await client.call_tool(
                    "trigger-long-running-operation", {"duration": 0.3, "steps": 3}, progress_handler=progress_handler
                )
                with anyio.fail_after(5):
                    while len(progress_seen) < 3:
                        await anyio.sleep(0.05)
                assert progress_seen == [1, 2, 3]
                if not interop.direct:
                    with pytest.raises(MCPError) as excinfo:
                        await client.call_tool("get-env", {})
                    interop.assert_denied(excinfo.value)

    anyio.run(scenario)
