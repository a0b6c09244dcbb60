"""Chaos runs: real ``lilith`` processes in front of a misbehaving server, killed and flooded at random.

``CHAOS_CYCLES`` sets how many cycles each scenario runs (``make chaos`` sets it high; the suite keeps it
small), ``CHAOS_SEED`` replays a run (every failure message names its seed).
"""

from __future__ import annotations

import os
import random
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.integration.harness import ALLOW_ECHO_POLICY, Proxy, lilith_run

HERE = Path(__file__).resolve().parent
CHAOS_SERVER = [sys.executable, str(HERE / "chaos_server.py")]
POLICY = ALLOW_ECHO_POLICY + "  endless_line: ALLOW\n  flood: ALLOW\n  progress_for: ALLOW\n"
CYCLES = int(os.environ.get("CHAOS_CYCLES", "3"))


@dataclass
class Chaos:
    proxy: Proxy
    record: Path


StartChaos = Callable[..., Chaos]


@pytest.fixture
def rng() -> random.Random:
    seed = int(os.environ.get("CHAOS_SEED", random.randrange(1 << 32)))
    print(f"CHAOS_SEED={seed}")  # shown with a failure: replay with CHAOS_SEED=... make chaos
    return random.Random(seed)


@pytest.fixture
def start_chaos(tmp_path: Path) -> Iterator[StartChaos]:
    """Start ``lilith run`` (policy and audit log on) in front of the chaos server."""
    started: list[Proxy] = []

    def start(*options: str, server_args: tuple[str, ...] = ()) -> Chaos:
        n = len(started)
        record = tmp_path / f"received-{n}.jsonl"
        policy = tmp_path / f"policy-{n}.yaml"
        policy.write_text(POLICY)
        args = ["--policy", str(policy), "--audit-log", str(tmp_path / f"audit-{n}.jsonl"), *options]
        proxy = Proxy(lilith_run(*args, server=[*CHAOS_SERVER, "--record", str(record), *server_args]), tmp_path)
        started.append(proxy)
        return Chaos(proxy, record)

    yield start
    for proxy in started:
        proxy.kill()
