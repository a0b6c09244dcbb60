#!/usr/bin/env python3
"""An official MCP Python SDK server (``MCPServer``, 2026-07-28 capable) whose ``announce`` tool tells the
clients listening on ``subscriptions/listen`` that its tool list changed.

Usage: ``python tests/servers/sdk_listen_server.py``
"""

from __future__ import annotations

from mcp.server import MCPServer
from mcp.server.mcpserver.context import Context

server = MCPServer("listen-test")


@server.tool()
async def announce(ctx: Context) -> str:
    """Publish a tools list-changed event to the listening clients."""
    await ctx.notify_tools_changed()
    return "announced"


if __name__ == "__main__":
    server.run()
