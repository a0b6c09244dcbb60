"""Turn a fuzzer's flat byte string into structured choices.

atheris has its own ``FuzzedDataProvider``, but the targets must also run under hypothesis (which hands
over plain ``bytes``) and replay saved corpus files in the normal suite, so they read their input through
this small, dependency-free reader instead. Reading past the end yields zeros and empty strings, never an
error: every byte string is a valid input.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

T = TypeVar("T")


class ByteReader:
    __slots__ = ("_data", "_pos")

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._pos = 0

    def more(self) -> bool:
        return self._pos < len(self._data)

    def byte(self) -> int:
        if self._pos >= len(self._data):
            return 0
        value = self._data[self._pos]
        self._pos += 1
        return value

    def below(self, bound: int) -> int:
        """A number in ``range(bound)`` from one byte (two when ``bound`` exceeds 256)."""
        if bound <= 256:
            return self.byte() % bound
        return (self.byte() << 8 | self.byte()) % bound

    def choice(self, options: Sequence[T]) -> T:
        return options[self.below(len(options))]

    def chunk(self, max_size: int = 255) -> bytes:
        """A length byte, then that many bytes (fewer at the end of the input)."""
        size = min(self.byte(), max_size)
        piece = self._data[self._pos : self._pos + size]
        self._pos += len(piece)
        return piece

    def rest(self) -> bytes:
        piece = self._data[self._pos :]
        self._pos = len(self._data)
        return piece
