"""The red-team catalogue: every case, from every area module, in one list."""

from __future__ import annotations

from tests.redteam.catalogue import (
    arguments,
    batches,
    differentials,
    ids,
    list_tricks,
    oversized,
    paths,
    poisoning,
    server_messages,
    sessions,
    tool_names,
)
from tests.redteam.model import Case

CATALOGUE: list[Case] = [
    *tool_names.CASES,
    *paths.CASES,
    *arguments.CASES,
    *oversized.CASES,
    *differentials.CASES,
    *batches.CASES,
    *ids.CASES,
    *poisoning.CASES,
    *list_tricks.CASES,
    *server_messages.CASES,
    *sessions.CASES,
]
