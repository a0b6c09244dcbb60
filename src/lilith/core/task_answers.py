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
        """The server's answer to a tasks/get (already filtered) as the client may see it: unchanged without an
        inlined outcome; else with the tool's result (or error) checked and recorded as ``pending.tool``'s, or
        an error in its place."""
        task = body.get("result")
        outcome = _outcome(task)
        if outcome is None:
            return body
        tool = pending.tool
        if tool is None:
            self._log.log("warning", "task_result_withheld", id=pending.request_id, reason="unknown task")
            return error_response(pending.request_id, INVALID_PARAMS, UNKNOWN_TASK_RESULT)
        checked = self._checked(pending, tool, outcome, line_size)
        if checked is None:
            return body
        return checked

    def pushed(self, params: Any, line_size: int) -> bool:
        """May this notifications/tasks (already filtered) reach the client? Not if it inlines an outcome that
        is not a known task's or fails its checks: the client still gets that outcome, checked, when it polls."""
        outcome = _outcome(params)
        if outcome is None:
            return True
        task_id = params.get("taskId") if isinstance(params, dict) else None
        tool = self._tasks.tool_of_task(task_id)
        if tool is None:
            self._log.log("warning", "task_notification_dropped", task=str(task_id)[:80], reason="unknown task")
            return False
        pending = Pending("notifications/tasks", None)
        pending.tool, pending.sent = tool, self._clock()
        if self._checked(pending, tool, outcome, line_size) is not None:
            self._log.log("warning", "task_notification_dropped", task=str(task_id)[:80], reason="failed its checks")
            return False
        return True

    def _checked(self, pending: Pending, tool: str, outcome: tuple[str, Any], line_size: int) -> dict[str, Any] | None:
        """The tool's outcome as if it were the tool's direct answer: taints from ``result_matches``, then the
        ``result`` record. None if it passed; else the error the client gets instead of the task."""
        field, value = outcome
        if not isinstance(value, dict):  # MCP results and errors are objects: anything else skips every check
            self._log.log("warning", "server_result_not_an_object", method=pending.method)
            return error_response(pending.request_id, INTERNAL_ERROR, "Lilith: the MCP server sent a malformed result")
        answer: dict[str, Any] = {"jsonrpc": "2.0", "id": pending.request_id, field: value}
        records = self._records
        checked = records.taints_from_answer(pending, tool, answer)
        if checked is answer and records.summarise is not None:
            checked = records.result(pending, answer, line_size)
        return None if checked is answer else checked


def _outcome(task: Any) -> tuple[str, Any] | None:
    """What a task inlines of its tool call's answer: ("result", value) or ("error", value), or None. Whatever
    its status says: a server must not slip a result past the checks by mislabelling the task."""
    if not isinstance(task, dict):
        return None
    for field in ("result", "error"):
        if field in task:
            return field, task[field]
    return None
