"""Keys that may be written two ways (``taint_rules`` or lilith-zero's ``taintRules``), in one mapping only once.

A mapping is read with one spelling of each such key; had it both, one of them would be silently ignored (a
duplicate key under another name, which the YAML reader cannot see). So a mapping that has both is refused,
with ``file:line:col`` pointing at the second, in sections and inside rules alike.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lilith.policy.yaml_source import Path, YamlDocument

# A rule's keys in lilith-zero's camelCase, with the spelling this project reads them under.
RULE_KEY_SPELLINGS: Mapping[str, str] = {
    "toolClass": "tool_class",
    "forbiddenTags": "forbidden_tags",
    "requiredTaints": "required_taints",
    "resultMatches": "result_matches",
    "taintsToAdd": "taints_to_add",
}


def refuse_two_spellings(
    doc: YamlDocument, path: Path, mapping: Mapping[Any, Any], spellings: Mapping[str, str], what: str
) -> None:
    """Raise a ``PolicyError`` at the second key of ``mapping`` (found at ``path``) that spells a key already
    present under its other spelling. ``spellings`` maps each alternative spelling to the one it stands for;
    ``what`` names the kind of key in the message ("section", "key")."""
    seen: dict[str, str] = {}
    for key in mapping:
        if not isinstance(key, str):
            continue
        first = seen.setdefault(spellings.get(key, key), key)
        if first != key:
            raise doc.error(
                (*path, key), f"'{key}' repeats the {what} '{first}' under its other spelling; write the {what} once"
            )


def spelled(mapping: Mapping[Any, Any], key: str, spellings: Mapping[str, str] = RULE_KEY_SPELLINGS) -> str | None:
    """The spelling of ``key`` that ``mapping`` uses (one at most, once ``refuse_two_spellings`` passed), or None."""
    if key in mapping:
        return key
    return next((other for other, meant in spellings.items() if meant == key and other in mapping), None)
