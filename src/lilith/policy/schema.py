"""JSON Schema (draft 2020-12) of policy.yaml, for editor completion (``lilith policy schema``).

The loader is the authority (it also checks regexes, globs, paths and cross-field rules); this schema
mirrors its shape so editors can complete and flag keys early.
"""

from __future__ import annotations

from typing import Any

_NAME = {"type": "string", "minLength": 1, "description": "an exact name, or a glob with * ? [...]"}
_TAGS = {"oneOf": [{"type": "string", "minLength": 1}, {"type": "array", "items": {"type": "string"}, "minItems": 1}]}
_TAGS_OR_NONE = {"oneOf": [{"type": "string", "minLength": 1}, {"type": "array", "items": {"type": "string"}}]}
_ID = {"type": "string", "minLength": 1}
_TEXT = {"type": "string"}


def _rule(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {"id": _ID, "description": _TEXT, **properties},
        "required": required,
        "additionalProperties": False,
    }


_ARGUMENT_RULE = _rule(
    {
        "tool": _NAME,
        "arg": {"type": "string", "description": 'dotted path into the arguments; "**" = every string'},
        "match": {"type": "string", "description": "RE2, full match"},
        "not_match": {"type": "string", "description": "RE2, found anywhere denies"},
        "path_within": {"type": "array", "items": {"type": "string"}, "minItems": 1},
        "path_not_within": {"type": "array", "items": {"type": "string"}, "minItems": 1},
        "one_of": {"type": "array", "minItems": 1},
        "max_length": {"type": "integer", "minimum": 0},
        "url_host_in": {"type": "array", "items": {"type": "string"}, "minItems": 1},
        "url_host_not_in": {"type": "array", "items": {"type": "string"}, "minItems": 1},
        "no_leading_dash": {"const": True},
    },
    ["tool", "arg"],
)
_VALUE = {
    "description": "a JSON value (for eq/ne/in/not_in: compared with its type; for path_within/path_not_within: "
    "a root or a list of roots)"
}
_ARG_OPS = [  # lilith.policy.conditions.ARG_OPS
    *("eq", "ne", "lt", "le", "gt", "ge", "in", "not_in", "matches", "glob", "exists"),
    *("path_within", "path_not_within"),
]
_CONDITION_REF = {"$ref": "#/$defs/condition"}
_CONDITION_LIST = {"type": "array", "items": _CONDITION_REF, "minItems": 1}
_CONDITION = {
    "description": "a condition (lilith.policy.conditions); one key per mapping, or true/false",
    "oneOf": [
        {"type": "boolean"},
        {"type": "object", "properties": {"all": _CONDITION_LIST}, "required": ["all"], "additionalProperties": False},
        {"type": "object", "properties": {"any": _CONDITION_LIST}, "required": ["any"], "additionalProperties": False},
        {"type": "object", "properties": {"and": _CONDITION_LIST}, "required": ["and"], "additionalProperties": False},
        {"type": "object", "properties": {"or": _CONDITION_LIST}, "required": ["or"], "additionalProperties": False},
        {"type": "object", "properties": {"not": _CONDITION_REF}, "required": ["not"], "additionalProperties": False},
        {
            "type": "object",
            "properties": {
                "arg": {"type": "string", "description": "dotted path into the arguments (a.b.0)"},
                "op": {"enum": _ARG_OPS},
                "value": _VALUE,
            },
            "required": ["arg", "op"],
            "additionalProperties": False,
        },
        {
            "type": "object",
            "properties": {
                "session": {"enum": ["taints", "call_count"]},
                "op": {"enum": ["contains", "not_contains", "eq", "ne", "lt", "le", "gt", "ge"]},
                "value": _VALUE,
            },
            "required": ["session", "op", "value"],
            "additionalProperties": False,
        },
        {
            "type": "object",
            "properties": {"tool_args_match": {"type": "object", "minProperties": 1}},
            "required": ["tool_args_match"],
            "additionalProperties": False,
        },
        *(
            {
                "type": "object",
                "properties": {op: {"type": "array", "minItems": 2, "maxItems": 2}},
                "required": [op],
                "additionalProperties": False,
            }
            for op in ("==", "!=", "<", "<=", ">", ">=")
        ),
    ],
}
_EXCEPTION = {
    "type": "object",
    "properties": {"when": _CONDITION_REF, "reason": _TEXT, "description": _TEXT},
    "required": ["when"],
    "additionalProperties": False,
}
_TAINT_RULE = {
    "type": "object",
    "properties": {
        "when": _CONDITION_REF,
        "conditions": _CONDITION_LIST,
        "pattern": _CONDITION_REF,
        "exceptions": {"type": "array", "items": _EXCEPTION},
        "id": _ID,
        "description": _TEXT,
        "tool": _NAME,
        "tool_class": {"type": "string", "minLength": 1},
        "toolClass": {"type": "string", "minLength": 1},
        "action": {"enum": ["ADD_TAINT", "REMOVE_TAINT", "CHECK_TAINT", "BLOCK", "ALLOW"]},
        "tag": {"type": "string", "minLength": 1},
        "forbidden_tags": _TAGS,
        "forbiddenTags": _TAGS,
        "required_taints": _TAGS,
        "requiredTaints": _TAGS,
        "result_matches": {"type": "string", "minLength": 1},
        "resultMatches": {"type": "string", "minLength": 1},
        "error": _TEXT,
    },
    "required": ["action"],
    "additionalProperties": False,
}
_RATE_LIMIT = _rule(
    {
        "tool": _NAME,
        "max_calls": {"type": "integer", "minimum": 1},
        "per_seconds": {"type": "number", "exclusiveMinimum": 0, "maximum": 86400},
        "per_tool": {"type": "boolean"},
    },
    ["tool", "max_calls", "per_seconds"],
)
_VERDICT = {"enum": ["ALLOW", "BLOCK", "DENY", "allow", "block", "deny"]}
_SANITIZE = {
    "description": "what servers show the client (lists, results); every switch defaults to true",
    "oneOf": [
        {"type": "boolean", "description": "false: all off; true: the defaults"},
        {"type": "null"},
        {
            "type": "object",
            "properties": {
                "strip_control": {
                    "type": "boolean",
                    "description": "remove ANSI escapes, control, bidi, zero-width and tag characters",
                },
                "hide_poisoned_tools": {
                    "type": "boolean",
                    "description": "hide tools, prompts and resources whose metadata hides instructions",
                },
                "strict_listings": {
                    "type": "boolean",
                    "description": "refuse malformed lists; hide names listed twice with different definitions",
                },
            },
            "additionalProperties": False,
        },
    ],
}


