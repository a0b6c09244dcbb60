"""Review 3 (DoS): the table of client requests waiting for the server is bounded (``Limits.max_in_flight``),
and a cancelled request's long string id is remembered as a digest, not whole. Through a real Lilith in front
of a server that reads everything and answers nothing."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import psutil

from lilith.core.limits import Limits
from tests.integration.harness import Proxy, lilith_run, wait_until

SILENT = "import sys\ncount = 0\nfor line in sys.stdin:\n    count += 1\n    open(sys.argv[1], 'w').write(str(count))\n"


def _silent_server(tmp_path: Path) -> tuple[list[str], Path]:
    script, counted = tmp_path / "silent.py", tmp_path / "count.txt"
    script.write_text(SILENT)
    return [sys.executable, str(script), str(counted)], counted


def _count(counted: Path) -> int:
    try:
        return int(counted.read_text() or 0)
    except (OSError, ValueError):
        return 0


def test_requests_beyond_the_in_flight_limit_are_refused_and_recorded(tmp_path: Path) -> None:
    limit = Limits().max_in_flight
    server, counted = _silent_server(tmp_path)
    audit = tmp_path / "audit.jsonl"
    proxy = Proxy(lilith_run("--audit-log", str(audit), server=server), tmp_path)
    try:
        proxy.send_raw(b"".join(b'{"jsonrpc":"2.0","id":%d,"method":"ping"}\n' % n for n in range(1, limit + 2)))
        refused = proxy.recv(60)
        assert refused["id"] == limit + 1
        assert refused["error"]["data"]["rule"] == "protocol.too-many-in-flight"
        assert proxy.nothing_more(0.5)
        assert wait_until(lambda: _count(counted) >= limit, 30)
        assert proxy.nothing_more(0.5)
        assert _count(counted) == limit  # the refused one never reached the server
    finally:
        proxy.kill()
    records = [json.loads(line) for line in audit.read_bytes().splitlines()]
    assert [r["request_id"] for r in records if r.get("rule") == "protocol.too-many-in-flight"] == [limit + 1]


def test_cancelled_requests_with_huge_ids_are_not_kept_whole(tmp_path: Path) -> None:
    server, _counted = _silent_server(tmp_path)
    proxy = Proxy(lilith_run(server=server), tmp_path)
    try:
        process = psutil.Process(proxy.proc.pid)
        proxy.send_raw(b'{"jsonrpc":"2.0","id":0,"method":"ping"}\n')
        before = process.memory_info().rss
        for n in range(80):
            request_id = f"{n:04d}" + "x" * 1_000_000
            request = {"jsonrpc": "2.0", "id": request_id, "method": "ping"}
            cancel = {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": request_id}}
            proxy.send_raw(json.dumps(request).encode() + b"\n" + json.dumps(cancel).encode() + b"\n")
        reused = f"{0:04d}" + "x" * 1_000_000  # a retired id is still refused: found by its digest
        proxy.send_raw(json.dumps({"jsonrpc": "2.0", "id": reused, "method": "ping"}).encode() + b"\n")
        reply = proxy.recv(30)
        assert reply["id"] == reused and reply["error"]["code"] == -32600
        grown = process.memory_info().rss - before
        assert grown < 50 << 20, grown  # 100 MB when every retired id was kept whole (reading costs ~25 MB)
    finally:
        proxy.kill()
