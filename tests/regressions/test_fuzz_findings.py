"""Replay every saved fuzz input (the committed seeds and the findings kept here) through its target."""

from __future__ import annotations

from pathlib import Path

import pytest
from fuzz.targets import TARGETS

ROOT = Path(__file__).resolve().parents[2]
SAVED = [
    path
    for folder in (ROOT / "fuzz" / "seeds", Path(__file__).parent / "findings")
    for path in sorted(folder.glob("*/*"))
    if path.is_file()
]


def test_every_target_has_seeds() -> None:
    assert {path.parent.name for path in SAVED} >= set(TARGETS)


@pytest.mark.parametrize("path", SAVED, ids=lambda p: f"{p.parents[1].name}/{p.parent.name}/{p.name}")
def test_saved_input_passes_its_target(path: Path) -> None:
    TARGETS[path.parent.name](path.read_bytes())
