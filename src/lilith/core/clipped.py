"""Text that an audit record keeps only the start of: the audit sink redacts the first ``keep`` characters and
records the rest as its length and keyed hash (``<truncated:N:hash>``), which the core cannot compute."""

from __future__ import annotations


class Clipped(str):
    """``text``, of which a record shows at most the first ``keep`` characters (redacted)."""

    keep: int

    def __new__(cls, text: str, keep: int) -> Clipped:
        self = super().__new__(cls, text)
        self.keep = keep
        return self

    def __reduce__(self) -> tuple[type[Clipped], tuple[str, int]]:  # copy and deepcopy keep both parts
        return Clipped, (str(self), self.keep)
