"""Newline-delimited JSON framing with a hard cap on line length (sans-IO).

Bytes go in with ``feed``; complete lines come out. A line longer than the cap is never held whole: only
its first ``HEAD_BYTES`` and last ``TAIL_BYTES`` are kept (``OversizedLine``), enough to tell which request
it was (``lilith.core.peek``), so that its answer carries an id the client can match. It is reported as soon
as it crosses the cap (a line that never ends cannot grow memory, and is answered at once when its start
says which request it is) and again when its newline arrives, with its end.
"""

from __future__ import annotations

from dataclasses import dataclass

# 16 KiB each way: the SDKs write id and method within the first hundred bytes (Python) or the last (the
# TypeScript SDK writes the id last), and a generous ``_meta`` or a long string id still fits; kept small
# because a line over the cap is attacker-sized, and this is all of it that memory ever holds.
HEAD_BYTES = 16 * 1024
TAIL_BYTES = 16 * 1024


@dataclass(frozen=True, slots=True)
class OversizedLine:
    """A line crossed ``limit``; only its ends are kept.

    ``ended`` False: reported as it crossed the limit, ``head`` only. ``ended`` True: its newline arrived;
    ``tail`` is its last bytes after the head, ``gap`` how many bytes between them are gone (0: ``head +
    tail`` is the whole line), ``early`` whether an unended report of it came first (not when the line's
    end arrived in the same read as its crossing)."""

    limit: int
    head: bytes = b""
    tail: bytes = b""
    gap: int = 0
    ended: bool = True
    early: bool = False

    @property
    def size(self) -> int:
        """The line's length in bytes (so far, when not ended)."""
        return len(self.head) + self.gap + len(self.tail)


def _whole(line: bytes, limit: int) -> OversizedLine:
    """The report of an over-long line that arrived complete."""
    head = line[:HEAD_BYTES]
    rest = len(line) - len(head)
    if rest <= TAIL_BYTES:
        return OversizedLine(limit, head, line[len(head) :])
    return OversizedLine(limit, head, line[-TAIL_BYTES:], rest - TAIL_BYTES)


class LineFramer:
    __slots__ = ("_buffer", "_discarding", "_gap", "_head", "_max", "_tail")

    def __init__(self, max_line_bytes: int) -> None:
        if max_line_bytes < 1:
            raise ValueError("max_line_bytes must be positive")
        self._max = max_line_bytes
        self._buffer = bytearray()
        self._discarding = False
        self._head = b""  # of the over-long line being discarded
        self._tail = bytearray()  # ... its last bytes so far (at most 2 * TAIL_BYTES)
        self._gap = 0  # ... and how many bytes between the two are gone

    @property
    def buffered(self) -> int:
        """Bytes of an unfinished line held in memory."""
        return len(self._buffer)

    def feed(self, data: bytes) -> list[bytes | OversizedLine]:
        """Add bytes; return the complete lines (without ``\\n`` or a trailing ``\\r``), blank lines skipped."""
        size = len(data)
        if not self._buffer and not self._discarding and data.find(b"\n") == size - 1:
            # The common case: exactly one whole line in this read.
            line = data[:-2] if data.endswith(b"\r\n") else data[:-1]
            if len(line) > self._max:
                return [_whole(line, self._max)]
            return [line] if line and not line.isspace() else []
        out: list[bytes | OversizedLine] = []
        start = 0
        while start < size:
            newline = data.find(b"\n", start)
            if newline < 0:
                self._keep(data, start, size, out)
                break
            if self._discarding:
                self._keep_tail(data, start, newline)
                out.append(self._ended())
            else:
                if self._buffer:
                    self._buffer += data[start:newline]
                    line = bytes(self._buffer)
                    self._buffer.clear()
                else:
                    line = data[start:newline]
                if line.endswith(b"\r"):
                    line = line[:-1]
                if len(line) > self._max:
                    out.append(_whole(line, self._max))
                elif line and not line.isspace():
                    out.append(line)
            start = newline + 1
        return out

    def _keep(self, data: bytes, start: int, end: int, out: list[bytes | OversizedLine]) -> None:
        if self._discarding:
            self._keep_tail(data, start, end)
            return
        self._buffer += data[start:end]
        if len(self._buffer) > self._max:
            self._head = bytes(self._buffer[:HEAD_BYTES])
            self._keep_tail(self._buffer, len(self._head), len(self._buffer))
            self._buffer.clear()
            self._discarding = True
            out.append(OversizedLine(self._max, self._head, ended=False))

    def _keep_tail(self, data: bytes | bytearray, start: int, end: int) -> None:
        """Keep the last bytes of ``data[start:end]`` as the discarded line's tail so far."""
        count = end - start
        if count >= TAIL_BYTES:
            self._gap += len(self._tail) + count - TAIL_BYTES
            self._tail = bytearray(data[end - TAIL_BYTES : end])
            return
        self._tail += data[start:end]
        if len(self._tail) > 2 * TAIL_BYTES:  # trimmed now and then, not on every read
            cut = len(self._tail) - TAIL_BYTES
            del self._tail[:cut]
            self._gap += cut

    def _ended(self) -> OversizedLine:
        """The discarded line's newline arrived: its report with its end, and the framer is ready again."""
        tail = self._tail
        if tail.endswith(b"\r"):
            del tail[-1:]
        if len(tail) > TAIL_BYTES:
            cut = len(tail) - TAIL_BYTES
            del tail[:cut]
            self._gap += cut
        line = OversizedLine(self._max, self._head, bytes(tail), self._gap, early=True)
        self._head, self._tail, self._gap, self._discarding = b"", bytearray(), 0, False
        return line
