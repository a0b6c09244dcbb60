"""Resolve paths the way the MCP server will: against its home and working directory, following symlinks.

The policy engine is pure and asks this object; it lives in the shell because it touches the filesystem.

Symlinks are followed one component at a time, as the kernel does (``..`` after a link goes to the parent
of its target; a missing component is kept as written, like ``os.path.realpath(strict=False)``). What the
kernel resolves differently for every process cannot be followed here: ``/proc/self`` names Lilith while
Lilith checks and the server when the server opens, so ``/proc/self/cwd/.ssh/id_rsa`` would be judged
under Lilith's working directory and read under the server's. Every symlink under ``/proc`` (``self``,
``thread-self``, ``<pid>/cwd``, ``<pid>/root``, ``<pid>/fd/N``...) is such a magic link, and ``/dev/fd``,
``/dev/stdin`` and the like lead there; a path that meets one, or ends in ``/dev/fd``, is refused
(``ValueError``), so a rule on it denies. Files under ``/proc`` that are not links (``/proc/cpuinfo``)
resolve as usual. procfs is assumed to be mounted at ``/proc``.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping

from lilith.errors import ConfigError

# The kernel's limit on symlinks in one lookup (ELOOP beyond it): the server's open() would fail too.
_MAX_LINKS = 40
_PROC = "/proc/"
_FD_DIRECTORY = "/dev/fd"


class ServerPathResolver:
    def __init__(self, server_env: Mapping[str, str], server_cwd: str | None) -> None:
        """ConfigError when the server's working directory cannot be named (see ``_working_directory``)."""
        self._home = server_env.get("HOME") or os.path.expanduser("~")
        self._cwd = _working_directory(server_cwd)

    def home(self) -> str:
        return self._home

    def cwd(self) -> str:
        return self._cwd

    def realpath(self, path: str) -> str:
        resolved = _follow_links(path)
        if resolved == _FD_DIRECTORY or resolved.startswith(_FD_DIRECTORY + "/"):
            raise ValueError(f"{path!r} names a file descriptor, which is the opening process's own")
        return resolved


def _working_directory(server_cwd: str | None) -> str:
    """The server's working directory as an absolute path: --cwd, else Lilith's own. When Lilith's own
    has been deleted there is no name to judge relative paths under (the server would inherit a directory
    in which no relative path opens), so that is refused rather than guessed."""
    if server_cwd and os.path.isabs(server_cwd):
        return os.path.normpath(server_cwd)
    try:
        here = os.getcwd()
    except OSError as exc:
        what = f"--cwd {server_cwd!r} is relative to it" if server_cwd else "the server would start in it"
        raise ConfigError(
            f"Lilith's working directory cannot be read ({exc.strerror}; deleted?) and {what}: "
            "start Lilith from an existing directory, or give the server an absolute --cwd"
        ) from None
    return os.path.normpath(os.path.join(here, server_cwd)) if server_cwd else here


def _follow_links(path: str) -> str:
    """``path`` (absolute) with every existing symlink followed; ``ValueError`` for a /proc link or a loop."""
    todo = path.split("/")[::-1]  # a stack of the components still to walk, next one last
    done = ""  # the symlink-free path walked so far ("" is the root)
    links = 0
    while todo:
        name = todo.pop()
        if name in ("", "."):
            continue
        if name == "..":
            done = done.rpartition("/")[0]
            continue
        candidate = f"{done}/{name}"
        try:
            is_link = stat.S_ISLNK(os.lstat(candidate).st_mode)
        except OSError:  # missing or unreadable: kept as written, as realpath(strict=False) does
            is_link = False
        if not is_link:
            done = candidate
            continue
        if candidate.startswith(_PROC):
            raise ValueError(f"{path!r} passes through {candidate!r}, a /proc link whose target depends on the process")
        links += 1
        if links > _MAX_LINKS:
            raise ValueError(f"{path!r} passes through more than {_MAX_LINKS} symbolic links (a loop?)")
        try:
            target = os.readlink(candidate)
        except OSError as exc:
            raise ValueError(f"the symbolic link {candidate!r} cannot be read: {exc.strerror}") from None
        if target.startswith("/"):
            done = ""
        todo.extend(target.split("/")[::-1])
    return done or "/"
