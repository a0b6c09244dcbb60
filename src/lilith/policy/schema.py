"""JSON Schema (draft 2020-12) of policy.yaml, for editor completion (``lilith policy schema``).

The loader is the authority (it also checks regexes, globs, paths and cross-field rules); this schema
mirrors its shape so editors can complete and flag keys early.
"""

from __future__ import annotations

from typing import Any

_NAME = {"type": "string", "minLength": 1, "description": "an exact name, or a glob with * ? [...]"}
_TAGS = {"oneOf": [{"type": "string", "minLength": 1}, {"type": "array", "items": {"type": "string"}, "minItems": 1}]}
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
_TAINT_RULE = {
    "type": "object",
    "properties": {
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


def policy_schema() -> dict[str, Any]:
    static_rules = {"type": "object", "additionalProperties": {"enum": ["ALLOW", "DENY", "allow", "deny"]}}
    tool_classes = {"type": "object", "additionalProperties": _TAGS}
    taint_rules = {"type": "array", "items": _TAINT_RULE}
    rate_limits = {"type": "array", "items": _RATE_LIMIT}
    argument_rules = {"type": "array", "items": _ARGUMENT_RULE}
    resource_rules = {
        "type": "array",
        "items": _rule({"uri_pattern": _NAME, "action": _VERDICT}, ["uri_pattern", "action"]),
    }
    prompt_rules = {"type": "array", "items": _rule({"prompt": _NAME, "action": _VERDICT}, ["prompt", "action"])}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
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
            "static_rules": static_rules,
            "staticRules": static_rules,
            "argument_rules": argument_rules,
            "argumentRules": argument_rules,
            "rate_limits": rate_limits,
            "rateLimits": rate_limits,
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
        },
        "additionalProperties": False,
    }
