"""Every catalogue case, played through a real Lilith in front of the hostile server.

A case whose defence Lilith lacks is ``xfail(strict=True)`` with the missing defence as the reason
(``gaps.py``): it must keep failing, on an expectation and not on a harness error, until the defence
lands; then it passes, strict xfail turns that into a failure, and the mark must go.
"""

from __future__ import annotations

import pytest

from tests.redteam.catalogue import CATALOGUE
from tests.redteam.model import Case
from tests.redteam.runner import CataloguePlayer

PARAMS = [
    pytest.param(
        case,
        id=case.id,
        marks=[pytest.mark.xfail(strict=True, reason=case.xfail, raises=AssertionError)] if case.xfail else [],
    )
    for case in CATALOGUE
]


@pytest.mark.parametrize("case", PARAMS)
def test_case(case: Case, redteam: CataloguePlayer) -> None:
    case.verify(redteam.observe(case))
