"""The result of a policy check."""

from __future__ import annotations

from typing import NamedTuple


class Decision(NamedTuple):
    """Immutable. A NamedTuple rather than a dataclass: the policy is loaded on the start-up path, before
    the server is started, and importing ``dataclasses`` (with ``inspect``) costs ~13 ms here."""

    allowed: bool
    rule: str
    reason: str
    # mode: audit — the policy would have denied this, but only records it.
    would_deny: bool = False
    # on_deny: tool_result — present a denial as a CallToolResult with isError, so an LLM can recover.
    as_tool_result: bool = False
