"""The chain's common parts: the base of its links (``Interceptor``), and the policy snapshot they all read."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from lilith.core.message import Message
from lilith.errors import InvalidParams
from lilith.policy.decision import Decision
from lilith.policy.loader import Policy

PolicySource = Callable[[], Policy]


class PolicySnapshot:
    """Reads the live policy, except while the gate has pinned one for the request being checked."""

    __slots__ = ("_current", "_pinned")

    def __init__(self, current: PolicySource) -> None:
        self._current = current
        self._pinned: Policy | None = None

    def __call__(self) -> Policy:
        pinned = self._pinned
        return pinned if pinned is not None else self._current()

    def pin(self) -> None:
        self._pinned = self._current()

    def release(self) -> None:
        self._pinned = None


class Interceptor:
    """Base of the chain's links; each hook's default is "no opinion"."""

    name = "interceptor"

    def check_request(self, message: Message) -> Decision | None:
        """None: no opinion; a Decision: allowed or denied, with the rule that said so."""
        return None

    def filter_result(self, method: str, result: dict[str, Any], *, plain: bool = False) -> dict[str, Any]:
        """The result of a request of ``method`` as the client may see it (return it unchanged if no opinion).
        ``plain``: the line it came in was plain ASCII with no control escapes (nothing in it to strip)."""
        return result

    def on_forwarded(self, message: Message) -> None:
        """The request was allowed, audited and is being forwarded: commit any session state it changes."""
        return

    def filter_server_message(self, method: str, value: Any, *, plain: bool = False) -> Any:
        """What the client may see of the rest of what a server says: a notification's or a request's
        ``params`` (``method`` is theirs), or an error answer's ``error`` (``method`` is the request's)."""
        return value


def tool_name(message: Message) -> str:
    params = message.body.get("params")
    name: Any = params.get("name") if isinstance(params, dict) else None
    if not isinstance(name, str) or not name:
        raise InvalidParams("Invalid params: tools/call needs a string 'name'", request_id=message.id)
    if "\x00" in name:
        raise InvalidParams("Invalid params: tool name contains a NUL character", request_id=message.id)
    return name
