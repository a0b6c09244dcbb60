"""One player for the whole session: each group of cases is played once (see ``runner.py``)."""

from __future__ import annotations

import pytest

from tests.redteam.catalogue import CATALOGUE
from tests.redteam.runner import CataloguePlayer


@pytest.fixture(scope="session")
def redteam(tmp_path_factory: pytest.TempPathFactory) -> CataloguePlayer:
    return CataloguePlayer(CATALOGUE, tmp_path_factory.mktemp("redteam"))
