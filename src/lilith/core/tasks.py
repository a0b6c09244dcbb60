"""Tool calls that run as tasks (2025-11-25 ``tasks``): a tools/call answers with a task, and the tool's
result comes later, as the answer to a ``tasks/result``. That answer must meet the same checks and records
as the tool's direct answer, so the session remembers which tool created each task (a tasks/result for
any other task is refused: ``lilith.core.refusals``)."""

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
        """The tool whose call created the task a tasks/result asks for, if this session saw it do so."""
        params = message.body.get("params")
        task_id = params.get("taskId") if isinstance(params, dict) else None
        return self._tools.get(task_id) if isinstance(task_id, str) else None

    def created(self, tool: str, result: dict[str, Any]) -> None:
        """A call of ``tool`` answered with a task (CreateTaskResult): its result will be that tool's."""
        task = result.get("task")
        task_id = task.get("taskId") if isinstance(task, dict) else None
        if not isinstance(task_id, str):
            return
        tools = self._tools
        known = tools.pop(task_id, tool)
        tools[task_id] = tool if known == tool else None  # one id for two tools: neither set of checks is sure
        if len(tools) > MAX_TASKS:
            del tools[next(iter(tools))]

    def clear(self) -> None:
        """The server process is gone, and its tasks with it."""
        self._tools.clear()
