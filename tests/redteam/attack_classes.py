"""The attack classes every red-team case belongs to: the list in the team's MCP notes ("Attack classes").

The notes live outside the repository (``/work/shared/docs/mcp-notes.md``); this table is their list,
numbered as there, with a short slug that the catalogue uses. ``test_catalogue.py`` checks the table
against the notes whenever they are present, so the two cannot drift apart silently.
"""

from __future__ import annotations

from typing import NamedTuple


class AttackClass(NamedTuple):
    number: int
    slug: str
    title: str  # exactly as in the notes' bold heading


ATTACK_CLASSES: tuple[AttackClass, ...] = (
    AttackClass(1, "tool-poisoning", "Tool poisoning"),
    AttackClass(2, "rug-pull", "Rug pull"),
    AttackClass(3, "shadowing", "Shadowing / name collision"),
    AttackClass(4, "line-jumping", "Line jumping"),
    AttackClass(5, "invisible-characters", "Invisible and control characters"),
    AttackClass(6, "result-injection", "Prompt injection in tool results"),
    AttackClass(7, "lethal-trifecta", "Lethal trifecta"),
    AttackClass(8, "path-traversal", "Path traversal"),
    AttackClass(9, "argument-injection", "Argument / flag injection"),
    AttackClass(10, "oversized-input", "Oversized or deeply nested JSON"),
    AttackClass(11, "parser-differential", "Duplicate keys / parser differentials"),
    AttackClass(12, "batches", "Batches"),
    AttackClass(13, "id-collision", "Id collisions"),
    AttackClass(14, "homoglyphs", "Homoglyphs"),
    AttackClass(15, "token-passthrough", "Token passthrough / confused deputy"),
)

SLUGS = frozenset(attack.slug for attack in ATTACK_CLASSES)
NOTES_REFERENCE = "mcp-notes.md, Attack classes"


def reference(slug: str) -> str:
    """The notes' section for one class, e.g. ``mcp-notes.md, Attack classes #8 (Path traversal)``."""
    for attack in ATTACK_CLASSES:
        if attack.slug == slug:
            return f"{NOTES_REFERENCE} #{attack.number} ({attack.title})"
    raise KeyError(slug)
