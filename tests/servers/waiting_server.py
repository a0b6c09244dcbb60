#!/usr/bin/env python3
"""A raw MCP server whose work waits: on the client's answers (a human) and on time (stdlib only).

Usage: ``python tests/servers/waiting_server.py [--record PATH]`` (``--record``: append every raw line
received, so a test can assert what reached the server).

Tools:

``ask`` ``{"method": ..., "after_answer_ms": N, "cancel_after_ms": M}``
    Sends the client a request (``elicitation/create`` by default, or ``sampling/createMessage`` or
    ``roots/list``) and answers the call with the client's answer ``after_answer_ms`` after it arrives
    (default 0; ``null``: never). With ``cancel_after_ms`` the server gives up on its request after M ms
    (``notifications/cancelled``) and never answers the call.
``wait`` ``{"ms": N}``
    Answers after N ms.
``long_job`` ``{"ms": N, "ask_at_ms": M}`` with ``params.task``
    Runs as a 2025-11-25 task: answers at once with a CreateTaskResult and works for N ms. With
    ``ask_at_ms`` it needs input at M ms: the task is ``input_required`` and the server sends the client an
    ``elicitation/create`` tied to the task (``related-task``); the work goes on once it is answered. If the
    call carried a progressToken, progress on it every 200 ms while working. ``tasks/result`` blocks until
    the task has ended, as the specification says; ``tasks/get`` reports its status.
"""

from __future__ import annotations

import functools
import json
import sys
import threading
import uuid
from collections.abc import Callable
from typing import Any

JSONObj = dict[str, Any]
RELATED_TASK = "io.modelcontextprotocol/related-task"
CAPABILITIES: JSONObj = {"tools": {}, "tasks": {"requests": {"tools": {"call": {}}}}}
PROGRESS_EVERY = 0.2
STAMP = "2025-11-25T10:30:00Z"


def _text(text: str) -> JSONObj:
    return {"content": [{"type": "text", "text": text}], "isError": False}


class _Task:
    def __init__(self, task_id: str, token: Any) -> None:
        self.task_id = task_id
        self.token = token
        self.status = "working"
        self.answer: Any = None
        self.waiting: list[Any] = []  # ids of tasks/result requests blocked on it

    def view(self) -> JSONObj:
        return {"taskId": self.task_id, "status": self.status, "createdAt": STAMP, "lastUpdatedAt": STAMP, "ttl": None}


