#!/usr/bin/env python3
"""The hostile test server plus the misbehaviours chaos tests need (stdlib only).

    python tests/chaos/chaos_server.py [--record PATH] [--ignore-initialize]

Extra tools on top of ``tests/servers/hostile_server.py``:

``endless_line {"bytes": N, "done_file": PATH}``
    Start the answer, write N bytes of it without a newline, create ``done_file``, then never finish the
    line (the call is never answered).
``flood {"bytes": N, "junk": false}``
    Write about N bytes of ``notifications/message`` lines (or of lines that are not JSON), then answer
    with ``{"lines": count}``.
``progress_for {"ms": T, "every_ms": I}``
    Send a progress notification every I ms (with the call's progressToken) and answer after T ms.

``--ignore-initialize`` makes it never answer ``initialize`` (a server that hangs at start-up).
"""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.servers.hostile_server import HostileServer, JSONObj

CHAOS_TOOLS: list[JSONObj] = [
    {"name": "endless_line", "description": "Write a line that never ends.", "inputSchema": {"type": "object"}},
    {"name": "flood", "description": "Flood stdout, then answer.", "inputSchema": {"type": "object"}},
    {"name": "progress_for", "description": "Progress for a while, then answer.", "inputSchema": {"type": "object"}},
]
WRITE_CHUNK = 64 * 1024


class ChaosServer(HostileServer):
    def __init__(self, record_path: str | None, ignore_initialize: bool) -> None:
        super().__init__(record_path)
        self._ignore_initialize = ignore_initialize

    def dispatch(self, msg_id: Any, method: str, params: JSONObj, modern: bool, in_batch: bool) -> JSONObj | None:
        if method == "initialize" and self._ignore_initialize:
            self.log("ignoring initialize")
            return None
        response = super().dispatch(msg_id, method, params, modern, in_batch)
        if method == "tools/list" and response is not None:
            response["result"]["tools"] = [*response["result"]["tools"], *CHAOS_TOOLS]
        return response

    def call_tool(self, msg_id: Any, params: JSONObj, modern: bool, in_batch: bool) -> JSONObj | None:
        name = params.get("name")
        args = params.get("arguments") or {}
        if name == "endless_line":
            self.endless_line(msg_id, int(args.get("bytes", 1 << 20)), str(args.get("done_file", "")))
            return None
        if name == "flood":
            count = self.flood(int(args.get("bytes", 1 << 20)), bool(args.get("junk", False)))
            return self.result(msg_id, {"content": [], "structuredContent": {"lines": count}}, modern)
        if name == "progress_for":
            meta = params.get("_meta")
            token = meta.get("progressToken") if isinstance(meta, dict) else None
            worker = threading.Thread(
                target=self.progress_for,
                args=(msg_id, token, int(args.get("ms", 1000)), int(args.get("every_ms", 200)), modern),
                daemon=True,
            )
            worker.start()
            return None
        return super().call_tool(msg_id, params, modern, in_batch)

    def endless_line(self, msg_id: Any, size: int, done_file: str) -> None:
        """Hold the output lock for good: nothing else may ever end this line."""
        self._out_lock.acquire()
        out = sys.stdout.buffer
        out.write(b'{"jsonrpc":"2.0","id":%s,"result":{"content":[{"type":"text","text":"' % str(msg_id).encode())
        chunk = b"x" * WRITE_CHUNK
        written = 0
        while written < size:
            out.write(chunk)
            written += len(chunk)
        out.flush()
        if done_file:
            Path(done_file).write_text(str(written))
        self.log(f"endless_line: {written} bytes written, never ending the line")

    def flood(self, size: int, junk: bool) -> int:
        text = "x" * 900
        line = (
            b"this is not JSON " + text.encode() + b"\n"
            if junk
            else b'{"jsonrpc":"2.0","method":"notifications/message","params":{"level":"info","data":"%s"}}\n'
            % text.encode()
        )
        per_write = max(1, WRITE_CHUNK // len(line))
        block = line * per_write
        count = 0
        with self._out_lock:
            out = sys.stdout.buffer
            while count * len(line) < size:
                out.write(block)
                count += per_write
            out.flush()
        self.log(f"flood: {count} lines")
        return count

    def progress_for(self, msg_id: Any, token: Any, total_ms: int, every_ms: int, modern: bool) -> None:
        began = time.monotonic()
        step = 0
        while (time.monotonic() - began) * 1000 < total_ms:
            time.sleep(every_ms / 1000)
            step += 1
            if token is not None:
                params = {"progressToken": token, "progress": step, "message": f"step {step}"}
                self.send({"jsonrpc": "2.0", "method": "notifications/progress", "params": params})
        self.send(self.result(msg_id, {"content": [{"type": "text", "text": f"{step} steps"}]}, modern))


def main(argv: list[str]) -> int:
    record = None
    if "--record" in argv:
        record = argv[argv.index("--record") + 1]
    ChaosServer(record, "--ignore-initialize" in argv).serve(banner_garbage=False)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
