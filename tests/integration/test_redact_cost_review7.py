"""Review 7 (DoS): what the audit redactor costs on hostile values, through a real ``lilith run``.

A client field or a peer's ``clientInfo``/``serverInfo`` used to be redacted whole, at microseconds per
character of ``"1 1 1 …"``, while the session waited. Now a long string is redacted on its first
``SCAN_CHARS`` characters and the rest is recorded as ``<truncated:N:hash>``; an info object over 4 KiB of
JSON keeps its first 4 KiB. The server still receives every value whole; the audit log says what it cut.
Long argument keys and tool names are no longer kept by the redactor's and the static rules' memos.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import psutil

from tests.integration.conftest import StartProxy
from tests.integration.harness import Proxy, lilith_run, recorded

SCAN_CHARS = 1 << 16  # lilith.audit.text_redactor.SCAN_CHARS
INFO_JSON_CHARS = 4096  # lilith.core.session_records.INFO_JSON_CHARS
TRUNCATED = re.compile(r"<truncated:(\d+):([0-9a-f]+)>$")
ALLOW_ALL = 'version: 1\nstatic_rules:\n  "*": ALLOW\n'
CARD = "4111 1111 1111 1111"
EMAIL = "victim@example.com"


def _records(path: Path, event: str) -> list[dict[str, Any]]:
    return [r for r in (json.loads(line) for line in path.read_bytes().splitlines()) if r.get("event") == event]


def _received(path: Path, method: str) -> list[dict[str, Any]]:
    return [m for m in recorded(path) if isinstance(m, dict) and m.get("method") == method]


def _cut(text: str, whole: str) -> str:
    """The hash of ``text``'s truncation tag, after checking the tag and the shown part."""
    m = TRUNCATED.search(text)
    assert m is not None, text[-200:]
    assert int(m.group(1)) == len(whole)
    assert len(text) <= SCAN_CHARS + 64  # only the scanned start is kept (tags may lengthen it a little)
    return m.group(2)


def test_a_huge_run_of_digit_groups_is_redacted_on_its_start_and_cut_visibly(start_proxy: StartProxy) -> None:
    s = start_proxy(policy=ALLOW_ALL)
    s.proxy.initialize()
    # 1 MB of "1 " took ~5 s of redaction before; the card near the start must still be found, the email
    # past the cut never reaches the log.
    value = f"pay {CARD} " + "1 " * 500_000 + EMAIL
    other = value[:-1] + "X"
    for v in (value, value, other):
        reply = s.proxy.tool("echo", {"s": v}, timeout=30)
        assert "result" in reply
    assert "result" in s.proxy.call("ping")
    # the server got every value whole
    assert [m["params"]["arguments"]["s"] for m in _received(s.record, "tools/call")] == [value, value, other]
    logged = [r["arguments"]["s"] for r in _records(s.audit, "decision") if r["method"] == "tools/call"]
    assert len(logged) == 3
    first, again, different = (_cut(text, v) for text, v in zip(logged, (value, value, other), strict=True))
    assert first == again != different  # equal values correlate, other values do not
    assert logged[0].startswith("pay <card:") and CARD not in logged[0]
    assert EMAIL not in s.audit.read_text() and "X<truncated" not in logged[2]


def test_a_huge_tool_name_and_request_id_are_cut_in_the_log(start_proxy: StartProxy) -> None:
    s = start_proxy(policy=ALLOW_ALL)
    s.proxy.initialize()
    name = "1 " * 100_000
    request_id = "id-" + "2 " * 100_000
    s.proxy.request("tools/call", {"name": name, "arguments": {}}, request_id=request_id)
    reply = s.proxy.recv(timeout=30)
    assert reply["id"] == request_id  # the client gets its id back whole
    decision = next(r for r in _records(s.audit, "decision") if r["method"] == "tools/call")
    _cut(decision["tool"], name)
    _cut(decision["request_id"], request_id)