class WaitingServer:
    def __init__(self, record: str | None) -> None:
        self._record = open(record, "ab", buffering=0) if record else None  # noqa: SIM115 - open for the run
        self._lock = threading.Lock()
        self._asked: dict[str, Callable[[JSONObj], None]] = {}  # our request id -> what its answer does
        self._tasks: dict[str, _Task] = {}
        self._seq = 0

    # ------------------------------------------------------------------ plumbing
    def send(self, message: JSONObj) -> None:
        with self._lock:
            sys.stdout.write(json.dumps(message) + "\n")
            sys.stdout.flush()

    def later(self, seconds: float, action: Callable[[], None]) -> None:
        timer = threading.Timer(seconds, action)
        timer.daemon = True
        timer.start()

    def ask_client(self, method: str, on_answer: Callable[[JSONObj], None], meta: JSONObj | None = None) -> str:
        with self._lock:
            self._seq += 1
            request_id = f"ask-{self._seq}"
            self._asked[request_id] = on_answer
        params: JSONObj = {"message": "Your name?", "requestedSchema": {"type": "object"}}
        if method == "sampling/createMessage":
            params = {"messages": [{"role": "user", "content": {"type": "text", "text": "hi"}}], "maxTokens": 8}
        elif method == "roots/list":
            params = {}
        if meta is not None:
            params["_meta"] = meta
        self.send({"jsonrpc": "2.0", "id": request_id, "method": method, "params": params})
        return request_id

    def serve(self) -> None:
        for raw in sys.stdin.buffer:
            if self._record is not None:
                self._record.write(raw)
            try:
                message = json.loads(raw)
            except ValueError:
                continue
            if not isinstance(message, dict):
                continue
            if "method" not in message and "id" in message:
                with self._lock:
                    on_answer = self._asked.pop(str(message["id"]), None)
                if on_answer is not None:
                    on_answer(message)
            elif "id" in message and isinstance(message.get("method"), str):
                params = message.get("params")
                self.request(message["id"], message["method"], params if isinstance(params, dict) else {})

    # ------------------------------------------------------------------ requests
    def request(self, request_id: Any, method: str, params: JSONObj) -> None:
        def answer(result: JSONObj) -> None:
            self.send({"jsonrpc": "2.0", "id": request_id, "result": result})

        if method == "initialize":
            info = {"name": "waiting", "version": "1"}
            answer({"protocolVersion": "2025-11-25", "capabilities": CAPABILITIES, "serverInfo": info})
        elif method == "tools/call":
            self.call(params, answer)
        elif method in ("tasks/get", "tasks/result"):
            task = self._tasks.get(str(params.get("taskId")))
            if task is None:
                self.send({"jsonrpc": "2.0", "id": request_id, "error": {"code": -32602, "message": "no such task"}})
            elif method == "tasks/get":
                answer(task.view())
            else:
                with self._lock:
                    done = task.status == "completed"
                    if not done:
                        task.waiting.append(request_id)
                if done:
                    answer(self.task_result(task))
        else:
            self.send({"jsonrpc": "2.0", "id": request_id, "error": {"code": -32601, "message": "Method not found"}})

    def call(self, params: JSONObj, answer: Callable[[JSONObj], None]) -> None:
        name, args = params.get("name"), params.get("arguments") or {}
        if name == "wait":
            self.later(args.get("ms", 0) / 1000, lambda: answer(_text(f"waited {args.get('ms', 0)} ms")))
        elif name == "ask":
            self.ask(args, answer)
        elif name == "long_job" and "task" in params:
            meta = params.get("_meta")
            token = meta.get("progressToken") if isinstance(meta, dict) else None
            task = _Task(str(uuid.uuid4()), token)
            self._tasks[task.task_id] = task
            answer({"task": task.view()})
            self.work(task, args.get("ms", 0) / 1000, args.get("ask_at_ms"))
        else:
            answer({"content": [{"type": "text", "text": f"unknown tool {name}"}], "isError": True})

    def ask(self, args: JSONObj, answer: Callable[[JSONObj], None]) -> None:
        delay = args.get("after_answer_ms", 0)

        def on_answer(reply: JSONObj) -> None:
            if delay is not None:
                self.later(delay / 1000, lambda: answer(_text(json.dumps(reply.get("result", reply.get("error"))))))

        asked = self.ask_client(str(args.get("method", "elicitation/create")), on_answer)
        give_up = args.get("cancel_after_ms")
        if give_up is not None:

            def cancel() -> None:
                with self._lock:
                    self._asked.pop(asked, None)
                self.send({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": asked}})

            self.later(give_up / 1000, cancel)

    # ------------------------------------------------------------------ tasks
    def work(self, task: _Task, seconds: float, ask_at_ms: Any) -> None:
        """Work for ``seconds``; with ``ask_at_ms``, stop there until the client has answered."""
        if ask_at_ms is None:
            self.progress(task, seconds)
            self.later(seconds, lambda: self.finish(task))
            return
        before = min(ask_at_ms / 1000, seconds)

        def on_answer(reply: JSONObj) -> None:
            with self._lock:
                task.answer, task.status = reply.get("result"), "working"
            self.progress(task, seconds - before)
            self.later(seconds - before, lambda: self.finish(task))

        def need_input() -> None:
            with self._lock:
                task.status = "input_required"
            self.ask_client("elicitation/create", on_answer, {RELATED_TASK: {"taskId": task.task_id}})

        self.progress(task, before)
        self.later(before, need_input)

    def progress(self, task: _Task, seconds: float) -> None:
        if task.token is None:
            return
        for step in range(1, int(seconds / PROGRESS_EVERY) + 1):
            params = {"progressToken": task.token, "progress": step}
            note = {"jsonrpc": "2.0", "method": "notifications/progress", "params": params}
            self.later(step * PROGRESS_EVERY, functools.partial(self.send, note))

    def finish(self, task: _Task) -> None:
        with self._lock:
            task.status = "completed"
            waiting, task.waiting = task.waiting, []
        for request_id in waiting:
            self.send({"jsonrpc": "2.0", "id": request_id, "result": self.task_result(task)})

    @staticmethod
    def task_result(task: _Task) -> JSONObj:
        text = "job done" if task.answer is None else f"job done with {json.dumps(task.answer, sort_keys=True)}"
        return {**_text(text), "_meta": {RELATED_TASK: {"taskId": task.task_id}}}


def main(argv: list[str]) -> int:
    record = argv[argv.index("--record") + 1] if "--record" in argv else None
    WaitingServer(record).serve()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
