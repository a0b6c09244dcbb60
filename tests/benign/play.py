"""Play a list of requests against one reference server, straight or through ``lilith run``."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tests.benign import fixtures
from tests.benign.client import Exchange, RawClient
from tests.benign.sessions import ServerSpec

LILITH = str(Path(sys.executable).parent / "lilith")


class Placeholders:
    """``@ROOT@`` and ``@PORT@`` in calls, argv and environment, and back again in recordings."""

    def __init__(self, root: Path, port: int) -> None:
        self.pairs = (("@ROOT@", str(root)), ("@PORT@", str(port)))

    def fill(self, value: Any) -> Any:
        if isinstance(value, str):
            for token, actual in self.pairs:
                value = value.replace(token, actual)
            return value
        if isinstance(value, dict):
            return {self.fill(key): self.fill(item) for key, item in value.items()}
        if isinstance(value, list | tuple):
            return [self.fill(item) for item in value]
        return value

    def unfill(self, text: str) -> str:
        for token, actual in self.pairs:
            text = text.replace(actual, token)
        return text


def play(
    spec: ServerSpec,
    requests: Sequence[dict[str, Any]],
    root: Path,
    places: Placeholders,
    logs: Path,
    *,
    through: Sequence[str] = (),
) -> list[Exchange]:
    """Rebuild the fixture, start the server (behind ``lilith run`` + ``through`` options when given), play
    the handshake and every request in order; return the exchanges, handshake first."""
    fixtures.build(root)
    argv = [str(part) for part in places.fill(list(spec.argv))]
    if through:
        argv = [LILITH, "run", *through, "--", *argv]
    env = {**os.environ, **{name: str(places.fill(value)) for name, value in spec.env}}
    client = RawClient(argv, env, root, logs / f"{spec.name}-{'lilith' if through else 'direct'}.stderr")
    try:
        exchanges = [client.initialize()]
        exchanges += [client.exchange(places.fill(request)) for request in requests]
    finally:
        client.close()
    return exchanges
