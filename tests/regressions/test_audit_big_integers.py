"""Integers beyond 64 bits in an audited request (found by ``make fuzz``, session target).

The codec carries them exactly, but the audit writer serialised records with orjson only, which refuses
them: ``AuditFile.record`` raised ``TypeError`` (not ``AuditWriteError``), so a ``tools/call`` with such an id
or argument was answered "-32603 internal error" with no audit record. The writer now falls back to the
stdlib encoder, which writes them exactly.
"""

from __future__ import annotations

from pathlib import Path

from lilith.audit.chain import verify
from lilith.audit.writer import AuditFile
from tests.integration.conftest import StartProxy
from tests.integration.harness import recorded

BIG = 2**70
KEY = b"k" * 32


def test_the_audit_writer_records_big_integers_exactly(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    audit = AuditFile(str(path), KEY)
    audit.record({"event": "decision", "decision": "allow", "request_id": BIG, "arguments": {"n": BIG}})
    audit.close()
    assert str(BIG).encode() in path.read_bytes()
    assert verify(path.read_bytes(), KEY).ok


def test_a_call_with_a_big_integer_argument_is_forwarded_and_audited(start_proxy: StartProxy) -> None:
    started = start_proxy()
    started.proxy.initialize()
    reply = started.proxy.tool("echo", {"n": BIG})
    assert "result" in reply, reply
    calls = [m for m in recorded(started.record) if isinstance(m, dict) and m.get("method") == "tools/call"]
    assert calls[-1]["params"]["arguments"] == {"n": BIG}
    assert str(BIG).encode() in started.audit.read_bytes()
