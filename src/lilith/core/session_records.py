"""The audit records one session writes, each before what it describes takes effect: the decision on a
request, the completed handshake, a timeout, the ``result`` of a policed request, and taints an answer
changed. A record that cannot be written stops what it describes (a denial, a withheld answer), except where
noted: the handshake and timeouts happen either way."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import orjson

from lilith.core.clipped import Clipped
from lilith.core.gate import Gate
from lilith.core.message import Message, error_response
from lilith.core.pending import Pending
from lilith.core.ports import AuditSink, EventLog
from lilith.errors import INTERNAL_ERROR, AuditWriteError
from lilith.policy.decision import Decision

Summariser = Callable[[dict[str, Any], int], dict[str, Any]]
# Answers worth a ``result`` audit record: those to requests that had a policy decision, and the results of
# tool calls that ran as tasks (a tools/call answers with a task, tasks/result with the tool's result).
RESULT_RECORDED = frozenset({"tools/call", "resources/read", "prompts/get", "tasks/result"})
# How much of a peer's clientInfo/serverInfo the initialize record keeps: a name, a version, a title, icons
# and a website fit in well under 4 KiB of JSON; the rest of a longer one is recorded as its length and hash.
INFO_JSON_CHARS = 4096


class SessionRecords:
    """Writes one session's records and counts its decisions (``Session.counts``)."""

    __slots__ = ("_audit", "_clock", "_gate", "_log", "_timed", "arrived", "decisions", "denied", "summarise")

    def __init__(
        self,
        gate: Gate,
        audit: AuditSink,
        log: EventLog,
        clock: Callable[[], float],
        summarise: Summariser | None,
        *,
        timed: bool,
    ) -> None:
        """``timed``: the clock is real, so records carry latencies. ``summarise(response, line_bytes)``: the
        size/isError/preview fields of a ``result`` record; without one, answers are not recorded."""
        self._gate = gate
        self._audit = audit
        self._log = log
        self._clock = clock
        self._timed = timed
        self.summarise = summarise
        self.arrived = 0.0  # when the client line being handled arrived (for the decision's latency)
        self.decisions = 0
        self.denied = 0

    def decision(self, message: Message, decision: Decision) -> Decision:
        """Record the decision on a request; if the record cannot be written, the request is denied."""
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
        if self._timed:
            record["latency_us"] = int((self._clock() - self.arrived) * 1_000_000)
        try:
            self._audit.record(record)
        except AuditWriteError as exc:
            self._log.log("error", "audit_write_failed", error=str(exc))
            self.decisions += 1
            self.denied += 1
            return Decision(False, "audit-failure", f"the audit log could not be written: {exc}")
        self.decisions += 1
        if not decision.allowed:
            self.denied += 1
        return decision

    def handshake(self, params: dict[str, Any], result: Any) -> None:
        """Who is talking to whom, once the handshake completes (the session's start record predates it)."""
        result = result if isinstance(result, dict) else {}
        try:
            record = {
                "event": "initialize",
                "client_info": _bounded_info(params.get("clientInfo")),
                "protocol_version": params.get("protocolVersion"),
                "server_info": _bounded_info(result.get("serverInfo")),
                "negotiated_version": result.get("protocolVersion"),
            }
            self._audit.record(record)
        except Exception as exc:  # the handshake's answer still reaches the client
            self._log.log("error", "audit_write_failed", error=f"{type(exc).__name__}: {exc}")

    def timeout(self, pending: Pending, waited: float) -> None:
        """A request got no answer (or the server did not start) in time: reported, and recorded."""
        self._log.log(
            "error" if pending.startup else "warning",
            "server_start_timeout" if pending.startup else "request_timeout",
            method=pending.method,
            id=pending.request_id,
            after_seconds=waited,
        )
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

    def result(self, pending: Pending, body: dict[str, Any], line_size: int) -> dict[str, Any]:
        """Write the answer's ``result`` record before the client sees it; if that fails, withhold it."""
        summarise = self.summarise
        if summarise is None:  # pragma: no cover - checked by the caller
            return body
        try:
            record = {
                "event": "result",
                "method": pending.method,
                "tool": pending.tool,
                "request_id": pending.request_id,
            }
            record.update(summarise(body, line_size))
            if self._timed:
                record["latency_ms"] = round((self._clock() - pending.sent) * 1000, 3)
            self._audit.record(record)
        except Exception as exc:  # whatever failed, the client gets an answer, never an unrecorded result
            self._log.log("error", "audit_write_failed", error=f"{type(exc).__name__}: {exc}")
            return error_response(
                pending.request_id, INTERNAL_ERROR, "Lilith: the audit log could not be written; the result is withheld"
            )
        return body

    def taints_from_answer(self, pending: Pending, tool: str, body: dict[str, Any]) -> dict[str, Any]:
        """Session state that depends on what a tool returned (taints from ``result_matches`` rules, and
        the call's own REMOVE_TAINT once it succeeded): the
        change is recorded, then applied; if either fails the client gets an error instead of the answer."""
        try:
            changed = self._gate.answered(tool, body)
            if changed is not None:
                record = {"event": "taints_changed", "tool": tool, "request_id": pending.request_id}
                record.update(
                    cause=changed.cause, taints_before=sorted(changed.before), taints_after=sorted(changed.after)
                )
                self._audit.record(record)
                self._gate.commit_taints(changed.after)  # only once recorded
        except Exception as exc:  # a failed check or an unwritten record: the client never gets the answer
            self._log.log("error", "answer_check_failed", tool=tool, error=f"{type(exc).__name__}: {exc}")
            return error_response(pending.request_id, INTERNAL_ERROR, "Lilith: the result could not be checked")
        return body


def _bounded_info(info: Any) -> Any:
    """``info`` as it is if its compact JSON has at most ``INFO_JSON_CHARS`` characters, else that JSON as
    ``Clipped`` text: the audit sink keeps its start, redacted, and the length and keyed hash of the whole."""
    if info is None or isinstance(info, bool | int | float):
        return info
    try:
        text = orjson.dumps(info).decode()
    except TypeError:  # integers beyond 64 bits: the stdlib writes them
        text = json.dumps(info, ensure_ascii=False, separators=(",", ":"), default=str)
    return info if len(text) <= INFO_JSON_CHARS else Clipped(text, INFO_JSON_CHARS)
