"""Tool calls that run as tasks: a tools/call answers with a task, and the tool's result comes later. In
2025-11-25 (``tasks``) it is the answer to a ``tasks/result``; in the 2026-07-28 tasks extension
(``io.modelcontextprotocol/tasks``) it is inlined in a completed task, as ``tasks/get`` answers it or a
``notifications/tasks`` carries it. Either way it must meet the same checks and records as the tool's direct
answer, so the session remembers which tool created each task (a tasks/result for any other task is
refused: ``lilith.core.refusals``; an inlined result of any other task is withheld: ``task_answers``)."""

from __future__ import annotations

from typing import Any

from lilith.core.message import Message

# Tasks remembered (the oldest is forgotten first).
MAX_TASKS = 10_000


class TaskTools:
    """taskId -> the tool whose call created it (None: created twice, by different tools), in insertion
    order, for the tasks created by this session's tool calls with the current server process."""

    __slots__ = ("_tools",)

    def __init__(self) -> None:
        self._tools: dict[str, str | None] = {}

    def tool_of(self, message: Message) -> str | None:
        """The tool whose call created the task a tasks/result or tasks/get asks for, if this session saw it."""
        params = message.body.get("params")
        return self.tool_of_task(params.get("taskId") if isinstance(params, dict) else None)

    def tool_of_task(self, task_id: Any) -> str | None:
        return self._tools.get(task_id) if isinstance(task_id, str) else None

    def created(self, tool: str, result: dict[str, Any]) -> None:
        """A call of ``tool`` answered with a task (CreateTaskResult): its result will be that tool's."""
        task_id = created_task_id(result)
        if task_id is None:
            return
        tools = self._tools
        known = tools.pop(task_id, tool)
        tools[task_id] = tool if known == tool else None  # one id for two tools: neither set of checks is sure
        if len(tools) > MAX_TASKS:
            del tools[next(iter(tools))]

    def clear(self) -> None:
        """The server process is gone, and its tasks with it."""
        self._tools.clear()


def created_task_id(result: dict[str, Any]) -> str | None:
    """The id of the task a tools/call result creates, in either shape: 2025-11-25 wraps the task
    (``{"task": {"taskId": ...}}``), the 2026-07-28 extension flattens it (``{"resultType": "task", "taskId": ...}``)."""
    task = result.get("task")
    if isinstance(task, dict):
        task_id = task.get("taskId")
    elif result.get("resultType") == "task":
        task_id = result.get("taskId")
    else:
        return None
    return task_id if isinstance(task_id, str) else None
