"""Record the benign corpus: play every session of ``sessions.py`` straight against the reference servers
and save each request with the answer it got, as JSON lines, in ``corpus.jsonl`` next to this file.

    .venv/bin/python -m tests.benign.record

Run it again when a session changes; the replay test (``test_benign.py``) reads the requests from the
corpus. Answers are kept for reference (servers change between versions, so the test compares Lilith
with a direct run made at test time, not with these). Paths under the fixture and the web site's port
are written as ``@ROOT@`` and ``@PORT@``.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from tests.benign import fixtures
from tests.benign.play import Placeholders, play
from tests.benign.sessions import SERVERS, ServerSpec

CORPUS = Path(__file__).resolve().parent / "corpus.jsonl"


def requests_for(spec: ServerSpec) -> list[dict[str, Any]]:
    return [
        {"jsonrpc": "2.0", "id": n, "method": method, "params": params}
        for n, (method, params) in enumerate(spec.calls(), start=1)
    ]


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="lilith-benign-") as tmp:
        root = Path(tmp) / "world"
        lines: list[str] = []
        with fixtures.web_site(Path(tmp) / "site") as port:
            places = Placeholders(root, port)
            for spec in SERVERS:
                exchanges = play(spec, requests_for(spec), root, places, Path(tmp))
                for exchange in exchanges[1:]:  # the handshake is the client's, not part of the corpus
                    answer = json.loads(places.unfill(exchange.answer.decode("utf-8")))
                    request = json.loads(places.unfill(json.dumps(exchange.request, ensure_ascii=False)))
                    record = {"server": spec.name, "request": request, "response": answer}
                    lines.append(json.dumps(record, ensure_ascii=False, sort_keys=True))
                print(f"{spec.name}: {len(exchanges) - 1} calls", file=sys.stderr)
    CORPUS.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"{len(lines)} calls written to {CORPUS}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
