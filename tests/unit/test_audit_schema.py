"""The JSON Schema of audit records: valid itself, strict, and in step with docs/audit.md."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from lilith.audit.schema import EVENTS, audit_record_schema
from lilith.audit.writer import AuditFile

DOCS = Path(__file__).resolve().parents[2] / "docs" / "audit.md"
KEY = b"k" * 32


@pytest.fixture(scope="module")
def validator() -> Any:
    schema = audit_record_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def _written(tmp_path: Path, record: dict[str, Any]) -> dict[str, Any]:
    import json

    path = tmp_path / "a.jsonl"
    path.unlink(missing_ok=True)
    Path(f"{path}.head").unlink(missing_ok=True)  # a new log, not one cut short
    audit = AuditFile(str(path), KEY, "never")
    audit.record(record)
    audit.close()
    return dict(json.loads(path.read_text()))


def test_a_written_decision_validates_and_an_undocumented_field_does_not(validator: Any, tmp_path: Path) -> None:
    record = {
        "event": "decision",
        "decision": "deny",
        "method": "tools/call",
        "tool": "x",
        "request_id": 1,
        "rule": "r",
        "reason": "why",
        "arguments": {"a": 1},
    }
    validator.validate(_written(tmp_path, record))
    with pytest.raises(jsonschema.ValidationError):
        validator.validate(_written(tmp_path, {**record, "surprise": 1}))
    with pytest.raises(jsonschema.ValidationError):
        validator.validate(_written(tmp_path, {**record, "decision": "maybe"}))
    missing = dict(record)
    del missing["rule"]
    with pytest.raises(jsonschema.ValidationError):
        validator.validate(_written(tmp_path, missing))


def test_an_unknown_event_is_refused(validator: Any, tmp_path: Path) -> None:
    with pytest.raises(jsonschema.ValidationError):
        validator.validate(_written(tmp_path, {"event": "mystery"}))


def test_every_event_and_field_is_documented() -> None:
    text = DOCS.read_text()
    for event, (required, optional) in EVENTS.items():
        section = re.search(rf"^### `{event}`\n(.*?)(?=^### |\Z)", text, re.MULTILINE | re.DOTALL)
        assert section is not None, f"docs/audit.md has no section for {event}"
        for field in [*required, *optional]:
            assert f"`{field}`" in section.group(1), f"docs/audit.md does not describe {event}.{field}"
