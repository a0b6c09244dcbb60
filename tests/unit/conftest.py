from __future__ import annotations

import pytest

from lilith.core.session import Session
from tests.unit.fakes import MemoryAudit, MemoryLog, make_session


@pytest.fixture
def audit() -> MemoryAudit:
    return MemoryAudit()


@pytest.fixture
def log() -> MemoryLog:
    return MemoryLog()


@pytest.fixture
def session(audit: MemoryAudit, log: MemoryLog) -> Session:
    return make_session(audit, log)
