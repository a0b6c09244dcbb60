"""One MCP session as seen from the middle (sans-IO).

Lines from either peer go in; what to send to the server and to the client comes out as ``Effects``.
The session never raises for a peer's input: every failure becomes a JSON-RPC error for the message that
caused it (or a logged drop, for the server side), and an unexpected exception never lets a message
through. ``Session`` routes each message and keeps the protocol state; its parts have modules of their
own: ``pending`` (requests in flight, retired ids), ``deadlines`` (timeouts), ``batches``, ``tasks``,
``refusals`` (what no policy mode relaxes), ``restore`` (what a restarted server is given again),
``server_requests``, ``server_view`` (what the client may see of the server), ``session_records``.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from lilith.core import long_lines, refusals
from lilith.core.batches import Batch, Out, batch_refusal, deliver
from lilith.core.codec import decode, encode
from lilith.core.deadlines import Deadlines
from lilith.core.denials import denial
from lilith.core.effects import Effects, Expired
from lilith.core.framing import OversizedLine
from lilith.core.gate import Gate
from lilith.core.limits import Limits
from lilith.core.message import Kind, Message, case_collision, classify, error_response, id_key, imitated_method
from lilith.core.pending import INTERNAL_ID_PREFIX, ClientRequests, Pending, cancelled_key
from lilith.core.ports import AuditSink, EventLog
from lilith.core.restore import RESTORED_METHODS, Restorer
from lilith.core.server_requests import ServerRequests
from lilith.core.server_view import ServerView, plain_line, preview
from lilith.core.session_records import RESULT_RECORDED, SessionRecords, Summariser
from lilith.core.task_answers import TaskAnswers
from lilith.core.tasks import MAX_TASKS, TaskTools
from lilith.errors import (
    INTERNAL_ERROR,
    INVALID_REQUEST,
    PARSE_ERROR,
    SERVER_UNAVAILABLE,
    InvalidRequest,
    ProtocolError,
)

__all__ = [
    "INTERNAL_ID_PREFIX",
    "MAX_TASKS",
    "Effects",
    "Expired",
    "Limits",
    "Session",
    "Summariser",
    "denial",
    "plain_line",
]

META_VERSION_KEY = "io.modelcontextprotocol/protocolVersion"
_NOT_FORWARDED = object()  # a server message to drop


def _no_clock() -> float:
    return 0.0


class Session:
    """Routes each message of one session between the peers, through the gate, and keeps its state."""

    def __init__(
        self,
        gate: Gate,
        audit: AuditSink,
        log: EventLog,
        limits: Limits | None = None,
        *,
        clock: Callable[[], float] | None = None,
        summarise: Summariser | None = None,
    ) -> None:
        """``clock``: monotonic seconds. Without one, requests never time out (unit tests of other things).
        ``summarise(response, line_bytes)``: the size/isError/preview fields of a ``result`` audit record;
        without one, answers are not recorded."""
        timed = clock is not None
        self.limits = limits = limits or Limits()
        self._clock = clock = clock or _no_clock
        self._timeouts = timed
        self._gate = gate
        self._log = log
        self._records = SessionRecords(gate, audit, log, clock, summarise, timed=timed)
        self._view = ServerView(gate, log)
        self._requests = ClientRequests()  # the client's (and Lilith's own) requests waiting for the server
        self._server_requests = ServerRequests(log)  # the server's requests waiting for the client
        self._deadlines = Deadlines(limits, clock, self._requests, self._server_requests, self._records, enabled=timed)
        self._retired = self._deadlines.retired  # ids of requests given up on, whose answers may still come
        self._tasks = TaskTools()
        self._task_answers = TaskAnswers(self._tasks, self._records, log, clock)
        self._restorer = Restorer(gate, self._records, log, self._requests, self._deadlines, clock=clock)
        self._setup = self._restorer.setup  # the client's handshake, logging level, subscriptions
        self.protocol_version: str | None = None
        self._negotiated: str | None = None  # the version an initialize result settled on (never a _meta claim)
        self._line_size = 0  # bytes of the server line being handled (a result record's size)
        self._line_plain = False  # ... and whether it holds nothing a sanitiser would strip
        # How many times the server was lost. Lines for the server belong to the epoch they were made in:
        # ``server_lost`` answered (or gave up on) everything of the epochs before, so a line made then must
        # never reach a server started since (the shell drops it: see ``MessagePump``).
        self.server_epoch = 0

    @property
    def in_flight(self) -> int:
        return len(self._requests)

    @property
    def counts(self) -> dict[str, int]:
        return {"decisions": self._records.decisions, "denied": self._records.denied}

    # ------------------------------------------------------------------ client -> server
    def from_client(self, line: bytes | OversizedLine) -> Effects:
        self._records.arrived = self._clock()
        effects = Effects()
        if isinstance(line, OversizedLine):  # never forwarded; answered with its id when that shows (long_lines)
            if not line.early:
                self._log.log("warning", "client_line_too_long", limit=line.limit)
            long_lines.refuse_client_line(line, effects, self._records, self._log)
            return effects
        try:
            value = decode(line, self.limits.max_depth)
        except ProtocolError as exc:
            effects.to_client.append(encode(error_response(None, PARSE_ERROR, exc.message)))
            return effects
        if isinstance(value, list):
            self._client_batch(value, effects)
            return effects
        out = Out(None)
        self._client_one(value, out)
        effects.to_server.extend(encode(body) for body in out.forwarded)
        effects.to_client.extend(encode(body) for body in out.replies)
        effects.to_client.extend(encode(batch) for batch in out.completed)
        return effects

    def _client_batch(self, items: list[Any], effects: Effects) -> None:
        reason = batch_refusal(items, self._negotiated, self.limits.max_batch)
        if reason is not None:
            effects.to_client.append(encode(error_response(None, INVALID_REQUEST, reason)))
            return
        batch = Batch()
        out = Out(batch)
        for item in items:
            self._client_one(item, out)
        batch.responses.extend(out.replies)
        if out.forwarded:
            effects.to_server.append(encode(out.forwarded))
        if not batch.waiting and batch.responses:
            effects.to_client.append(encode(batch.responses))
        effects.to_client.extend(encode(done) for done in out.completed)

    def _client_one(self, value: Any, out: Out) -> None:
        try:
            message = classify(value)
            imitated = imitated_method(message.method) if message.method is not None else None
            if imitated is not None:
                raise refusals.imitation_refusal(message, imitated)
            collision = case_collision(value)
            if collision is not None:
                raise refusals.key_collision_refusal(message, collision)
            if message.kind is Kind.REQUEST:
                self._client_request(message, out)
            elif message.kind is Kind.NOTIFICATION:
                self._client_notification(message, out)
            else:
                self._client_response(message, out)
        except ProtocolError as exc:
            out.replies.append(error_response(exc.request_id, exc.code, exc.message))
        except Exception as exc:
            # Our fault, not the peer's: answer the request (never forward it) and keep the session alive.
            self._log.log("error", "client_message_failed", error=f"{type(exc).__name__}: {exc}")
            request_id = value.get("id") if isinstance(value, dict) and "method" in value else None
            if request_id is not None:
                out.replies.append(error_response(request_id, INTERNAL_ERROR, "Lilith: internal error"))

    def _client_request(self, message: Message, out: Out) -> None:
        key = message.id_key
        if key is None or key in self._requests:
            raise InvalidRequest("Invalid Request: a request with this id is already in flight", request_id=message.id)
        if key in self._retired:
            raise InvalidRequest(
                "Invalid Request: this id belongs to a cancelled request whose answer may still arrive; use a new id",
                request_id=message.id,
            )
        if len(self._requests) >= self.limits.max_in_flight:
            refused = self._records.decision(message, refusals.too_many_in_flight(self.limits.max_in_flight))
            out.replies.append(denial(message.id, refused))
            return
        method = message.method or ""
        if self._setup.initialize is None and method != "initialize":
            self._learn_version_from_meta(message)
        task_tool = None
        if method == "tasks/result":
            task_tool = self._tasks.tool_of(message)
            if task_tool is None:  # refused whatever the policy's mode (lilith.core.refusals)
                refused = self._records.decision(message, refusals.UNKNOWN_TASK)
                out.replies.append(refusals.unknown_task_refusal(message.id, refused))
                return
        decision = self._gate.check(message)
        if decision is not None:
            decision = self._records.decision(message, decision)
            if not decision.allowed:
                out.replies.append(denial(message.id, decision))
                return
        self._gate.forwarded(message)
        if method == "initialize":
            self._setup.handshake(message.body)
        pending = self._requests[key] = Pending(method, message.id, out.batch)
        if method == "tools/call":
            params = message.body.get("params")
            name = params.get("name") if isinstance(params, dict) else None
            pending.tool = name if isinstance(name, str) else None
        elif task_tool is not None:
            pending.tool = task_tool  # its answer is that tool's result: the same checks and record
        elif method == "tasks/get":
            pending.tool = self._tasks.tool_of(message)  # a completed task's inlined result is that tool's
        elif method in RESTORED_METHODS:
            params = message.body.get("params")
            pending.params = copy.deepcopy(params) if isinstance(params, dict) else {}
        if self._timeouts:
            self._deadlines.start(pending, message, blocks=task_tool is not None)
        if out.batch is not None:
            out.batch.waiting.add(key)
        out.forwarded.append(message.body)

    def _learn_version_from_meta(self, message: Message) -> None:
        """Without a handshake (the 2026-07-28 era), each request names its protocol version in ``_meta``."""
        params = message.body.get("params")
        meta = params.get("_meta") if isinstance(params, dict) else None
        version = meta.get(META_VERSION_KEY) if isinstance(meta, dict) else None
        if isinstance(version, str):
            self.protocol_version = version

    def _client_notification(self, message: Message, out: Out) -> None:
        method = message.method or ""
        if method == "notifications/cancelled":
            key = cancelled_key(message)
            pending = self._requests.take(key) if key is not None else None
            if key is not None and pending is not None:
                self._retired.retire(key)
                completed = pending.batch.cancelled(key) if pending.batch is not None else None
                if completed is not None:
                    out.completed.append(completed)
        elif method == "notifications/initialized":
            self._setup.handshake_done(message.body)
        elif not method.startswith("notifications/") and method in refusals.POLICED_METHODS:
            # A policed request sent without an id (e.g. tools/call): never forwarded, whatever the policy says.
            self._log.log("warning", "client_request_without_id_dropped", method=method)
            self._records.decision(message, refusals.request_without_id(method))
            return
        out.forwarded.append(message.body)

    def _client_response(self, message: Message, out: Out) -> None:
        body = self._server_requests.answer(message)  # None: to no request of this server (logged)
        if body is None:
            return
        self._deadlines.server_request_ended()
        out.forwarded.append(body)

    # ------------------------------------------------------------------ server -> client
    def from_server(self, line: bytes | OversizedLine) -> Effects:
        effects = Effects()
        if isinstance(line, OversizedLine):  # never shown to the client (long_lines)
            if not line.early:
                self._log.log("error", "server_line_too_long", limit=line.limit)
            long_lines.settle_server_line(line, effects, self._requests)
            return effects
        self._line_size = len(line)
        self._line_plain = plain_line(line)
        try:
            value = decode(line, self.limits.max_depth)
        except ProtocolError as exc:
            self._log.log("warning", "server_sent_invalid_json", error=exc.message, preview=preview(line))
            long_lines.settle_unreadable_answer(line, effects, self._requests)
            return effects
        if not self._deadlines.server_spoke:
            self._deadlines.server_came_up()
        if isinstance(value, list):
            if batch_refusal(value, self._negotiated, self.limits.max_batch) is not None:
                self._log.log("warning", "server_batch_refused", size=len(value))
                return effects
            forwarded: list[dict[str, Any]] = []
            for item in value:
                self._server_one(item, effects, forwarded)
            if forwarded:
                effects.to_client.append(encode(forwarded))
            return effects
        direct: list[dict[str, Any]] = []
        self._server_one(value, effects, direct)
        effects.to_client.extend(encode(body) for body in direct)
        return effects

    def _server_one(self, value: Any, effects: Effects, forwarded: list[dict[str, Any]]) -> None:
        try:
            message = classify(value)
        except ProtocolError as exc:
            self._log.log("warning", "server_sent_invalid_message", error=exc.message)
            pending = self._requests.take(id_key(exc.request_id)) if exc.request_id is not None else None
            if pending is not None and not pending.internal:
                body = error_response(
                    pending.request_id, INTERNAL_ERROR, "Lilith: the MCP server sent an invalid response"
                )
                deliver(pending, body, effects, forwarded)
            return
        try:
            if message.kind is Kind.RESPONSE:
                self._server_response(message, effects, forwarded)
            elif message.kind is Kind.REQUEST:
                self._server_request(message, effects, forwarded)
            else:
                if self._view.keys_collide(message):
                    return  # dropped: the client might read the other key than the one checked
                cancelled_as: Any = None  # the id the client knows a request the server cancels by
                if message.method == "notifications/cancelled":
                    cancelled_as = self._server_cancelled(message)
                    if cancelled_as is _NOT_FORWARDED:
                        return
                elif message.method == "notifications/progress":
                    self._deadlines.progressed(message)
                shown = self._view.request_or_notification(message, self._line_plain)
                if cancelled_as is not None:
                    shown = {**shown, "params": {**shown["params"], "requestId": cancelled_as}}
                if message.method == "notifications/tasks" and not self._task_answers.pushed(
                    shown.get("params"), self._line_size
                ):
                    return
                forwarded.append(shown)
        except Exception as exc:  # never forwarded unchecked: a notification that fails its check is dropped
            self._log.log("error", "server_message_failed", error=f"{type(exc).__name__}: {exc}")

    def _server_cancelled(self, message: Message) -> Any:
        """The server gave up on a request of its own: the id to name it by toward the client when that
        differs from the server's (a renamed request), None when it does not, ``_NOT_FORWARDED`` when the
        client knows the id as another request (an orphan, or one renamed to it): never cancel that one."""
        key = cancelled_key(message)
        if key is None:
            return None
        client_id = self._server_requests.withdrawn(key)
        if client_id is None:
            if self._server_requests.known_to_client(key):
                self._log.log("warning", "server_cancel_unknown_id_dropped", id=key[1])
                return _NOT_FORWARDED
            return None
        self._deadlines.server_request_ended()
        return client_id if id_key(client_id) != key else None

    def _server_response(self, message: Message, effects: Effects, forwarded: list[dict[str, Any]]) -> None:
        key = message.id_key
        pending = self._requests.take(key) if key is not None else None
        if pending is None:
            if key is not None and self._retired.pop(key, None) is not None:
                self._log.log("info", "late_answer_dropped", id=message.id)  # to a cancelled or timed-out request
                return
            self._log.log("warning", "server_response_unknown_id", id=message.id)
            return
        if self._view.keys_collide(message):
            if pending.internal:
                self._log.log("error", "handshake_replay_failed", error="keys that differ only in case")
            else:
                body = error_response(
                    pending.request_id, INTERNAL_ERROR, "Lilith: the MCP server sent a malformed result"
                )
                deliver(pending, body, effects, forwarded)
            return
        records = self._records
        if pending.method == "initialize":
            result = message.body.get("result")
            version = result.get("protocolVersion") if isinstance(result, dict) else None
            if isinstance(version, str):
                self.protocol_version = self._negotiated = version
            if not pending.internal:
                records.handshake(self._setup.client_params(), result)
                self._setup.server_answered(result)
        if pending.internal:
            self._restorer.answered(pending, message.body, effects)
            return
        if pending.params is not None and "result" in message.body:
            self._setup.took(pending)
        body = self._view.response(pending, message.body, self._line_plain)
        if pending.method == "tasks/get":
            deliver(pending, self._task_answers.polled(pending, body, self._line_size), effects, forwarded)
            return
        tool = pending.tool
        if tool is not None:
            body = records.taints_from_answer(pending, tool, body)
        if records.summarise is not None and pending.method in RESULT_RECORDED:
            body = records.result(pending, body, self._line_size)
        if tool is not None and pending.method == "tools/call":
            result = body.get("result")  # as the client gets it: checked and recorded, or an error instead
            if type(result) is dict and ("task" in result or result.get("resultType") == "task"):
                self._tasks.created(tool, result)
        deliver(pending, body, effects, forwarded)

    def _server_request(self, message: Message, effects: Effects, forwarded: list[dict[str, Any]]) -> None:
        if self._view.keys_collide(message):
            reason = "Invalid Request: keys that differ only in case"
            effects.to_server.append(encode(error_response(message.id, INVALID_REQUEST, reason)))
            return
        refused = self._server_requests.refusal(message, self.protocol_version, self._setup)
        if refused is not None:
            effects.to_server.append(encode(refused))
            return
        # May raise: then the request is dropped, never forwarded unchecked (and never waited for).
        shown = self._view.request_or_notification(message, self._line_plain)
        request, client_id = self._server_requests.add(message)
        if client_id is not request.request_id:  # renamed: the client may still answer another by this id
            shown = {**shown, "id": client_id}
        if self._timeouts:
            self._deadlines.hold(request)
        forwarded.append(shown)

    # ------------------------------------------------------------------ lifecycle
    def server_lost(self, reason: str) -> Effects:
        """The server is gone: answer every request still in flight, so no client waits forever; and cancel
        toward the client every request the server had sent it (the client must not answer it to another
        process: see ``ServerRequests``)."""
        self.server_epoch += 1
        effects = Effects()
        direct: list[dict[str, Any]] = []
        pending_requests = list(self._requests.values())
        self._requests.clear()
        orphaned = self._server_requests.orphan_all()
        self._deadlines.server_lost()
        self._retired.clear()  # a new server process cannot answer the old one's requests
        self._tasks.clear()  # ... nor hold the old one's tasks
        for pending in pending_requests:
            if pending.internal:
                continue
            body = error_response(pending.request_id, SERVER_UNAVAILABLE, f"Lilith: the MCP server {reason}")
            deliver(pending, body, effects, direct)
        effects.to_client.extend(encode(body) for body in direct)
        # Legacy MCP lets either side cancel its own requests; Lilith speaks for the server that is gone.
        for client_id in orphaned:
            cancel = {"requestId": client_id, "reason": f"Lilith: the MCP server {reason}"}
            effects.to_client.append(encode({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": cancel}))
        return effects

    def client_closed(self) -> None:
        """The client closed its input: it can answer none of the server's requests any more. They stop holding
        the client requests' clocks (those may still be answered: the client may still read); a late answer
        from it could only be to an orphan."""
        if self._server_requests:
            self._server_requests.orphan_all()
            self._deadlines.server_request_ended()

    def handshake_replay(self) -> Effects:
        """Lines that bring a restarted server to where the client believes it is: its initialize and
        initialized now; once the server has answered, the logging level and subscriptions (``restore``)."""
        return self._restorer.handshake_replay()

    # ------------------------------------------------------------------ timeouts
    def next_deadline(self) -> float | None:
        """When ``expire`` next has something to do (monotonic seconds), or None."""
        return self._deadlines.next_deadline()

    def expire(self) -> Expired:
        """Answer every client request whose deadline has passed, and tell the server to stop working on it."""
        return self._deadlines.expire()
