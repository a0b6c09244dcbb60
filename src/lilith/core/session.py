"""One MCP session as seen from the middle (sans-IO).

Lines from either peer go in; what to send to the server and to the client comes out as ``Effects``.
The session tracks in-flight requests per direction, the negotiated protocol version, the handshake to
replay after a server restart, and JSON-RPC batches. It never raises for a peer's input: every failure
becomes a JSON-RPC error for the message that caused it (or a logged drop, for the server side), and an
unexpected exception never lets a message through.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lilith.core.codec import decode, encode
from lilith.core.framing import OversizedLine
from lilith.core.gate import Gate
from lilith.core.message import (
    IdKey,
    Kind,
    Message,
    case_collision,
    classify,
    error_response,
    id_key,
    imitated_method,
    is_valid_id,
)
from lilith.core.ports import AuditSink, EventLog
from lilith.errors import (
    INTERNAL_ERROR,
    INVALID_PARAMS,
    INVALID_REQUEST,
    METHOD_NOT_FOUND,
    PARSE_ERROR,
    POLICY_DENIED,
    REQUEST_TIMEOUT,
    SERVER_UNAVAILABLE,
    AuditWriteError,
    InvalidRequest,
    ProtocolError,
)
from lilith.policy.decision import Decision

BATCH_VERSION = "2025-03-26"
INTERNAL_ID_PREFIX = "lilith-internal-"
_NEVER = float("inf")
_RESPONSE_KEYS = frozenset({"jsonrpc", "id", "result", "error"})
_REQUEST_KEYS = frozenset({"jsonrpc", "id", "method", "params"})
MODERN_VERSION = "2026-07-28"  # from this version on, servers may not send requests to the client
META_VERSION_KEY = "io.modelcontextprotocol/protocolVersion"
# Server-to-client requests and the client capability each needs (declared in its initialize).
_CAPABILITY_OF = {"sampling/createMessage": "sampling", "elicitation/create": "elicitation", "roots/list": "roots"}
# Ids of cancelled or timed-out requests, whose late answers may still come: not reusable meanwhile.
_MAX_RETIRED_IDS = 10_000
# Requests the policy decides on: sent as notifications they are dropped, never forwarded unchecked.
POLICED_METHODS = frozenset({"tools/call", "resources/read", "resources/subscribe", "prompts/get"})
# Server-to-client requests waiting for the client's answer; beyond this a server's request is refused.
MAX_SERVER_REQUESTS = 4096
# Answers worth a ``result`` audit record: those to requests that had a policy decision, and the results of
# tool calls that ran as tasks (2025-11-25 ``tasks``: a tools/call answers with a task, tasks/result with the
# tool's result).
_RESULT_RECORDED = frozenset({"tools/call", "resources/read", "prompts/get", "tasks/result"})
# Tasks created by this session's tool calls that are remembered (the oldest is forgotten first).
MAX_TASKS = 10_000
RULE_UNKNOWN_TASK = "tasks.unknown_task"
# Requests whose effect lives in the server process, given again to a restarted server (see ``_restore``).
_RESTORED_METHODS = frozenset({"logging/setLevel", "resources/subscribe", "resources/unsubscribe"})
MAX_SUBSCRIPTIONS = 4096  # resource subscriptions remembered for a restart (the oldest is forgotten first)
Summariser = Callable[[dict[str, Any], int], dict[str, Any]]


def _no_clock() -> float:
    return 0.0


@dataclass(frozen=True, slots=True)
class Limits:
    max_client_line_bytes: int = 8 * 1024 * 1024
    max_server_line_bytes: int = 64 * 1024 * 1024
    max_depth: int = 64
    max_batch: int = 64
    # Seconds a forwarded client request may wait for the server's answer; progress notifications push the
    # deadline out again, never past ``request_timeout_max`` after the request was sent. A request sent
    # before the server has said anything (its first, usually ``initialize``) gets ``startup_timeout``.
    # ``tasks/result`` waits until its task ends, by design: it gets ``request_timeout_max``. While a server
    # request waits for the client's answer (an elicitation waits on a human), only the maximum runs.
    request_timeout: float = 60.0
    request_timeout_max: float = 600.0
    startup_timeout: float = 30.0


class Effects:
    """What the shell must do, in order: send these lines to the server, then these to the client.
    (A plain slotted class: one is built per message, and dataclass factories cost more.)"""

    __slots__ = ("to_client", "to_server")

    def __init__(self, to_server: list[bytes] | None = None, to_client: list[bytes] | None = None) -> None:
        self.to_server: list[bytes] = [] if to_server is None else to_server
        self.to_client: list[bytes] = [] if to_client is None else to_client


@dataclass(slots=True)
class _Batch:
    waiting: set[IdKey]
    responses: list[dict[str, Any]]


class _Pending:
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
        "tool",
    )

    def __init__(self, method: str, request_id: Any, batch: _Batch | None = None, internal: bool = False) -> None:
        self.method = method
        self.request_id = request_id
        self.batch = batch
        self.internal = internal
        # Set for requests the client sends to the server (the ones Lilith times out); for the server's
        # requests to the client, when it was sent and until when it holds client requests' clocks:
        self.sent = 0.0
        self.deadline = _NEVER
        self.startup = False
        self.progress: IdKey | None = None
        self.tool: str | None = None
        self.params: dict[str, Any] | None = None  # kept for the few requests a restart restores


class Expired:
    """What ``Session.expire`` found: lines to send, and whether the server failed to start in time."""

    __slots__ = ("effects", "startup_failed")

    def __init__(self) -> None:
        self.effects = Effects()
        self.startup_failed = False


class _Out:
    """Where one message's outputs go: straight out, or into a batch being assembled."""

    __slots__ = ("batch", "completed", "forwarded", "replies")

    def __init__(self, batch: _Batch | None) -> None:
        self.batch = batch
        self.forwarded: list[dict[str, Any]] = []
        self.replies: list[dict[str, Any]] = []
        self.completed: list[list[dict[str, Any]]] = []  # earlier batches a cancellation completed


