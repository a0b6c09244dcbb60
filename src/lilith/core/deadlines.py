"""Until when each client request may wait for the server's answer (monotonic seconds, sans-IO).

A request gets ``request_timeout`` (``startup_timeout`` while the server has said nothing yet, the hard
maximum ``request_timeout_max`` for a ``tasks/result``); progress notifications push its deadline out,
never past the maximum. While the server waits on the client (a server request the client has not
answered, e.g. an elicitation a human answers) the server is not hung: the clocks are held and only the
maximums run, until the hold ends.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from lilith.core.batches import deliver
from lilith.core.codec import encode
from lilith.core.effects import Expired
from lilith.core.limits import Limits
from lilith.core.message import IdKey, Message, error_response, id_key
from lilith.core.pending import NEVER, ClientRequests, Pending, RetiredIds
from lilith.core.session_records import SessionRecords
from lilith.errors import REQUEST_TIMEOUT

# Requests whose answer comes only when a long-lived stream ends (2026-07-28 ``subscriptions/listen``: the
# server's change notifications flow on it meanwhile): no timeout applies once the server is up, as none
# does when the client talks to the server directly.
STREAMS = frozenset({"subscriptions/listen"})


class Deadlines:
    """The clocks of the client requests in ``requests``, their hold by the server requests in
    ``server_requests`` (both tables are the session's), what happens when one runs out, and the ids of
    requests given up on, until their late answers can no longer come (``retired``)."""

    __slots__ = (
        "_clock",
        "_limits",
        "_records",
        "_requests",
        "_server_requests",
        "enabled",
        "held",
        "retired",
        "server_spoke",
    )

    def __init__(
        self,
        limits: Limits,
        clock: Callable[[], float],
        requests: ClientRequests,
        server_requests: dict[IdKey, Pending],
        records: SessionRecords,
        *,
        enabled: bool,
    ) -> None:
        """``enabled``: False without a real clock; then nothing ever times out (and retired ids stay
        retired until the server is lost). A timeout goes to ``records``."""
        self._limits = limits
        self._clock = clock
        self._requests = requests
        self._server_requests = server_requests
        self._records = records
        self.enabled = enabled
        self.retired = RetiredIds(clock, limits.request_timeout_max if enabled else NEVER)
        self.held = False  # does a server request wait on the client, holding client requests' clocks?
        self.server_spoke = False  # has the current server process sent anything yet?

    def start(self, pending: Pending, message: Message, *, blocks: bool = False) -> None:
        """A client request is forwarded: its clock starts. ``blocks``: a tasks/result, which the
        specification makes wait until its task ends, and progress is optional: an idle timeout would cut
        off quiet, correct tasks, so only the hard maximum applies. (Its task exists, so the server has
        spoken: never a start-up request.)"""
        limits = self._limits
        now = pending.sent = self._clock()
        pending.startup = not self.server_spoke
        pending.stream = message.method in STREAMS
        if pending.startup:
            pending.deadline = now + limits.startup_timeout
        elif pending.stream:
            pending.deadline = NEVER
        else:
            pending.deadline = now + (limits.request_timeout_max if blocks else limits.request_timeout)
        params = message.body.get("params")
        if isinstance(params, dict):
            meta = params.get("_meta")
            token = meta.get("progressToken") if isinstance(meta, dict) else None
            if isinstance(token, str | int) and not isinstance(token, bool):
                pending.progress = id_key(token)
                self._requests.by_progress[pending.progress] = id_key(message.id)

    def start_handshake_replay(self, pending: Pending) -> None:
        """A restarted server gets the client's initialize again: it must answer within ``startup_timeout``."""
        pending.sent = self._clock()
        pending.startup = True
        pending.deadline = pending.sent + self._limits.startup_timeout

    def server_came_up(self) -> None:
        """The server's first words: it started. Requests that waited for that now wait as any request does
        (``request_timeout`` from when they were sent, never sooner than they were promised), and their
        timing out no longer means the server failed to start."""
        self.server_spoke = True
        timeout = self._limits.request_timeout
        for pending in self._requests.values():
            if pending.startup:
                pending.startup = False
                pending.deadline = NEVER if pending.stream else max(pending.deadline, pending.sent + timeout)

    def progressed(self, message: Message) -> None:
        """A progress notification for a request: its deadline restarts, up to the hard maximum."""
        if not self.enabled:
            return
        params = message.body.get("params")
        token = params.get("progressToken") if isinstance(params, dict) else None
        if not isinstance(token, str | int) or isinstance(token, bool):
            return
        key = self._requests.by_progress.get(id_key(token))
        pending = self._requests.get(key) if key is not None else None
        if pending is None or pending.stream:
            return
        limits = self._limits
        extended = self._clock() + limits.request_timeout
        pending.deadline = min(max(pending.deadline, extended), pending.sent + limits.request_timeout_max)

    def hold(self, request: Pending) -> None:
        """A server request now waits for the client's answer, which may wait on a human (elicitation/create):
        meanwhile a server that waits is not a hung server, so client requests' clocks do not run out, except
        their hard maximum. One request holds them for at most ``request_timeout_max`` (a client that never
        answers and a server that never cancels must not suspend the timeouts for good)."""
        request.sent = self._clock()
        request.deadline = request.sent + self._limits.request_timeout_max
        self.held = True

    def server_request_ended(self) -> None:
        """A server request stopped waiting on the client (answered, or cancelled by the server)."""
        if self.held:
            self._release(self._clock())

    def next_deadline(self) -> float | None:
        """When ``expire`` next has something to do (monotonic seconds), or None."""
        if not self.enabled or not self._requests:
            return None
        if self.held:  # only the hard maximums run, until the hold ends
            longest = self._limits.request_timeout_max
            caps = [pending.sent + longest for pending in self._requests.values() if not pending.stream]
            return min(self._hold_end(), *caps)
        return min(pending.deadline for pending in self._requests.values())

    def expire(self) -> Expired:
        """Answer every client request whose deadline has passed, and tell the server to stop working on it."""
        expired = Expired()
        if not self.enabled:
            return expired
        now = self._clock()
        self.retired.purge(now)
        direct: list[dict[str, Any]] = []
        for key, pending in self._late(now):
            self._requests.take(key)
            self.retired.retire(key)
            waited = round(now - pending.sent, 3)
            if pending.startup:
                expired.startup_failed = True
            self._records.timeout(pending, waited)
            if pending.method != "initialize":  # the spec forbids cancelling initialize
                cancel = {"requestId": pending.request_id, "reason": f"Lilith: no answer within {waited:g} s"}
                expired.effects.to_server.append(
                    encode({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": cancel})
                )
            if not pending.internal:
                deliver(pending, _timeout_answer(pending, waited), expired.effects, direct)
        expired.effects.to_client.extend(encode(body) for body in direct)
        return expired

    def _late(self, now: float) -> list[tuple[IdKey, Pending]]:
        """The client requests whose time is up at ``now``."""
        if self.held and (end := self._hold_end()) <= now:  # the server requests left are too old to hold
            self._release(end)
        if self.held:
            longest = self._limits.request_timeout_max
            return [(key, p) for key, p in self._requests.items() if not p.stream and p.sent + longest <= now]
        return [(key, p) for key, p in self._requests.items() if p.deadline <= now]

    def server_lost(self) -> None:
        """A restarted server must answer its first request within ``startup_timeout``, and holds nothing."""
        self.held = False
        self.server_spoke = False

    def _hold_end(self) -> float:
        """Until when the server requests waiting on the client hold client requests' clocks."""
        return max((request.deadline for request in self._server_requests.values()), default=-NEVER)

    def _release(self, at: float) -> None:
        """The hold ended or shrank at ``at``: every client request gets at least a fresh ``request_timeout``
        from ``at``, within its hard maximum."""
        limits = self._limits
        fresh = at + limits.request_timeout
        for pending in self._requests.values():
            pending.deadline = max(pending.deadline, min(fresh, pending.sent + limits.request_timeout_max))
        self.held = self._hold_end() > at


def _timeout_answer(pending: Pending, waited: float) -> dict[str, Any]:
    """The client's answer to a request the server did not answer (or, first, did not start for) in time."""
    what = "start" if pending.startup else "answer"
    return error_response(
        pending.request_id,
        REQUEST_TIMEOUT,
        f"Lilith: the MCP server did not {what} {pending.method} within {waited:g} s",
        {"timeout_seconds": waited},
    )
