"""The catalogue against the attack classes, both ways: every class has cases, every case names a class."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest

from tests.redteam import gaps
from tests.redteam.attack_classes import ATTACK_CLASSES, SLUGS
from tests.redteam.catalogue import CATALOGUE
from tests.redteam.model import ERAS
from tests.redteam.runner import POLICIES

NOTES = Path("/work/shared/docs/mcp-notes.md")
CASE_ID = re.compile(r"RT-[A-Z]{3}-\d{3}")
KNOWN_GAPS = {value for name, value in vars(gaps).items() if name.isupper() and isinstance(value, str)}


def test_catalogue_is_large_enough() -> None:
    assert len(CATALOGUE) >= 150, len(CATALOGUE)


def test_case_ids_are_unique_and_well_formed() -> None:
    counts = Counter(case.id for case in CATALOGUE)
    assert not [case_id for case_id, n in counts.items() if n > 1], "duplicate case ids"
    assert not [case.id for case in CATALOGUE if not CASE_ID.fullmatch(case.id)]


def test_every_case_names_a_known_class() -> None:
    assert not [(case.id, case.attack_class) for case in CATALOGUE if case.attack_class not in SLUGS]


def test_every_class_has_cases() -> None:
    covered = Counter(case.attack_class for case in CATALOGUE)
    assert not [attack.slug for attack in ATTACK_CLASSES if covered[attack.slug] == 0]


def test_every_case_is_complete() -> None:
    for case in CATALOGUE:
        assert case.title and case.reference and case.steps, case.id
        assert case.expect, f"{case.id} expects nothing"
        assert (POLICIES / f"{case.policy}.yaml").is_file(), f"{case.id}: no policy {case.policy!r}"
        assert case.era in ERAS, f"{case.id}: unknown era {case.era!r}"
        if case.xfail is not None:
            assert case.xfail in KNOWN_GAPS, f"{case.id}: the xfail reason must be a named gap in gaps.py"


def test_classes_match_the_notes() -> None:
    """The class table is the notes' list, numbered and titled alike (when the notes are on this machine)."""
    if not NOTES.is_file():
        pytest.skip(f"{NOTES} is not on this machine")
    section = NOTES.read_text(encoding="utf-8").split("## Attack classes", 1)[1].split("\n## ", 1)[0]
    listed = [(int(number), title) for number, title in re.findall(r"^(\d+)\. \*\*(.+?)\*\*", section, re.M)]
    assert listed == [(attack.number, attack.title) for attack in ATTACK_CLASSES]
