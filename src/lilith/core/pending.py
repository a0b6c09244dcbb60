"""Requests in flight, by id: each one's bookkeeping (``Pending``), the client's requests waiting for the
server (``ClientRequests``), and the ids of client requests given up on whose answers may still come
(``RetiredIds``). Both tables are dicts, so the per-message lookups stay plain dict operations."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from lilith.core.message import IdKey, Message, id_key, is_valid_id

if TYPE_CHECKING:
    from lilith.core.batches import Batch

NEVER = float("inf")
INTERNAL_ID_PREFIX = "lilith-internal-"
# Ids of cancelled or timed-out requests remembered at most (the oldest is forgotten first).
MAX_RETIRED_IDS = 10_000
LONG_ID_CHARS = 256  # longer string ids are retired as a digest


class Pending:
    """One request waiting for its answer (either direction)."""

    __slots__ = (
        "batch",
        "deadline",
        "internal",
        "method",
        "params",
        "progress",
        "request_id",
        "sent",
        "startup",
        "stream",
        "tool",
    )

    def __init__(self, method: str, request_id: Any, batch: Batch | None = None, internal: bool = False) -> None:
        self.method = method
        self.request_id = request_id
        self.batch = batch
        self.internal = internal  # Lilith's own (a replayed handshake, a restored setting): the client never knew
        # Set for requests the client sends to the server (the ones Lilith times out); for the server's
        # requests to the client, when it was sent and until when it holds client requests' clocks:
        self.sent = 0.0
        self.deadline = NEVER
        self.startup = False
        self.stream = False  # answered only when a long-lived stream ends (subscriptions/listen): never timed out
        self.progress: IdKey | None = None
        self.tool: str | None = None
        self.params: dict[str, Any] | None = None  # kept for the few requests a restart restores


class ClientRequests(dict[IdKey, Pending]):
    """Client requests (and Lilith's own) forwarded to the server and not answered yet, by id; and the
    progress token each carries, so a progress notification can find its request."""

    __slots__ = ("_internal_seq", "by_progress")

    def __init__(self) -> None:
        super().__init__()
        self.by_progress: dict[IdKey, IdKey] = {}  # progress token -> request id
        self._internal_seq = 0

    def take(self, key: IdKey) -> Pending | None:
        """Take a request off the table (it was answered, cancelled or timed out)."""
        pending = self.pop(key, None)
        if pending is not None and pending.progress is not None:
            self.by_progress.pop(pending.progress, None)
        return pending

    def internal_id(self) -> str:
        """An id for a request of Lilith's own, in flight under no other request."""
        while True:
            self._internal_seq += 1
            request_id = f"{INTERNAL_ID_PREFIX}{self._internal_seq}"
            if id_key(request_id) not in self:
                return request_id

    def clear(self) -> None:
        super().clear()
        self.by_progress.clear()


class RetiredIds(dict[IdKey, float]):
    """Ids of cancelled or timed-out client requests -> until when each stays retired (insertion = time
    order). The server may still answer such a request, so its id must not be reused until that answer came
    or could no longer come (``keep_for`` seconds later)."""

    __slots__ = ("_clock", "_keep_for")

    def __init__(self, clock: Callable[[], float], keep_for: float) -> None:
        super().__init__()
        self._clock = clock
        self._keep_for = keep_for

    def retire(self, key: IdKey) -> None:
        key = _compact(key)
        dict.pop(self, key, None)
        self[key] = self._clock() + self._keep_for
        while len(self) > MAX_RETIRED_IDS:
            del self[next(iter(self))]

    def __contains__(self, key: object) -> bool:
        return isinstance(key, tuple) and dict.__contains__(self, _compact(key))

    def pop(self, key: IdKey, default: Any = None) -> Any:
        return dict.pop(self, _compact(key), default)

    def purge(self, now: float) -> None:
        """Forget the ids whose late answers can no longer come."""
        while self:
            key = next(iter(self))
            if self[key] > now:
                break
            del self[key]


def _compact(key: IdKey) -> IdKey:
    """A long string id is kept as its digest (a retired id may be remembered for minutes: its bytes must not
    be). A digest is ``bytes``, which no real id's key is, so it can equal only the digest of the same id."""
    if key[0] is str and len(key[1]) > LONG_ID_CHARS:
        return (bytes, hashlib.blake2b(key[1].encode("utf-8", "surrogatepass"), digest_size=16).digest())
    return key


def cancelled_key(message: Message) -> IdKey | None:
    """The id of the request a ``notifications/cancelled`` names, or None if it names none validly (then
    nothing with such an id is in flight; the notification still goes on)."""
    params = message.body.get("params")
    request_id = params.get("requestId") if isinstance(params, dict) else None
    return id_key(request_id) if is_valid_id(request_id) else None