def policy_schema() -> dict[str, Any]:
    static_rules = {"type": "object", "additionalProperties": {"enum": ["ALLOW", "DENY", "allow", "deny"]}}
    tool_classes = {"type": "object", "additionalProperties": _TAGS}
    taint_rules = {"type": "array", "items": _TAINT_RULE}
    rate_limits = {"type": "array", "items": _RATE_LIMIT}
    positive = {"type": "integer", "minimum": 1}
    session_rate_limit = {
        "type": "object",
        "description": "lilith-zero's form: all tool calls of the session together",
        "properties": {
            "max_calls_per_minute": positive,
            "maxCallsPerMinute": positive,
            "max_calls_per_session": positive,
            "maxCallsPerSession": positive,
        },
        "additionalProperties": False,
        "minProperties": 1,
    }
    replay_window = {
        "type": "integer",
        "minimum": 0,
        "maximum": 86400,
        "description": "seconds a finished request's id may not be used again",
    }
    argument_rules = {"type": "array", "items": _ARGUMENT_RULE}
    resource_rules = {
        "type": "array",
        "items": _rule(
            {"uri_pattern": _NAME, "action": _VERDICT, "taints_to_add": _TAGS_OR_NONE, "taintsToAdd": _TAGS_OR_NONE},
            ["uri_pattern", "action"],
        ),
    }
    prompt_rules = {"type": "array", "items": _rule({"prompt": _NAME, "action": _VERDICT}, ["prompt", "action"])}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$defs": {"condition": _CONDITION},
        "title": "Lilith Zero policy",
        "type": "object",
        "properties": {
            "version": {"enum": [1, "1", "1.0"]},
            "id": _TEXT,
            "customer_id": _TEXT,
            "customerId": _TEXT,
            "name": _TEXT,
            "description": _TEXT,
            "mode": {"enum": ["enforce", "audit"]},
            "on_deny": {"enum": ["error", "tool_result"]},
            "onDeny": {"enum": ["error", "tool_result"]},
            "pin_mode": {"enum": ["enforce", "audit", "off", False]},
            "pinMode": {"enum": ["enforce", "audit", "off", False]},
            "static_rules": static_rules,
            "staticRules": static_rules,
            "argument_rules": argument_rules,
            "argumentRules": argument_rules,
            "rate_limits": rate_limits,
            "rateLimits": rate_limits,
            "rate_limit": session_rate_limit,
            "rateLimit": session_rate_limit,
            "replay_window_secs": replay_window,
            "replayWindowSecs": replay_window,
            "schema_version": {"enum": [1]},
            "schemaVersion": {"enum": [1]},
            "created_at": _TEXT,
            "createdAt": _TEXT,
            "tool_classes": tool_classes,
            "toolClasses": tool_classes,
            "taint_rules": taint_rules,
            "taintRules": taint_rules,
            "protect_lethal_trifecta": {"type": "boolean"},
            "protectLethalTrifecta": {"type": "boolean"},
            "resource_rules": resource_rules,
            "resourceRules": resource_rules,
            "prompt_rules": prompt_rules,
            "promptRules": prompt_rules,
            "sanitize": _SANITIZE,
        },
        "additionalProperties": False,
    }
