"""JSON Schema (draft 2020-12) of audit records, version 1; ``lilith audit schema`` prints it.

Every record has the envelope (``v``, ``ts``, ``session``, ``seq``, ``prev``, ``event``, ``mac``) and the
fields of its event. The schema is strict (no unknown fields) so that a field added to the writer without
being documented fails the tests; readers of the log should ignore fields they do not know, because a new
optional field does not change ``v`` (see docs/audit.md, "Versions").
"""

from __future__ import annotations

from typing import Any

from lilith.audit.writer import SCHEMA_VERSION

_HEX64 = {"type": "string", "pattern": "^[0-9a-f]{64}$"}
_STR = {"type": "string"}
_OPT_STR = {"type": ["string", "null"]}
_INT = {"type": "integer"}
_OPT_INT = {"type": ["integer", "null"]}
_COUNT = {"type": "integer", "minimum": 0}
_NUMBER = {"type": "number"}
_ANY: dict[str, Any] = {}
_REQUEST_ID = {"type": ["string", "number", "null"]}
_TAGS = {"type": "array", "items": {"type": "string"}}
_ENVELOPE: dict[str, Any] = {
    "v": {"const": SCHEMA_VERSION, "description": "record format version"},
    "ts": {"type": "number", "description": "wall-clock time of writing, seconds since the epoch"},
    "session": {"type": "string", "pattern": "^[0-9a-f]{32}$", "description": "one Lilith run"},
    "seq": {"type": "integer", "minimum": 1, "description": "1, 2, 3 … within the session"},
    "prev": {**_HEX64, "description": "SHA-256 of the previous line (64 zeros for the very first)"},
    "mac": {**_HEX64, "description": "HMAC-SHA256 of the line up to this field, under the audit key"},
}

# event -> (required fields, optional fields)
EVENTS: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "session_start": ({"server_command": {"type": "array"}, "server_pid": _OPT_INT, "policy": _OPT_STR}, {}),
    "policy_load": ({"file": _OPT_STR, "sha256": {"type": ["string", "null"], "pattern": "^[0-9a-f]{64}$"}}, {}),
    "policy_reload": (
        {"outcome": {"enum": ["applied", "rejected"]}, "file": _STR},
        {"trigger": _STR, "error": _STR, "sha256": _HEX64},
    ),
    "decision": (
        {
            "decision": {"enum": ["allow", "deny", "would-deny"]},
            "method": _OPT_STR,
            "tool": _OPT_STR,
            "request_id": _REQUEST_ID,
            "rule": _OPT_STR,
            "reason": _OPT_STR,
        },
        {"arguments": _ANY, "uri": _ANY, "taints_before": _TAGS, "taints_after": _TAGS, "latency_us": _COUNT},
    ),
    "result": (
        {
            "method": _OPT_STR,
            "tool": _OPT_STR,
            "request_id": _REQUEST_ID,
            "size": _COUNT,
            "is_error": {"type": ["boolean", "null"]},
            "preview": _STR,
        },
        {"latency_ms": _NUMBER},
    ),
    "initialize": (
        {
            "client_info": _ANY,
            "protocol_version": _ANY,
            "server_info": _ANY,
            "negotiated_version": _ANY,
        },
        {},
    ),
    "taints_changed": (
        {
            "tool": _STR,
            "request_id": _REQUEST_ID,
            "cause": {"enum": ["result_matches", "remove_taint", "remove_taint+result_matches"]},
            "taints_before": _TAGS,
            "taints_after": _TAGS,
        },
        {},
    ),
    "request_timeout": (
        {"request_id": _REQUEST_ID, "method": _OPT_STR, "tool": _OPT_STR, "after_seconds": _NUMBER},
        {"startup": {"type": "boolean"}},
    ),
    "server_exit": (
        {
            "pid": _OPT_INT,
            "returncode": _OPT_INT,
            "signal": _OPT_INT,
            "reason": _STR,
            "limit": _OPT_STR,
            "pending_failed": _COUNT,
        },
        {},
    ),
    "server_restart": ({"attempt": {"type": "integer", "minimum": 1}, "pid": _OPT_INT}, {}),
    "session_end": (
        {
            "reason": {"enum": ["client_closed", "signal", "server_exit"]},
            "exit_code": _INT,
            "decisions": _COUNT,
            "denied": _COUNT,
        },
        {},
    ),
    "tools_pinned": ({"tools": {"type": "array", "items": {"type": "string"}}}, {}),
    "pin_mismatch": (
        {
            "tool": _STR,
            "change": {"enum": ["changed", "new"]},
            "fields": {"type": "array", "items": {"type": "string"}},
            "mode": {"enum": ["enforce", "audit"]},
            "hidden": {"type": "boolean"},
            "reason": _STR,
        },
        {},
    ),
    "sanitize": (
        {
            "method": _STR,
            "action": {"enum": ["hide", "drop", "refuse", "strip"]},
            "reason": _STR,
            "applied": {"type": "boolean"},
        },
        {"item": _STR, "rule": _STR, "removed": {"type": "object", "additionalProperties": _COUNT}},
    ),
    "log_resumed": ({"torn_bytes": {"type": "integer", "minimum": 1}, "torn_sha256": _HEX64}, {}),
    "log_rotated": (
        {"previous_file": _STR, "previous_hash": _HEX64, "reason": {"enum": ["size", "interval", "resumed", "moved"]}},
        {"torn_bytes": {"type": "integer", "minimum": 1}, "torn_sha256": _HEX64},
    ),
    "head_mismatch": (
        {"problem": _STR},
        {"head_seq": _INT, "head_session": _STR, "head_hash": _HEX64},
    ),
    "log_started_over": ({"head_seq": _INT, "head_session": _STR, "head_hash": _HEX64}, {}),
    "log_replaced": (
        {
            "reason": {"enum": ["deleted", "moved", "truncated"]},
            "previous_seq": _COUNT,
            "previous_hash": _HEX64,
            "seen_seq": _COUNT,
            "seen_ts": _NUMBER,
        },
        {},
    ),
    "head_missing": ({}, {}),
    "record_revoked": ({"revoked_seq": {"type": "integer", "minimum": 1}, "error": _STR}, {}),
    "records_lost": (
        {
            "count": {"type": "integer", "minimum": 1},
            "failure_mode": {"enum": ["deny", "continue"]},
            "error": _STR,
            "since": _NUMBER,
        },
        {"torn_bytes": {"type": "integer", "minimum": 1}, "torn_sha256": _HEX64},
    ),
}


def _event_schema(event: str, required: dict[str, Any], optional: dict[str, Any]) -> dict[str, Any]:
    properties = {**_ENVELOPE, "event": {"const": event}, **required, **optional}
    return {
        "if": {"properties": {"event": {"const": event}}, "required": ["event"]},
        "then": {
            "properties": properties,
            "required": [*_ENVELOPE, "event", *required],
            "additionalProperties": False,
        },
    }


def audit_record_schema() -> dict[str, Any]:
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://lilith.invalid/schemas/audit-record-v1.json",
        "title": f"Lilith audit record, version {SCHEMA_VERSION}",
        "type": "object",
        "required": [*_ENVELOPE, "event"],
        "properties": {**_ENVELOPE, "event": {"enum": sorted(EVENTS)}},
        "allOf": [_event_schema(event, *fields) for event, fields in EVENTS.items()],
    }
