"""No false positives: the benign corpus, played through Lilith with a realistic policy, is never blocked
and gets exactly what the servers answer directly.

For each reference server, the recorded requests are played twice side by side, each run on a fresh
copy of the fixture: once straight to the server, once through ``lilith run`` with ``policy.yaml``. Every
answer must be byte-identical (``compare.py`` says what is normalised and why), no answer may be a
Lilith denial, and every decision in the audit log must be an allow.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from lilith.policy.loader import load_policy
from tests.benign import fixtures
from tests.benign.client import Exchange
from tests.benign.compare import expected_through, is_denial, normalise
from tests.benign.play import Placeholders, play
from tests.benign.sessions import NODE_BIN, SERVERS, ServerSpec

HERE = Path(__file__).resolve().parent
CORPUS = HERE / "corpus.jsonl"
POLICY = HERE / "policy.yaml"
MIN_CALLS = 200


def corpus() -> dict[str, list[dict[str, Any]]]:
    by_server: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for line in CORPUS.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        by_server[record["server"]].append(record["request"])
    return by_server


@pytest.fixture(scope="module")
def site_port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    with fixtures.web_site(tmp_path_factory.mktemp("site")) as port:
        yield port


def test_corpus_is_large_and_covers_every_server() -> None:
    recorded = corpus()
    assert sum(len(requests) for requests in recorded.values()) >= MIN_CALLS
    assert set(recorded) == {spec.name for spec in SERVERS}
    methods = {request["method"] for requests in recorded.values() for request in requests}
    assert {"tools/list", "tools/call", "resources/list", "resources/read", "prompts/list", "prompts/get"} <= methods


@pytest.mark.parametrize("spec", SERVERS, ids=[spec.name for spec in SERVERS])
def test_replay_through_lilith_matches_direct(spec: ServerSpec, site_port: int, tmp_path: Path) -> None:
    if spec.argv[0].startswith(str(NODE_BIN)) and not Path(spec.argv[0]).exists():
        pytest.skip(f"{spec.argv[0]} is not installed (make peers)")
    requests = corpus()[spec.name]
    # "direct" and "lilith" have the same length, so even column-aligned listings line up
    roots = {mode: tmp_path / mode / "world" for mode in ("direct", "lilith")}
    policy_file = tmp_path / "policy.yaml"
    policy_file.write_text(POLICY.read_text(encoding="utf-8").replace("@ROOT@", str(roots["lilith"])))
    audit = tmp_path / "audit.jsonl"
    through = ("--policy", str(policy_file), "--audit-log", str(audit))

    def run(mode: str) -> list[Exchange]:
        places = Placeholders(roots[mode], site_port)
        return play(spec, requests, roots[mode], places, tmp_path, through=through if mode == "lilith" else ())

    with ThreadPoolExecutor(2) as pool:
        direct_run, lilith_run = pool.map(run, ("direct", "lilith"))

    policy = load_policy(str(policy_file))
    denied = [ex.request for ex in lilith_run if is_denial(ex.answer)]
    assert not denied, f"wrongly blocked: {denied}"
    assert len(direct_run) == len(lilith_run) == len(requests) + 1
    for direct, proxied in zip(direct_run, lilith_run, strict=True):
        expected = normalise(
            expected_through(direct.answer, direct.request, policy), str(roots["direct"]), direct.request
        )
        got = normalise(proxied.answer, str(roots["lilith"]), proxied.request)
        assert got == expected, (
            f"answer to {direct.request} differs:\n direct {expected[:400]!r}\n lilith {got[:400]!r}"
        )
        notes = [normalise(line, str(roots["direct"]), direct.request) for line in direct.before]
        assert [normalise(line, str(roots["lilith"]), proxied.request) for line in proxied.before] == notes

    decisions = [json.loads(line) for line in audit.read_text(encoding="utf-8").splitlines()]
    verdicts = {record.get("decision") for record in decisions if record.get("event") == "decision"}
    assert verdicts == {"allow"}, f"audit decisions: {verdicts}"
