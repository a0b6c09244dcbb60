"""Tool results inlined in a task (the 2026-07-28 tasks extension, ``io.modelcontextprotocol/tasks``): a
completed task carries the tool's result in its ``result`` field, as ``tasks/get`` answers it or as a
``notifications/tasks`` pushes it. That result meets what the tool's direct answer meets (``result_matches``
taints, the audit ``result`` record) before the client sees it; a result Lilith cannot tie to a tool call of
this session, or cannot check, never reaches the client (sans-IO)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from lilith.core.message import error_response
from lilith.core.pending import Pending
from lilith.core.ports import EventLog
from lilith.core.session_records import SessionRecords
from lilith.core.tasks import TaskTools
from lilith.errors import INTERNAL_ERROR, INVALID_PARAMS

UNKNOWN_TASK_RESULT = "Lilith: the task's result is withheld: no tools/call of this session created that task"


class TaskAnswers:
    __slots__ = ("_clock", "_log", "_records", "_tasks")

    def __init__(self, tasks: TaskTools, records: SessionRecords, log: EventLog, clock: Callable[[], float]) -> None:
        self._tasks = tasks
        self._records = records
        self._log = log
        self._clock = clock

    def polled(self, pending: Pending, body: dict[str, Any], line_size: int) -> dict[str, Any]:
        """The server's answer to a tasks/get (already filtered) as the client may see it: a known task's
        outcome and status message checked (and its outcome recorded) as ``pending.tool``'s answer would be;
        an error in its place if that fails, or if it inlines an outcome of an unknown task."""
        task = body.get("result")
        if not isinstance(task, dict):
            return body
        tool = pending.tool
        if tool is None:
            if not _carries_outcome(task):
                return body  # a status alone: no tool's rules apply to it
            self._log.log("warning", "task_result_withheld", id=pending.request_id, reason="unknown task")
            return error_response(pending.request_id, INVALID_PARAMS, UNKNOWN_TASK_RESULT)
        checked = self._checked(pending, tool, task, line_size)
        return body if checked is None else checked

    def pushed(self, params: Any, line_size: int) -> bool:
        """May this notifications/tasks (already filtered) reach the client? Not if it inlines an outcome that is
        not a known task's, or what it says fails the checks: the client still gets that, checked, when it polls."""
        if not isinstance(params, dict):
            return True
        task_id = params.get("taskId")
        tool = self._tasks.tool_of_task(task_id)
        if tool is None:
            if not _carries_outcome(params):
                return True
            self._log.log("warning", "task_notification_dropped", task=str(task_id)[:80], reason="unknown task")
            return False
        pending = Pending("notifications/tasks", None)
        pending.tool, pending.sent = tool, self._clock()
        if self._checked(pending, tool, params, line_size) is not None:
            self._log.log("warning", "task_notification_dropped", task=str(task_id)[:80], reason="failed its checks")
            return False
        return True

    def _checked(self, pending: Pending, tool: str, task: dict[str, Any], line_size: int) -> dict[str, Any] | None:
        """A known task as the tool's answer: its outcome (by its status) and its status message meet the
        ``result_matches`` rules; an outcome is then recorded (``result``). None if it passed; else the error
        the client gets instead of the task."""
        try:
            outcome = _outcome(task)
        except ValueError as exc:
            self._log.log("warning", "task_malformed", method=pending.method, problem=str(exc))
            return error_response(pending.request_id, INTERNAL_ERROR, "Lilith: the MCP server sent a malformed task")
        message = task.get("statusMessage")
        shown: dict[str, Any] = {"jsonrpc": "2.0", "id": pending.request_id}
        if outcome is not None:
            shown[outcome[0]] = outcome[1]
        if isinstance(message, str):  # may be shown to the model: read like the answer's own text
            shown["result"] = {**shown.get("result", {}), "statusMessage": message}
        if "result" not in shown and "error" not in shown:
            return None
        records = self._records
        checked = records.taints_from_answer(pending, tool, shown)
        if checked is not shown:
            return checked
        if outcome is not None and records.summarise is not None:
            answer = {"jsonrpc": "2.0", "id": pending.request_id, outcome[0]: outcome[1]}
            recorded = records.result(pending, answer, line_size)
            if recorded is not answer:
                return recorded
        return None


def _carries_outcome(task: dict[str, Any]) -> bool:
    return "result" in task or "error" in task


def _outcome(task: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    """What a task inlines of its tool call's answer, as its status says: a completed task's ``result``, a
    failed task's ``error`` (objects both), or None. Raises ValueError for anything else that carries one (both,
    the wrong one for the status, or an outcome while still working): a server must not slip a result past the
    checks by mislabelling the task."""
    status = task.get("status")
    expected = {"completed": "result", "failed": "error"}.get(status) if isinstance(status, str) else None
    present = [field for field in ("result", "error") if field in task]
    if not present:
        return None
    if present != [expected]:
        raise ValueError(f"a task with status {str(status)[:40]!r} carries {' and '.join(present)}")
    value = task[present[0]]
    if not isinstance(value, dict):  # MCP results and errors are objects: anything else skips every check
        raise ValueError(f"the task's {present[0]} is not an object")
    return present[0], value
