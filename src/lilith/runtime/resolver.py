"""Resolve paths the way the MCP server will: against its home and working directory, following symlinks.

The policy engine is pure and asks this object; it lives in the shell because it touches the filesystem.
"""

from __future__ import annotations

import os
from collections.abc import Mapping


class ServerPathResolver:
    def __init__(self, server_env: Mapping[str, str], server_cwd: str | None) -> None:
        self._home = server_env.get("HOME") or os.path.expanduser("~")
        self._cwd = os.path.abspath(server_cwd) if server_cwd else os.getcwd()

    def home(self) -> str:
        return self._home

    def cwd(self) -> str:
        return self._cwd

    def realpath(self, path: str) -> str:
        return os.path.realpath(path)
