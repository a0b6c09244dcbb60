"""JSON-RPC batches, which only protocol version 2025-03-26 allows: whether one is accepted, and how the
answers to its requests are gathered into the one reply the client waits for."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lilith.core.codec import encode
from lilith.core.effects import Effects
from lilith.core.message import IdKey, id_key

if TYPE_CHECKING:
    from lilith.core.pending import Pending

BATCH_VERSION = "2025-03-26"


class Batch:
    """A client batch whose requests are still answered: the ids it waits for, and the answers so far."""

    __slots__ = ("responses", "waiting")

    def __init__(self) -> None:
        self.waiting: set[IdKey] = set()
        self.responses: list[dict[str, Any]] = []

    def cancelled(self, key: IdKey) -> list[dict[str, Any]] | None:
        """One request of the batch will not be answered: the batch's answers, if that was all it waited for."""
        self.waiting.discard(key)
        return self.responses if not self.waiting and self.responses else None


class Out:
    """Where one client message's outputs go: straight out, or into a batch being assembled."""

    __slots__ = ("batch", "completed", "forwarded", "replies")

    def __init__(self, batch: Batch | None) -> None:
        self.batch = batch
        self.forwarded: list[dict[str, Any]] = []
        self.replies: list[dict[str, Any]] = []
        self.completed: list[list[dict[str, Any]]] = []  # earlier batches a cancellation completed


def batch_refusal(items: list[Any], negotiated: str | None, max_batch: int) -> str | None:
    """Why a batch is refused (from either peer), or None."""
    if negotiated != BATCH_VERSION:
        return (
            f"Invalid Request: JSON-RPC batches are only allowed once protocol version {BATCH_VERSION} "
            "was negotiated by initialize"
        )
    if not items:
        return "Invalid Request: empty batch"
    if len(items) > max_batch:
        return f"Invalid Request: batch of {len(items)} exceeds the limit of {max_batch}"
    return None


def deliver(pending: Pending, body: dict[str, Any], effects: Effects, forwarded: list[dict[str, Any]]) -> None:
    """The answer to a client request goes out: alone, or with its batch once the batch is complete."""
    batch = pending.batch
    if batch is None:
        forwarded.append(body)
        return
    batch.waiting.discard(id_key(pending.request_id))
    batch.responses.append(body)
    if not batch.waiting:
        effects.to_client.append(encode(batch.responses))
