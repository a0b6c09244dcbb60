"""Load and validate a policy file into a frozen ``Policy``; every error names ``file:line:col``."""

from __future__ import annotations

from typing import Any

from lilith.errors import PolicyError
from lilith.policy.decision import Decision
from lilith.policy.static_rules import ALLOW, DENY, StaticRules
from lilith.policy.yaml_source import YamlDocument, load_yaml

_METADATA_KEYS = frozenset({"id", "customer_id", "customerId", "name", "description"})
# Sections of the full policy language that this build cannot enforce yet. Accepting them silently would
# let a user believe a rule protects them when it does not, so they are refused.
_NOT_YET_ENFORCED = frozenset(
    {
        "mode",
        "argument_rules",
        "argumentRules",
        "rate_limits",
        "rateLimits",
        "rate_limit",
        "rateLimit",
        "tool_classes",
        "toolClasses",
        "taint_rules",
        "taintRules",
        "protect_lethal_trifecta",
        "protectLethalTrifecta",
        "resource_rules",
        "resourceRules",
        "prompt_rules",
        "promptRules",
        "pin_mode",
        "pinMode",
        "on_deny",
    }
)


class Policy:
    """A loaded, compiled policy. Never mutated after loading (a reload builds a new one)."""

    __slots__ = ("source", "static_rules")

    def __init__(self, source: str, static_rules: StaticRules) -> None:
        self.source = source
        self.static_rules = static_rules

    def decide_tool_call(self, tool: str) -> Decision:
        return self.static_rules.decide(tool)


def deny_all_policy() -> Policy:
    """What runs when no policy was given: every tool call is denied."""
    return Policy("<no policy>", StaticRules({}, ()))


def load_policy(path: str) -> Policy:
    file = str(path)
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except FileNotFoundError:
        raise PolicyError("policy file not found", file=file) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyError(f"cannot read policy file: {exc}", file=file) from None
    return parse_policy(text, file)


def parse_policy(text: str, file: str) -> Policy:
    doc = load_yaml(text, file)
    root = doc.value
    if not isinstance(root, dict):
        raise doc.error((), "a policy must be a YAML mapping (e.g. 'version: 1' and 'static_rules: ...')")
    rules: dict[str, str] = {}
    for key, value in root.items():
        if key == "version":
            if value not in (1, "1", "1.0"):
                raise doc.error(("version",), f"unsupported policy version {value!r}; this build reads version 1")
        elif key in ("static_rules", "staticRules"):
            rules = _static_rules(doc, (key,), value)
        elif key in _METADATA_KEYS:
            continue
        elif key in _NOT_YET_ENFORCED:
            raise doc.error(
                (str(key),), f"'{key}' is not supported by this version of Lilith; refusing a policy it cannot enforce"
            )
        else:
            raise doc.error((str(key),), f"unknown key '{key}' (expected version, static_rules)")
    return Policy(file, StaticRules.compile(rules))


def _static_rules(doc: YamlDocument, path: tuple[str, ...], value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise doc.error(path, "static_rules must map tool names or globs to ALLOW or DENY")
    rules: dict[str, str] = {}
    for tool, verdict in value.items():
        where = (*path, str(tool))
        if not isinstance(tool, str) or not tool:
            raise doc.error(where, "a static rule's key must be a non-empty tool name or glob")
        if "\x00" in tool:
            raise doc.error(where, "a tool name cannot contain NUL")
        if not isinstance(verdict, str) or verdict.upper() not in (ALLOW, DENY):
            raise doc.error(where, f"rule for '{tool}' must be ALLOW or DENY, not {verdict!r}")
        rules[tool] = verdict.upper()
    return rules