class Session:
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
        self.limits = limits or Limits()
        self._clock = clock or _no_clock
        self._summarise = summarise
        self._line_size = 0  # bytes of the server line being handled (a result record's size)
        self._line_plain = False  # ... and whether it holds nothing a sanitiser would strip
        self._timeouts = clock is not None
        self._gate = gate
        self._audit = audit
        self._log = log
        self._from_client: dict[IdKey, _Pending] = {}
        self._from_server: dict[IdKey, _Pending] = {}
        self.protocol_version: str | None = None
        self._negotiated: str | None = None  # the version an initialize result settled on (never a _meta claim)
        self._initialize: dict[str, Any] | None = None
        self._initialized: dict[str, Any] | None = None
        self._internal_seq = 0
        self._server_spoke = False  # has the current server process sent anything yet?
        self._arrived = 0.0  # when the client line being handled arrived (for the decision's latency)
        self._decisions = 0
        self._denied = 0
        self._progress: dict[IdKey, IdKey] = {}  # progress token -> request id, for deadline extension
        self._retired: dict[IdKey, float] = {}  # id -> until when it stays retired (insertion = time order)
        # taskId -> the tool whose call created it (None: created twice, by different tools; insertion order)
        self._tasks: dict[str, str | None] = {}
        self._held = False  # does a server request wait on the client, holding client requests' clocks?
        self._log_level: dict[str, Any] | None = None  # params of the last logging/setLevel the server took
        self._subscriptions: dict[str, dict[str, Any]] = {}  # uri -> params of its resources/subscribe

    # ------------------------------------------------------------------ client -> server
    def from_client(self, line: bytes | OversizedLine) -> Effects:
        self._arrived = self._clock()
        effects = Effects()
        if isinstance(line, OversizedLine):
            self._log.log("warning", "client_line_too_long", limit=line.limit)
            effects.to_client.append(
                encode(error_response(None, INVALID_REQUEST, f"Invalid Request: line exceeds {line.limit} bytes"))
            )
            return effects
        try:
            value = decode(line, self.limits.max_depth)
        except ProtocolError as exc:
            effects.to_client.append(encode(error_response(None, PARSE_ERROR, exc.message)))
            return effects
        if isinstance(value, list):
            self._client_batch(value, effects)
            return effects
        out = _Out(None)
        self._client_one(value, out)
        effects.to_server.extend(encode(body) for body in out.forwarded)
        effects.to_client.extend(encode(body) for body in out.replies)
        effects.to_client.extend(encode(batch) for batch in out.completed)
        return effects

    def _client_batch(self, items: list[Any], effects: Effects) -> None:
        reason = self._batch_refusal(items)
        if reason is not None:
            effects.to_client.append(encode(error_response(None, INVALID_REQUEST, reason)))
            return
        batch = _Batch(set(), [])
        out = _Out(batch)
        for item in items:
            self._client_one(item, out)
        batch.responses.extend(out.replies)
        if out.forwarded:
            effects.to_server.append(encode(out.forwarded))
        if not batch.waiting and batch.responses:
            effects.to_client.append(encode(batch.responses))
        effects.to_client.extend(encode(done) for done in out.completed)

    def _batch_refusal(self, items: list[Any]) -> str | None:
        if self._negotiated != BATCH_VERSION:
            return (
                f"Invalid Request: JSON-RPC batches are only allowed once protocol version {BATCH_VERSION} "
                "was negotiated by initialize"
            )
        if not items:
            return "Invalid Request: empty batch"
        if len(items) > self.limits.max_batch:
            return f"Invalid Request: batch of {len(items)} exceeds the limit of {self.limits.max_batch}"
        return None

    def _client_one(self, value: Any, out: _Out) -> None:
        try:
            message = classify(value)
            imitated = imitated_method(message.method) if message.method is not None else None
            if imitated is not None:
                raise InvalidRequest(
                    f"Invalid Request: method {message.method!r} imitates {imitated!r}",
                    request_id=message.id if message.kind is Kind.REQUEST else None,
                )
            collision = case_collision(value)
            if collision is not None:
                raise InvalidRequest(
                    f"Invalid Request: keys {collision[0]!r} and {collision[1]!r} differ only in case",
                    request_id=message.id if message.kind is Kind.REQUEST else None,
                )
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

    def _client_request(self, message: Message, out: _Out) -> None:
        key = message.id_key
        if key is None or key in self._from_client:
            raise InvalidRequest("Invalid Request: a request with this id is already in flight", request_id=message.id)
        if key in self._retired:
            raise InvalidRequest(
                "Invalid Request: this id belongs to a cancelled request whose answer may still arrive; use a new id",
                request_id=message.id,
            )
        method = message.method or ""
        if self._initialize is None and method != "initialize":
            self._learn_version_from_meta(message)
        task_tool = None
        if method == "tasks/result":
            task_tool = self._task_tool(message)
            if task_tool is None:
                self._refuse_unknown_task(message, out)
                return
        decision = self._gate.check(message)
        if decision is not None:
            decision = self._audited(message, decision)
            if not decision.allowed:
                out.replies.append(denial(message.id, decision))
                return
        self._gate.forwarded(message)
        if method == "initialize":
            self._initialize = copy.deepcopy(message.body)
        pending = self._from_client[key] = _Pending(method, message.id, out.batch)
        if method == "tools/call":
            params = message.body.get("params")
            name = params.get("name") if isinstance(params, dict) else None
            pending.tool = name if isinstance(name, str) else None
        elif task_tool is not None:
            pending.tool = task_tool  # its answer is that tool's result: the same checks and record
        elif method in _RESTORED_METHODS:
            params = message.body.get("params")
            pending.params = copy.deepcopy(params) if isinstance(params, dict) else {}
        if self._timeouts:
            self._start_clock(pending, message, blocks=task_tool is not None)
        if out.batch is not None:
            out.batch.waiting.add(key)
        out.forwarded.append(message.body)

    def _task_tool(self, message: Message) -> str | None:
        """The tool whose call created the task a tasks/result asks for, if this session saw it do so."""
        params = message.body.get("params")
        task_id = params.get("taskId") if isinstance(params, dict) else None
        return self._tasks.get(task_id) if isinstance(task_id, str) else None

    def _refuse_unknown_task(self, message: Message, out: _Out) -> None:
        """A task this session did not see a tool call create (or saw created twice): its result would reach
        the client without the answer checks of its tool (``result_matches``, the result record). The
        specification answers a task unknown to the receiver with -32602; so does Lilith, for this session."""
        reason = "tasks/result names a task that no tools/call of this session created"
        decision = self._audited(message, Decision(False, RULE_UNKNOWN_TASK, reason))
        data = {"rule": decision.rule, "reason": decision.reason}
        out.replies.append(error_response(message.id, INVALID_PARAMS, f"Lilith: {decision.reason}", data))

    def _note_task(self, tool: str, result: dict[str, Any]) -> None:
        """A tool call answered with a task (CreateTaskResult): remember which tool its result will be of."""
        task = result.get("task")
        task_id = task.get("taskId") if isinstance(task, dict) else None
        if not isinstance(task_id, str):
            return
        tasks = self._tasks
        known = tasks.pop(task_id, tool)
        tasks[task_id] = tool if known == tool else None  # one id for two tools: neither set of checks is sure
        if len(tasks) > MAX_TASKS:
            del tasks[next(iter(tasks))]

    def _learn_version_from_meta(self, message: Message) -> None:
        """Without a handshake (the 2026-07-28 era), each request names its protocol version in ``_meta``."""
        params = message.body.get("params")
        meta = params.get("_meta") if isinstance(params, dict) else None
        version = meta.get(META_VERSION_KEY) if isinstance(meta, dict) else None
        if isinstance(version, str):
            self.protocol_version = version

    def _retire(self, key: IdKey) -> None:
        """A cancelled or timed-out request: the server may still answer it, so its id must not be reused
        until that answer came or could no longer come (``request_timeout_max``)."""
        retired = self._retired
        retired.pop(key, None)
        retired[key] = self._clock() + self.limits.request_timeout_max if self._timeouts else _NEVER
        while len(retired) > _MAX_RETIRED_IDS:
            del retired[next(iter(retired))]

    def _server_came_up(self) -> None:
        """The server's first words: it started. Requests that waited for that now wait as any request does
        (``request_timeout`` from when they were sent, never sooner than they were promised), and their
        timing out no longer means the server failed to start."""
        self._server_spoke = True
        timeout = self.limits.request_timeout
        for pending in self._from_client.values():
            if pending.startup:
                pending.startup = False
                pending.deadline = max(pending.deadline, pending.sent + timeout)

    def _start_clock(self, pending: _Pending, message: Message, *, blocks: bool = False) -> None:
        """``blocks``: a tasks/result, which the specification makes wait until its task ends, and progress
        is optional: an idle timeout would cut off quiet, correct tasks, so only the hard maximum applies.
        (Its task exists, so the server has spoken: never a start-up request.)"""
        limits = self.limits
        now = pending.sent = self._clock()
        pending.startup = not self._server_spoke
        if pending.startup:
            pending.deadline = now + limits.startup_timeout
        else:
            pending.deadline = now + (limits.request_timeout_max if blocks else limits.request_timeout)
        params = message.body.get("params")
        if isinstance(params, dict):
            meta = params.get("_meta")
            token = meta.get("progressToken") if isinstance(meta, dict) else None
            if isinstance(token, str | int) and not isinstance(token, bool):
                pending.progress = id_key(token)
                self._progress[pending.progress] = id_key(message.id)

    def _audited(self, message: Message, decision: Decision) -> Decision:
        params = message.body.get("params")
        params = params if isinstance(params, dict) else {}
        record = {
            "event": "decision",
            "decision": "would-deny" if decision.would_deny else "allow" if decision.allowed else "deny",
            "method": message.method,
            "tool": params.get("name"),
            "request_id": message.id,
            "rule": decision.rule,
            "reason": decision.reason,
        }
        # Logged, never dropped; the audit sink redacts them before they reach the disk.
        if message.method == "tools/call":
            record["arguments"] = params.get("arguments", {})
        if "uri" in params:
            record["uri"] = params["uri"]
        taints = self._gate.taints(message)
        if taints is not None:
            before, after = taints
            record["taints_before"] = sorted(before)
            record["taints_after"] = sorted(after) if decision.allowed else record["taints_before"]
        if self._timeouts:
            record["latency_us"] = int((self._clock() - self._arrived) * 1_000_000)
        try:
            self._audit.record(record)
        except AuditWriteError as exc:
            self._log.log("error", "audit_write_failed", error=str(exc))
            self._decisions += 1
            self._denied += 1
            return Decision(False, "audit-failure", f"the audit log could not be written: {exc}")
        self._decisions += 1
        if not decision.allowed:
            self._denied += 1
        return decision

    def _client_notification(self, message: Message, out: _Out) -> None:
        method = message.method or ""
        if method == "notifications/cancelled":
            completed = self._forget(self._from_client, message)
            if completed is not None:
                out.completed.append(completed)
        elif method == "notifications/initialized":
            self._initialized = copy.deepcopy(message.body)
        elif not method.startswith("notifications/") and self._policed(message):
            # A policed request sent without an id (e.g. tools/call) cannot be answered, and a server that
            # acts on the method alone would run it unchecked: never forwarded, whatever the policy says.
            self._log.log("warning", "client_request_without_id_dropped", method=method)
            denied = Decision(False, "protocol.request-without-id", f"{method} sent as a notification (no id)")
            self._audited(message, denied)
            return
        out.forwarded.append(message.body)

    @staticmethod
    def _policed(message: Message) -> bool:
        """Is this a method the policy decides on? (A fixed set: asking the chain would count the call.)"""
        return message.method in POLICED_METHODS

    def _client_response(self, message: Message, out: _Out) -> None:
        key = message.id_key
        if key is None or self._from_server.pop(key, None) is None:
            self._log.log("warning", "client_response_unknown_id", id=message.id)
            return
        if self._held:
            self._release(self._clock())
        out.forwarded.append(message.body)

    # ------------------------------------------------------------------ server -> client
    def from_server(self, line: bytes | OversizedLine) -> Effects:
        effects = Effects()
        if isinstance(line, OversizedLine):
            self._log.log("error", "server_line_too_long", limit=line.limit)
            return effects
        self._line_size = len(line)
        self._line_plain = plain_line(line)
        try:
            value = decode(line, self.limits.max_depth)
        except ProtocolError as exc:
            self._log.log("warning", "server_sent_invalid_json", error=exc.message, preview=_preview(line))
            return effects
        if not self._server_spoke:
            self._server_came_up()
        if isinstance(value, list):
            if self._negotiated != BATCH_VERSION or not value or len(value) > self.limits.max_batch:
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
            pending = self._answered(id_key(exc.request_id)) if exc.request_id is not None else None
            if pending is not None and not pending.internal:
                body = error_response(
                    pending.request_id, INTERNAL_ERROR, "Lilith: the MCP server sent an invalid response"
                )
                self._deliver(pending, body, effects, forwarded)
            return
        try:
            if message.kind is Kind.RESPONSE:
                self._server_response(message, effects, forwarded)
            elif message.kind is Kind.REQUEST:
                self._server_request(message, effects, forwarded)
            else:
                if self._keys_collide(message):
                    return  # dropped: the client might read the other key than the one checked
                if message.method == "notifications/cancelled":
                    self._forget(self._from_server, message)
                elif message.method == "notifications/progress":
                    self._progressed(message)
                forwarded.append(self._shown_params(message))
        except Exception as exc:  # never forwarded unchecked: a notification that fails its check is dropped
            self._log.log("error", "server_message_failed", error=f"{type(exc).__name__}: {exc}")

    def _server_response(self, message: Message, effects: Effects, forwarded: list[dict[str, Any]]) -> None:
        key = message.id_key
        pending = self._answered(key) if key is not None else None
        if pending is None:
            if key is not None and self._retired.pop(key, None) is not None:
                self._log.log("info", "late_answer_dropped", id=message.id)  # to a cancelled or timed-out request
                return
            self._log.log("warning", "server_response_unknown_id", id=message.id)
            return
        if self._keys_collide(message):
            if pending.internal:
                self._log.log("error", "handshake_replay_failed", error="keys that differ only in case")
            else:
                body = error_response(
                    pending.request_id, INTERNAL_ERROR, "Lilith: the MCP server sent a malformed result"
                )
                self._deliver(pending, body, effects, forwarded)
            return
        if pending.method == "initialize":
            result = message.body.get("result")
            version = result.get("protocolVersion") if isinstance(result, dict) else None
            if isinstance(version, str):
                self.protocol_version = self._negotiated = version
            if not pending.internal:
                self._record_initialize(result)
        if pending.internal:
            self._replay_answered(pending, message.body, effects)
            return
        if pending.params is not None and "result" in message.body:
            self._remember(pending)
        body = self._filtered(pending, message.body)
        tool = pending.tool
        if tool is not None:
            body = self._answered_call(pending, tool, body)
        if self._summarise is not None and pending.method in _RESULT_RECORDED:
            body = self._recorded_result(pending, body)
        if tool is not None and pending.method == "tools/call":
            result = body.get("result")  # as the client gets it: checked and recorded, or an error instead
            if type(result) is dict and "task" in result:
                self._note_task(tool, result)
        self._deliver(pending, body, effects, forwarded)

    def _answered_call(self, pending: _Pending, tool: str, body: dict[str, Any]) -> dict[str, Any]:
        """Session state that depends on what a tool returned (taints from ``result_matches`` rules)."""
        try:
            changed = self._gate.answered(tool, body)
            if changed is not None:
                record = {"event": "taints_changed", "tool": tool, "request_id": pending.request_id}
                record.update(cause="result_matches", taints_before=sorted(changed[0]), taints_after=sorted(changed[1]))
                self._audit.record(record)
                self._gate.commit_taints(changed[1])  # only once recorded
        except Exception as exc:  # a failed check or an unwritten record: the client never gets the answer
            self._log.log("error", "answer_check_failed", tool=tool, error=f"{type(exc).__name__}: {exc}")
            return error_response(pending.request_id, INTERNAL_ERROR, "Lilith: the result could not be checked")
        return body

    def _recorded_result(self, pending: _Pending, body: dict[str, Any]) -> dict[str, Any]:
        """Write the answer's ``result`` record before the client sees it; if that fails, withhold it."""
        summarise = self._summarise
        if summarise is None:  # pragma: no cover - checked by the caller
            return body
        try:
            record = {
                "event": "result",
                "method": pending.method,
                "tool": pending.tool,
                "request_id": pending.request_id,
            }
            record.update(summarise(body, self._line_size))
            if self._timeouts:
                record["latency_ms"] = round((self._clock() - pending.sent) * 1000, 3)
            self._audit.record(record)
        except Exception as exc:  # whatever failed, the client gets an answer, never an unrecorded result
            self._log.log("error", "audit_write_failed", error=f"{type(exc).__name__}: {exc}")
            return error_response(
                pending.request_id, INTERNAL_ERROR, "Lilith: the audit log could not be written; the result is withheld"
            )
        return body

    def _shown_extras(self, method: str, body: dict[str, Any], known: frozenset[str]) -> dict[str, Any]:
        """Fields of a server message beyond the JSON-RPC ones (extensions pass) as the client may see them."""
        if len(body) <= len(known) and known.issuperset(body):
            return body
        extras = {key: value for key, value in body.items() if key not in known}
        shown = self._gate.filter_server_message(method, extras, plain=self._line_plain)
        return body if shown is extras else {**{k: v for k, v in body.items() if k in known}, **shown}

    def _shown_params(self, message: Message) -> dict[str, Any]:
        """A server notification or request as the client may see it (its params filtered, e.g. sanitised)."""
        body = self._shown_extras(message.method or "", message.body, _REQUEST_KEYS)
        params = body.get("params")
        if params is None:
            return body
        shown = self._gate.filter_server_message(message.method or "", params, plain=self._line_plain)
        return body if shown is params else {**body, "params": shown}

    def _filtered(self, pending: _Pending, body: dict[str, Any]) -> dict[str, Any]:
        try:
            body = self._shown_extras(pending.method, body, _RESPONSE_KEYS)
        except Exception as exc:
            self._log.log("error", "result_filter_failed", method=pending.method, error=f"{type(exc).__name__}: {exc}")
            return error_response(pending.request_id, INTERNAL_ERROR, "Lilith: the result could not be checked")
        if "result" not in body:
            return self._filtered_error(pending, body)
        result = body["result"]
        if not isinstance(result, dict):  # MCP results are objects: anything else would skip every filter
            self._log.log("warning", "server_result_not_an_object", method=pending.method)
            return error_response(pending.request_id, INTERNAL_ERROR, "Lilith: the MCP server sent a malformed result")
        try:
            shown = self._gate.filter_result(pending.method, result, plain=self._line_plain)
        except Exception as exc:
            # Never pass an unfiltered result on: the client gets an error instead.
            self._log.log("error", "result_filter_failed", method=pending.method, error=f"{type(exc).__name__}: {exc}")
            return error_response(pending.request_id, INTERNAL_ERROR, "Lilith: the result could not be checked")
        return body if shown is result else {**body, "result": shown}

    def _filtered_error(self, pending: _Pending, body: dict[str, Any]) -> dict[str, Any]:
        error = body.get("error")
        if error is None:
            return body
        try:
            shown = self._gate.filter_server_message(pending.method, error, plain=self._line_plain)
        except Exception as exc:
            self._log.log("error", "result_filter_failed", method=pending.method, error=f"{type(exc).__name__}: {exc}")
            return error_response(pending.request_id, INTERNAL_ERROR, "Lilith: the result could not be checked")
        return body if shown is error else {**body, "error": shown}

    def _keys_collide(self, message: Message) -> bool:
        """Does a server message hold two keys that differ only in case? Sanitising and pin checks read one of
        them; a client that matches keys case-insensitively (Go's encoding/json) may read the other."""
        collision = case_collision(message.body)
        if collision is None:
            return False
        self._log.log("warning", "server_keys_collide", method=message.method, keys=list(collision))
        return True

    def _server_request(self, message: Message, effects: Effects, forwarded: list[dict[str, Any]]) -> None:
        if self._keys_collide(message):
            reason = "Invalid Request: keys that differ only in case"
            effects.to_server.append(encode(error_response(message.id, INVALID_REQUEST, reason)))
            return
        refusal = self._server_request_refusal(message.method or "")
        if refusal is not None:
            self._log.log("warning", "server_request_refused", method=message.method, reason=refusal)
            effects.to_server.append(
                encode(error_response(message.id, METHOD_NOT_FOUND, f"Method not found: {refusal}"))
            )
            return
        key = message.id_key
        if key is None or key in self._from_server:
            self._log.log("warning", "server_duplicate_request_id", id=message.id)
            effects.to_server.append(
                encode(error_response(message.id, INVALID_REQUEST, "Invalid Request: id already in flight"))
            )
            return
        if len(self._from_server) >= MAX_SERVER_REQUESTS:
            self._log.log("warning", "server_requests_over_limit", limit=MAX_SERVER_REQUESTS)
            effects.to_server.append(
                encode(error_response(message.id, INTERNAL_ERROR, "Lilith: too many requests waiting on the client"))
            )
            return
        shown = self._shown_params(message)  # may raise: then the request is dropped, never forwarded unchecked
        request = self._from_server[key] = _Pending(message.method or "", message.id)
        if self._timeouts:
            self._hold(request)
        forwarded.append(shown)

    def _server_request_refusal(self, method: str) -> str | None:
        """Why a server-to-client request must not reach the client, or None."""
        version = self.protocol_version
        if version is not None and version >= MODERN_VERSION and self._initialize is None:
            return f"servers may not send requests in protocol version {version}"
        capability = _CAPABILITY_OF.get(method)
        if capability is None:
            return None
        params = self._initialize.get("params") if self._initialize is not None else None
        declared = params.get("capabilities") if isinstance(params, dict) else None
        if not isinstance(declared, dict) or capability not in declared:
            return f"the client did not declare the {capability!r} capability"
        return None

    def _deliver(
        self, pending: _Pending, body: dict[str, Any], effects: Effects, forwarded: list[dict[str, Any]]
    ) -> None:
        batch = pending.batch
        if batch is None:
            forwarded.append(body)
            return
        batch.waiting.discard(id_key(pending.request_id))
        batch.responses.append(body)
        if not batch.waiting:
            effects.to_client.append(encode(batch.responses))

    # ------------------------------------------------------------------ lifecycle
    def server_lost(self, reason: str) -> Effects:
        """The server is gone: answer every request still in flight, so no client waits forever."""
        effects = Effects()
        direct: list[dict[str, Any]] = []
        pending_requests = list(self._from_client.values())
        self._from_client.clear()
        self._from_server.clear()
        self._progress.clear()
        self._held = False
        self._retired.clear()  # a new server process cannot answer the old one's requests
        self._tasks.clear()  # ... nor hold the old one's tasks
        self._server_spoke = False  # a restarted server must answer its first request within startup_timeout
        for pending in pending_requests:
            if pending.internal:
                continue
            body = error_response(pending.request_id, SERVER_UNAVAILABLE, f"Lilith: the MCP server {reason}")
            self._deliver(pending, body, effects, direct)
        effects.to_client.extend(encode(body) for body in direct)
        return effects

    def handshake_replay(self) -> Effects:
        """Lines that bring a restarted server to where the client believes it is: its initialize and
        initialized now; once the server has answered, the logging level and subscriptions (``_restore``)."""
        effects = Effects()
        if self._initialize is None:
            return effects
        request = dict(self._initialize)
        request["id"] = self._internal_id()
        pending = self._from_client[id_key(request["id"])] = _Pending("initialize", request["id"], internal=True)
        if self._timeouts:
            pending.sent = self._clock()
            pending.startup = True
            pending.deadline = pending.sent + self.limits.startup_timeout
        effects.to_server.append(encode(request))
        if self._initialized is not None:
            effects.to_server.append(encode(self._initialized))
        return effects

    def _internal_id(self) -> str:
        """An id for a request of Lilith's own, in flight under no other request."""
        while True:
            self._internal_seq += 1
            request_id = f"{INTERNAL_ID_PREFIX}{self._internal_seq}"
            if id_key(request_id) not in self._from_client:
                return request_id

    def _replay_answered(self, pending: _Pending, body: dict[str, Any], effects: Effects) -> None:
        """A restarted server answered a request Lilith replayed (the client never sees these answers)."""
        if "error" in body:
            self._log.log("error", "handshake_replay_failed", method=pending.method, error=body["error"])
            if pending.method == "resources/subscribe":
                self._forget_subscription(pending.params)
        elif pending.method == "initialize":
            self._restore(effects)

    def _remember(self, pending: _Pending) -> None:
        """The server took a logging level, a subscription or an unsubscription: a restarted one gets it too."""
        params = pending.params or {}
        if pending.method == "logging/setLevel":
            self._log_level = params
            return
        self._forget_subscription(params)
        uri = params.get("uri")
        if pending.method == "resources/subscribe" and isinstance(uri, str):
            subscriptions = self._subscriptions
            subscriptions[uri] = params
            if len(subscriptions) > MAX_SUBSCRIPTIONS:
                del subscriptions[next(iter(subscriptions))]

    def _forget_subscription(self, params: dict[str, Any] | None) -> None:
        uri = params.get("uri") if params is not None else None
        if isinstance(uri, str):
            self._subscriptions.pop(uri, None)

    def _restore(self, effects: Effects) -> None:
        """A restarted server took the replayed handshake: give it the logging level and the resource
        subscriptions the client set with the old one. Each goes through the policy in force now (a
        subscription the policy now denies is dropped) and is recorded like the client's own requests."""
        wanted = [] if self._log_level is None else [("logging/setLevel", self._log_level)]
        wanted += [("resources/subscribe", params) for params in self._subscriptions.values()]
        self._arrived = self._clock()
        for method, params in wanted:
            request = {"jsonrpc": "2.0", "id": self._internal_id(), "method": method, "params": _unmetered(params)}
            try:
                message = classify(request)
                decision = self._gate.check(message)
                if decision is not None:
                    decision = self._audited(message, decision)
                    if not decision.allowed:
                        self._log.log("warning", "restore_denied", method=method, rule=decision.rule)
                        self._forget_subscription(params)
                        continue
                self._gate.forwarded(message)
            except Exception as exc:  # never sent unchecked
                self._log.log("error", "restore_failed", method=method, error=f"{type(exc).__name__}: {exc}")
                continue
            pending = self._from_client[id_key(request["id"])] = _Pending(method, request["id"], internal=True)
            pending.params = params
            if self._timeouts:
                self._start_clock(pending, message)
            effects.to_server.append(encode(request))

    @property
    def in_flight(self) -> int:
        return len(self._from_client)

    @property
    def counts(self) -> dict[str, int]:
        return {"decisions": self._decisions, "denied": self._denied}

    def _record_initialize(self, result: Any) -> None:
        """Who is talking to whom, once the handshake completes (the session's start record predates it)."""
        params = self._initialize.get("params") if self._initialize is not None else None
        params = params if isinstance(params, dict) else {}
        result = result if isinstance(result, dict) else {}
        record = {
            "event": "initialize",
            "client_info": params.get("clientInfo"),
            "protocol_version": params.get("protocolVersion"),
            "server_info": result.get("serverInfo"),
            "negotiated_version": result.get("protocolVersion"),
        }
        try:
            self._audit.record(record)
        except Exception as exc:  # the handshake's answer still reaches the client
            self._log.log("error", "audit_write_failed", error=f"{type(exc).__name__}: {exc}")

    # ------------------------------------------------------------------ timeouts
    def next_deadline(self) -> float | None:
        """When ``expire`` next has something to do (monotonic seconds), or None."""
        if not self._timeouts or not self._from_client:
            return None
        if self._held:  # only the hard maximums run, until the hold ends
            longest = self.limits.request_timeout_max
            caps = [pending.sent + longest for pending in self._from_client.values()]
            return min(self._hold_end(), *caps)
        return min(pending.deadline for pending in self._from_client.values())

    def expire(self) -> Expired:
        """Answer every client request whose deadline has passed, and tell the server to stop working on it."""
        expired = Expired()
        if not self._timeouts:
            return expired
        now = self._clock()
        self._purge_retired(now)
        if self._held and (end := self._hold_end()) <= now:  # the server requests left are too old to hold
            self._release(end)
        if self._held:
            longest = self.limits.request_timeout_max
            late = [(key, p) for key, p in self._from_client.items() if p.sent + longest <= now]
        else:
            late = [(key, p) for key, p in self._from_client.items() if p.deadline <= now]
        direct: list[dict[str, Any]] = []
        for key, pending in late:
            self._answered(key)
            self._retire(key)
            waited = round(now - pending.sent, 3)
            if pending.startup:
                expired.startup_failed = True
            self._log.log(
                "error" if pending.startup else "warning",
                "server_start_timeout" if pending.startup else "request_timeout",
                method=pending.method,
                id=pending.request_id,
                after_seconds=waited,
            )
            self._record_timeout(pending, waited)
            if pending.method != "initialize":  # the spec forbids cancelling initialize
                cancel = {"requestId": pending.request_id, "reason": f"Lilith: no answer within {waited:g} s"}
                expired.effects.to_server.append(
                    encode({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": cancel})
                )
            if pending.internal:
                continue
            what = "start" if pending.startup else "answer"
            body = error_response(
                pending.request_id,
                REQUEST_TIMEOUT,
                f"Lilith: the MCP server did not {what} {pending.method} within {waited:g} s",
                {"timeout_seconds": waited},
            )
            self._deliver(pending, body, expired.effects, direct)
        expired.effects.to_client.extend(encode(body) for body in direct)
        return expired

    def _purge_retired(self, now: float) -> None:
        retired = self._retired
        while retired:
            key = next(iter(retired))
            if retired[key] > now:
                break
            del retired[key]

    def _record_timeout(self, pending: _Pending, waited: float) -> None:
        record = {
            "event": "request_timeout",
            "request_id": pending.request_id,
            "method": pending.method,
            "tool": pending.tool,
            "after_seconds": waited,
            "startup": pending.startup,
        }
        try:
            self._audit.record(record)
        except AuditWriteError as exc:  # the request is answered either way; nothing goes out because of it
            self._log.log("error", "audit_write_failed", error=str(exc))

    def _hold(self, request: _Pending) -> None:
        """A server request now waits for the client's answer, which may wait on a human (elicitation/create):
        meanwhile a server that waits is not a hung server, so client requests' clocks do not run out, except
        their hard maximum. One request holds them for at most ``request_timeout_max`` (a client that never
        answers and a server that never cancels must not suspend the timeouts for good)."""
        request.sent = self._clock()
        request.deadline = request.sent + self.limits.request_timeout_max
        self._held = True

    def _hold_end(self) -> float:
        """Until when the server requests waiting on the client hold client requests' clocks."""
        return max((request.deadline for request in self._from_server.values()), default=-_NEVER)

    def _release(self, at: float) -> None:
        """A server request stopped waiting on the client (answered, cancelled by the server, too old): every
        client request gets at least a fresh ``request_timeout`` from ``at``, within its hard maximum."""
        limits = self.limits
        fresh = at + limits.request_timeout
        for pending in self._from_client.values():
            pending.deadline = max(pending.deadline, min(fresh, pending.sent + limits.request_timeout_max))
        self._held = self._hold_end() > at

    def _progressed(self, message: Message) -> None:
        """A progress notification for a request: its deadline restarts, up to the hard maximum."""
        if not self._timeouts:
            return
        params = message.body.get("params")
        token = params.get("progressToken") if isinstance(params, dict) else None
        if not isinstance(token, str | int) or isinstance(token, bool):
            return
        key = self._progress.get(id_key(token))
        pending = self._from_client.get(key) if key is not None else None
        if pending is None:
            return
        limits = self.limits
        extended = self._clock() + limits.request_timeout
        pending.deadline = min(max(pending.deadline, extended), pending.sent + limits.request_timeout_max)

    def _answered(self, key: IdKey) -> _Pending | None:
        """Take a client request off the in-flight table (it was answered, cancelled or timed out)."""
        pending = self._from_client.pop(key, None)
        if pending is not None and pending.progress is not None:
            self._progress.pop(pending.progress, None)
        return pending

    def _forget(self, table: dict[IdKey, _Pending], message: Message) -> list[dict[str, Any]] | None:
        """Drop a cancelled request; return its batch's answers if that was all the batch waited for."""
        params = message.body.get("params")
        request_id = params.get("requestId") if isinstance(params, dict) else None
        if not is_valid_id(request_id):  # nothing with such an id is in flight; the notification still goes on
            return None
        key = id_key(request_id)
        if table is self._from_client:
            pending = self._answered(key)
            if pending is not None:
                self._retire(key)
        else:
            pending = table.pop(key, None)
            if pending is not None and self._held:  # the server gave up on the client's answer
                self._release(self._clock())
        batch = pending.batch if pending is not None else None
        if batch is None:
            return None
        batch.waiting.discard(key)
        return batch.responses if not batch.waiting and batch.responses else None


def plain_line(line: bytes) -> bool:
    """Does this JSON line hold only printable ASCII and no escape for a control character (``\\uXXXX``,
    ``\\r``, ``\\b``, ``\\f``)? Then no string decoded from it has anything to strip: checked in C on bytes
    the session already has, instead of walking every string of the message."""
    if not line.isascii() or b"\x7f" in line:
        return False
    return b"\\" not in line or not (b"\\u" in line or b"\\r" in line or b"\\b" in line or b"\\f" in line)


def denial(request_id: Any, decision: Decision) -> dict[str, Any]:
    if decision.as_tool_result:
        text = f"Lilith: {decision.reason} (rule: {decision.rule})"
        return {
            "jsonrpc": "2.0",
            "id": request_id,
            "result": {"content": [{"type": "text", "text": text}], "isError": True},
        }
    return error_response(
        request_id, POLICY_DENIED, f"Lilith: {decision.reason}", {"rule": decision.rule, "reason": decision.reason}
    )


def _unmetered(params: dict[str, Any]) -> dict[str, Any]:
    """Replayed params without the original request's progress token (another request may use it now)."""
    meta = params.get("_meta")
    if not isinstance(meta, dict) or "progressToken" not in meta:
        return params
    return {**params, "_meta": {key: value for key, value in meta.items() if key != "progressToken"}}


def _preview(line: bytes) -> str:
    return line[:80].decode("utf-8", "replace")
