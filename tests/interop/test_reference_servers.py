"""The official SDK client against real reference MCP servers: mcp-server-time, mcp-server-git and
the npm server-everything (which also drives sampling, elicitation, progress and logging)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
import mcp_types as types
import pytest
from mcp import ClientSession
from mcp.client.session import ClientRequestContext
from mcp.shared.exceptions import MCPError
from mcp_types.version import KNOWN_PROTOCOL_VERSIONS

from tests.interop.conftest import CONVERT_TIME_ARGS

if TYPE_CHECKING:
    from tests.interop.conftest import Interop

pytestmark = [pytest.mark.interop, pytest.mark.timeout(60)]

SCENARIO_TIMEOUT = 45


def text_of(result: types.CallToolResult) -> str:
    return "\n".join(block.text for block in result.content if isinstance(block, types.TextContent))


def git_repo_with_commit(path: Path) -> Path:
    env = {
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.invalid",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.invalid",
        "GIT_CONFIG_GLOBAL": "/dev/null",
        "GIT_CONFIG_NOSYSTEM": "1",
        "PATH": "/usr/local/bin:/usr/bin:/bin",
    }
    path.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", "-b", "main", str(path)], check=True, env=env)
    (path / "README.md").write_text("interop fixture\n", encoding="utf-8")
    subprocess.run(["git", "-C", str(path), "add", "README.md"], check=True, env=env)
    subprocess.run(["git", "-C", str(path), "commit", "-q", "-m", "initial interop commit"], check=True, env=env)
    return path


# ----------------------------------------------------------------------------------------------- time

TIME_RULES = {"get_current_time": "ALLOW", "convert_time": "DENY"}


def test_time_server_client_session(interop: Interop) -> None:
    server = [str(interop.peer("mcp-server-time")), "--local-timezone", "Etc/UTC"]

    async def scenario() -> None:
        with anyio.fail_after(SCENARIO_TIMEOUT):
            async with interop.session(interop.argv(server, TIME_RULES)) as session:
                init = await session.initialize()
                assert init.server_info.name == "mcp-time"
                listed = {tool.name for tool in (await session.list_tools()).tools}
                assert "get_current_time" in listed
                result = await session.call_tool("get_current_time", {"timezone": "Etc/UTC"})
                assert not result.is_error, result
                assert json.loads(text_of(result))["timezone"] == "Etc/UTC"
                await interop.denied_unless_direct(lambda: session.call_tool("convert_time", CONVERT_TIME_ARGS))

    anyio.run(scenario)
    if not interop.direct:
        assert any("convert_time" in json.dumps(r) for r in interop.audit_records())


def test_time_server_high_level_client_auto(interop: Interop) -> None:
    server = [str(interop.peer("mcp-server-time")), "--local-timezone", "Etc/UTC"]

    async def scenario() -> None:
        with anyio.fail_after(SCENARIO_TIMEOUT):
            async with interop.client(interop.argv(server, TIME_RULES), mode="auto") as client:
                assert client.protocol_version in KNOWN_PROTOCOL_VERSIONS
                listed = {tool.name for tool in (await client.list_tools()).tools}
                assert "get_current_time" in listed
                result = await client.call_tool("get_current_time", {"timezone": "Europe/London"})
                assert json.loads(text_of(result))["timezone"] == "Europe/London"
                await interop.denied_unless_direct(lambda: client.call_tool("convert_time", CONVERT_TIME_ARGS))

    anyio.run(scenario)


# ------------------------------------------------------------------------------------------------ git

GIT_RULES = {"git_status": "ALLOW", "git_log": "ALLOW", "git_create_branch": "DENY", "git_commit": "DENY"}


def _branches(repo: Path) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), "branch", "--list"], check=True, capture_output=True, text=True
    ).stdout


@pytest.mark.parametrize("client_kind", ["session", "client-auto"])
def test_git_server(interop: Interop, client_kind: str) -> None:
    repo = git_repo_with_commit(interop.tmp / "repo")
    server = [str(interop.peer("mcp-server-git")), "--repository", str(repo)]
    branch_args = {"repo_path": str(repo), "branch_name": "lilith-should-block-this"}

    async def exercise(call: Any, list_tools: Any) -> None:
        listed = {tool.name for tool in (await list_tools()).tools}
        assert {"git_status", "git_log"} <= listed
        log = await call("git_log", {"repo_path": str(repo)})
        assert not log.is_error, log
        assert "initial interop commit" in text_of(log)
        status = await call("git_status", {"repo_path": str(repo)})
        assert "main" in text_of(status)
        if not interop.direct:
            with pytest.raises(MCPError) as excinfo:
                await call("git_create_branch", branch_args)
            interop.assert_denied(excinfo.value)

    async def scenario() -> None:
        with anyio.fail_after(SCENARIO_TIMEOUT):
            argv = interop.argv(server, GIT_RULES)
            if client_kind == "session":
                async with interop.session(argv) as session:
                    init = await session.initialize()
                    assert init.server_info.name == "mcp-git"
                    await exercise(session.call_tool, session.list_tools)
            else:
                async with interop.client(argv, mode="auto") as client:
                    await exercise(client.call_tool, client.list_tools)

    anyio.run(scenario)
    # The denied call had no effect on the real repository.
    assert "lilith-should-block-this" not in _branches(repo)


# --------------------------------------------------------------------------------- server-everything

EVERYTHING_RULES = {
    "echo": "ALLOW",
    "get-sum": "ALLOW",
    "trigger-*": "ALLOW",  # trigger-sampling-request, trigger-elicitation-request, trigger-long-running-operation
    "toggle-simulated-logging": "ALLOW",
    "get-env": "DENY",  # would leak the server's environment
}

SAMPLING_TOOL = "trigger-sampling-request"
ELICITATION_TOOL = "trigger-elicitation-request"
PROGRESS_TOOL = "trigger-long-running-operation"
LOGGING_TOOL = "toggle-simulated-logging"


def everything_cmd(interop: Interop) -> list[str]:
    return [str(interop.node_peer("mcp-server-everything")), "stdio"]


async def wait_for_tools(session: ClientSession, names: set[str]) -> set[str]:
    """server-everything registers capability-dependent tools just after the handshake: poll for them."""
    with anyio.fail_after(10):
        while True:
            listed = {tool.name for tool in (await session.list_tools()).tools}
            if names <= listed:
                return listed
            await anyio.sleep(0.1)


def test_everything_basic_and_denied(interop: Interop) -> None:
    async def scenario() -> None:
        with anyio.fail_after(SCENARIO_TIMEOUT):
            async with interop.session(interop.argv(everything_cmd(interop), EVERYTHING_RULES)) as session:
                init = await session.initialize()
                assert init.server_info.name == "mcp-servers/everything"
                await wait_for_tools(session, {"echo", "get-sum"})
                echoed = await session.call_tool("echo", {"message": "hello through lilith"})
                assert text_of(echoed) == "Echo: hello through lilith"
                summed = await session.call_tool("get-sum", {"a": 19, "b": 23})
                assert "42" in text_of(summed)
                if not interop.direct:
                    with pytest.raises(MCPError) as excinfo:
                        await session.call_tool("get-env", {})
                    interop.assert_denied(excinfo.value)
                    # ... and nothing of the environment leaked in some other form.
                    assert "PATH" not in json.dumps(excinfo.value.error.model_dump(mode="json"))

    anyio.run(scenario)
    if not interop.direct:
        assert any("get-env" in json.dumps(r) for r in interop.audit_records())


@pytest.mark.filterwarnings("ignore::mcp.shared.exceptions.MCPDeprecationWarning")
def test_everything_sampling_elicitation_progress_logging(interop: Interop) -> None:
    sampled: list[types.CreateMessageRequestParams] = []
    elicited: list[types.ElicitRequestParams] = []
    logs: list[types.LoggingMessageNotificationParams] = []
    progress_seen: list[tuple[float, float | None, str | None]] = []

    async def on_sampling(
        context: ClientRequestContext, params: types.CreateMessageRequestParams
    ) -> types.CreateMessageResult:
        sampled.append(params)
        return types.CreateMessageResult(
            role="assistant",
            content=types.TextContent(type="text", text="sampled-by-interop-test"),
            model="interop-model",
            stop_reason="endTurn",
        )

    async def on_elicitation(context: ClientRequestContext, params: types.ElicitRequestParams) -> types.ElicitResult:
        elicited.append(params)
        return types.ElicitResult(action="accept", content={"name": "Ada Lovelace", "check": True, "integer": 7})

    async def on_log(params: types.LoggingMessageNotificationParams) -> None:
        logs.append(params)

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        progress_seen.append((progress, total, message))

    async def scenario() -> None:
        with anyio.fail_after(SCENARIO_TIMEOUT):
            async with interop.session(
                interop.argv(everything_cmd(interop), EVERYTHING_RULES),
                sampling_callback=on_sampling,
                elicitation_callback=on_elicitation,
                logging_callback=on_log,
            ) as session:
                await session.initialize()
                await wait_for_tools(session, {SAMPLING_TOOL, ELICITATION_TOOL, PROGRESS_TOOL, LOGGING_TOOL})

                # sampling: server -> client sampling/createMessage, answered by our callback
                sample = await session.call_tool(SAMPLING_TOOL, {"prompt": "what is lilith?", "maxTokens": 20})
                assert len(sampled) == 1
                first = sampled[0].messages[0].content
                assert isinstance(first, types.TextContent)
                assert "what is lilith?" in first.text
                assert "sampled-by-interop-test" in text_of(sample)
                assert "interop-model" in text_of(sample)

                # elicitation: server -> client elicitation/create
                elicit = await session.call_tool(ELICITATION_TOOL, {})
                assert len(elicited) == 1
                assert "Name: Ada Lovelace" in text_of(elicit)

                # progress: notifications/progress tied to our request's progressToken
                done = await session.call_tool(
                    PROGRESS_TOOL, {"duration": 0.6, "steps": 3}, progress_callback=on_progress
                )
                assert not done.is_error, done
                with anyio.fail_after(5):
                    while len(progress_seen) < 3:
                        await anyio.sleep(0.05)
                assert [p[0] for p in progress_seen] == [1, 2, 3]
                assert all(p[1] == 3 for p in progress_seen)

                # logging: logging/setLevel, then notifications/message from the server
                await session.set_logging_level("debug")
                await session.call_tool(LOGGING_TOOL, {})  # starts: sends one message at once, then every 5 s
                with anyio.fail_after(8):
                    while not logs:
                        await anyio.sleep(0.05)
                await session.call_tool(LOGGING_TOOL, {})  # stops it again
                assert logs[0].level in {
                    "debug",
                    "info",
                    "notice",
                    "warning",
                    "error",
                    "critical",
                    "alert",
                    "emergency",
                }
                assert "message" in str(logs[0].data).lower()

    anyio.run(scenario)
