"""Newline-delimited JSON framing with a hard cap on line length (sans-IO).

Bytes go in with ``feed``; complete lines come out. A line longer than the cap is reported once, as soon as
the cap is crossed (so a line that never ends cannot grow memory), and the rest of it is discarded up to
its newline.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class OversizedLine:
    """A line crossed ``max_line_bytes``; its content is gone."""

    limit: int


class LineFramer:
    __slots__ = ("_buffer", "_discarding", "_max")

    def __init__(self, max_line_bytes: int) -> None:
        if max_line_bytes < 1:
            raise ValueError("max_line_bytes must be positive")
        self._max = max_line_bytes
        self._buffer = bytearray()
        self._discarding = False

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
                return [OversizedLine(self._max)]
            return [line] if line and not line.isspace() else []
        out: list[bytes | OversizedLine] = []
        start = 0
        while start < size:
            newline = data.find(b"\n", start)
            if newline < 0:
                self._keep(data, start, size, out)
                break
            if self._discarding:
                self._discarding = False
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
                    out.append(OversizedLine(self._max))
                elif line and not line.isspace():
                    out.append(line)
            start = newline + 1
        return out

    def _keep(self, data: bytes, start: int, end: int, out: list[bytes | OversizedLine]) -> None:
        if self._discarding:
            return
        self._buffer += data[start:end]
        if len(self._buffer) > self._max:
            self._buffer.clear()
            self._discarding = True
            out.append(OversizedLine(self._max))
