"""``lilith audit tail FILE [-n N] [-f] [--json]``: the last records, then (with ``-f``) every new one.

Following survives rotation: when FILE is renamed away, the rest of it is read first, then each file that
followed it (FILE.N+1 …, then the new FILE) from its start, however many rotations happened in between. A
file cut shorter (replaced in place) is read again from its start. Only whole lines are shown; a record still
being written waits for its newline. Files are opened without blocking and only if they are regular files:
FILE itself must be one; a later file that is not (a FIFO planted at FILE.N) is skipped, and said so.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from typing import BinaryIO, TextIO

from lilith.audit.index import NOT_REGULAR, open_log
from lilith.audit.render import json_line, render_line
from lilith.audit.rotation import log_set
from lilith.errors import AuditReadError

POLL_SECONDS = 0.2
_BLOCK = 65536


def last_lines(handle: BinaryIO, count: int) -> list[bytes]:
    """The last ``count`` whole lines of ``handle``; leaves it positioned after the last whole line.

    Reads backwards a block at a time, counting each block's newlines once, and joins the blocks once at the
    end: the work is linear in what is read (prepending each block and recounting was quadratic)."""
    end = handle.seek(0, os.SEEK_END)
    pos = end
    blocks: list[bytes] = []
    newlines = 0
    while pos > 0 and newlines <= count:  # count + 1 newlines: the line before the first one shown has ended
        step = min(_BLOCK, pos)
        pos -= step
        handle.seek(pos)
        block = handle.read(step)
        blocks.append(block)
        newlines += block.count(b"\n")
    data = b"".join(reversed(blocks))
    whole_end = data.rfind(b"\n") + 1  # a torn or unfinished last line is not shown (yet)
    handle.seek(pos + whole_end)
    lines = data[:whole_end].split(b"\n")[:-1]
    return lines[-count:] if count else []


class Tail:
    def __init__(
        self,
        path: str,
        out: TextIO,
        *,
        as_json: bool,
        colour: bool,
        terminal: bool = False,
        notices: TextIO | None = None,
    ) -> None:
        self.path = path
        self._out = out
        self._as_json = as_json
        self._colour = colour
        self._terminal = terminal  # --json output is escaped on a terminal (see render.json_line)
        self._notices = notices
        self._skipped: set[tuple[int, int]] = set()  # files already named as skipped

    def show(self, lines: list[bytes]) -> None:
        for raw in lines:
            if not raw:
                continue
            text = json_line(raw, self._terminal) if self._as_json else render_line(raw, self._colour)
            self._out.write(text + "\n")
        self._out.flush()

    def run(self, count: int, follow: bool, keep_going: Callable[[], bool] = lambda: True) -> None:
        """Raises AuditReadError if FILE is not a regular file, OSError if it cannot be opened."""
        with open_log(self.path) as handle:
            self.show(last_lines(handle, count))
            if not follow:
                return
            identity = self._follow(handle, keep_going)
        while keep_going():  # FILE was rotated away: each file after it in turn
            following = self._open_next(identity)
            if following is None:
                time.sleep(POLL_SECONDS)
                continue
            with following:
                identity = self._follow(following, keep_going)

    def _follow(self, handle: BinaryIO, keep_going: Callable[[], bool]) -> tuple[int, int]:
        """Show what is appended to ``handle`` until FILE is another file (then the rest of this one too);
        return this one's identity, to find the file after it."""
        identity = _identity(os.fstat(handle.fileno()))
        pending = b""
        while keep_going():
            chunk = handle.read()
            if chunk:
                pending = self._emit(pending + chunk)
                continue
            try:
                info = os.stat(self.path)
            except FileNotFoundError:  # between the rename and the new file: wait for it
                time.sleep(POLL_SECONDS)
                continue
            if _identity(info) != identity:  # rotated: finish this file, then go on with the one after it
                self._emit(pending + handle.read())
                break
            if info.st_size < handle.tell():  # cut shorter or replaced in place: read it again
                handle.seek(0)
                pending = b""
                continue
            time.sleep(POLL_SECONDS)
        return identity

    def _open_next(self, identity: tuple[int, int]) -> BinaryIO | None:
        """The file after the one with ``identity``, opened; files that are not regular files are skipped
        (named once). None: nothing to read yet (FILE itself is missing or not a regular file)."""
        seen = {identity}
        while True:
            path = self._successor(identity)
            try:
                return open_log(path)
            except FileNotFoundError:  # renamed or removed meanwhile: look again at the next poll
                return None
            except AuditReadError:
                try:
                    identity = _identity(os.stat(path))
                except FileNotFoundError:
                    return None
                self._notice(identity, f"skipping {path!r}: {NOT_REGULAR}")
                if path == self.path or identity in seen:  # FILE itself, or the set is being shuffled
                    return None
                seen.add(identity)

    def _notice(self, identity: tuple[int, int], text: str) -> None:
        if identity not in self._skipped:
            self._skipped.add(identity)
            print(f"lilith audit tail: {text}", file=self._notices or sys.stderr, flush=True)

    def _successor(self, identity: tuple[int, int]) -> str:
        """The file after the one we were reading (now renamed to FILE.N): FILE.N+1, or FILE itself. Several
        rotations may have happened between two polls; each file is read in turn, none skipped."""
        files = log_set(self.path)
        for index in range(len(files) - 2, -1, -1):
            try:
                if _identity(os.stat(files[index])) == identity:
                    return files[index + 1]
            except FileNotFoundError:
                continue
        return self.path  # ours was deleted meanwhile: carry on with the live file

    def _emit(self, data: bytes) -> bytes:
        cut = data.rfind(b"\n") + 1
        if cut:
            self.show(data[:cut].split(b"\n")[:-1])
        return data[cut:]


def _identity(info: os.stat_result) -> tuple[int, int]:
    return (info.st_dev, info.st_ino)
