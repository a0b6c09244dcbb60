"""A 2026-07-28 ``subscriptions/listen`` stream stays open through Lilith as long as it does without it: the
request is answered only when the stream ends, so no request timeout may cut it off (second interop review,
finding 1). The official SDK's ``Client(mode="auto")`` listens for longer than ``--request-timeout`` against an
SDK ``MCPServer``, then gets the change event on the stream."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import anyio
import pytest
from mcp import Client, StdioServerParameters

from tests.interop.conftest import DIRECT, REPO, write_policy

pytestmark = [pytest.mark.interop, pytest.mark.timeout(60)]
SERVER = [sys.executable, str(REPO / "tests" / "servers" / "sdk_listen_server.py")]


def test_a_listen_stream_outlives_the_request_timeout(tmp_path: Path) -> None:
    policy = write_policy(tmp_path / "policy.yaml", {"announce": "ALLOW"})
    lilith = [str(Path(sys.executable).parent / "lilith"), "run", "--policy", str(policy), "--request-timeout", "1"]
    argv = SERVER if DIRECT else [*lilith, "--", *SERVER]
    events: list[str] = []

    async def scenario() -> None:
        with anyio.fail_after(30):
            async with Client(
                StdioServerParameters(command=argv[0], args=argv[1:], env=dict(os.environ)), mode="auto"
            ) as client:
                assert client.protocol_version == "2026-07-28"
                async with client.listen(tools_list_changed=True) as stream:
                    await anyio.sleep(2.5)  # well past --request-timeout 1
                    assert (await client.call_tool("announce", {})).content
                    with anyio.move_on_after(5):
                        async for event in stream:
                            events.append(type(event).__name__)
                            break

    anyio.run(scenario)
    assert events == ["ToolsListChanged"]
