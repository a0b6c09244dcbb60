"""Checks every audit record a test's real Lilith run wrote against the documented JSON Schema."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

from lilith.audit.schema import audit_record_schema


@functools.cache
def _validator() -> Any:
    import jsonschema

    return jsonschema.Draft202012Validator(audit_record_schema())


def schema_problems(path: Path) -> list[str]:
    """``file:line: problem`` for each record of ``path`` (and its rotated files) that does not validate.
    Lines that are not JSON objects (a torn tail after a SIGKILL, a test's own tampering) are not records."""
    problems: list[str] = []
    for file in sorted(path.parent.glob(path.name + "*")):
        if not file.name[len(path.name) :].lstrip(".").isdigit() and file != path:
            continue
        if not file.is_file():  # a test's planted FIFO or directory
            continue
        for number, line in enumerate(file.read_bytes().splitlines(), start=1):
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if not isinstance(record, dict):
                continue
            for error in _validator().iter_errors(record):
                where = "/".join(str(p) for p in error.absolute_path) or "record"
                problems.append(f"{file}:{number}: {record.get('event')!r} {where}: {error.message}")
    return problems