def test_huge_client_and_server_info_are_kept_to_their_first_4_kib(start_proxy: StartProxy) -> None:
    s = start_proxy(policy=ALLOW_ALL)
    server_info = {"name": "srv", "version": "1 " * 400_000}
    answer = {"protocolVersion": "2025-11-25", "capabilities": {}, "serverInfo": server_info}
    line = json.dumps({"jsonrpc": "2.0", "id": 0, "result": answer}).replace('"id": 0', '"id": {id}')
    # Lilith does not insist on initialize first: script the server's answer to it.
    assert "result" in s.proxy.tool("script_reply", {"method": "initialize", "lines": [line]}, timeout=30)
    client_info = {"name": "client " + EMAIL + " " + "3 " * 400_000, "version": "1"}
    params = {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": client_info}
    reply = s.proxy.call("initialize", params, timeout=30)
    assert reply["result"]["serverInfo"] == server_info  # the client sees the server's answer as sent
    assert _received(s.record, "initialize")[0]["params"]["clientInfo"] == client_info
    assert "result" in s.proxy.call("ping")
    (record,) = _records(s.audit, "initialize")
    for field, info in (("client_info", client_info), ("server_info", server_info)):
        text = record[field]
        whole = json.dumps(info, separators=(",", ":"), ensure_ascii=False)
        m = TRUNCATED.search(text)
        assert m is not None and int(m.group(1)) == len(whole)
        assert len(text) <= INFO_JSON_CHARS + 64 and text.startswith(whole[:9])  # {"name":"
    assert EMAIL not in s.audit.read_text()  # the shown start is still redacted


def _rss_after(proxy: Proxy, requests: list[dict[str, Any]]) -> tuple[int, int]:
    process = psutil.Process(proxy.proc.pid)
    proxy.tool("echo", {"warm": "up"})
    before = process.memory_info().rss
    for params in requests:
        assert "id" in proxy.call("tools/call", params, timeout=30)
    return before, process.memory_info().rss


def test_distinct_huge_argument_keys_are_not_kept(start_proxy: StartProxy) -> None:
    s = start_proxy(policy=ALLOW_ALL)
    s.proxy.initialize()
    requests = [{"name": "echo", "arguments": {f"{k:07d}" + "a" * 1_000_000: 1}} for k in range(40)]
    before, after = _rss_after(s.proxy, requests)
    assert after - before < 20 << 20, (before, after)  # 40 MB when every key was kept


def test_distinct_huge_tool_names_are_not_kept(tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text('version: 1\nstatic_rules:\n  echo: ALLOW\n  "x*": DENY\n')
    proxy = Proxy(lilith_run("--policy", str(policy)), tmp_path)  # no audit log: only the policy's memo
    try:
        proxy.initialize()
        requests = [{"name": f"{k:07d}" + "a" * 1_000_000, "arguments": {}} for k in range(40)]
        before, after = _rss_after(proxy, requests)
        assert after - before < 20 << 20, (before, after)  # 80 MB when every name (and its reason) was kept
    finally:
        proxy.kill()


def test_distinct_huge_tool_names_are_not_kept_by_the_audit_log_either(start_proxy: StartProxy) -> None:
    """The writer's memo of reasons and tool names keeps no long text (a 1 MB name, and its reason quoting it,
    kept 2 MB per request), and a name longer than any tool's is logged as one keyed tag, never scanned."""
    s = start_proxy(policy='version: 1\nstatic_rules:\n  echo: ALLOW\n  "x*": DENY\n')
    s.proxy.initialize()
    requests = [{"name": f"{k:07d}" + "a" * 1_000_000, "arguments": {}} for k in range(40)]
    before, after = _rss_after(s.proxy, requests)
    assert after - before < 20 << 20, (before, after)  # 90 MB when every name and reason was kept
    tools = [r["tool"] for r in _records(s.audit, "decision") if r["method"] == "tools/call" and r["tool"] != "echo"]
    assert len(tools) == 40
    assert all(re.fullmatch(r"<truncated:1000007:[0-9a-f]+>", tool) for tool in tools), tools[0][:100]
