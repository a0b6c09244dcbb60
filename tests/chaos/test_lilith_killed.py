"""Lilith SIGKILLed at random moments: no process of the server's tree survives it, daemons included."""

from __future__ import annotations

import random
import time
from pathlib import Path

import psutil

from tests.chaos.conftest import CYCLES, StartChaos
from tests.chaos.processes import survivors, tree
from tests.chaos.replies import send_mix


def test_nothing_of_the_server_survives_a_sigkilled_lilith(
    start_chaos: StartChaos, rng: random.Random, tmp_path: Path
) -> None:
    for trial in range(CYCLES):
        proxy = start_chaos().proxy
        proxy.initialize()
        pidfile = tmp_path / f"daemon-{trial}.pid"
        keep_stdio = rng.random() < 0.5  # a daemon holding the server's stdout open, or not
        reply = proxy.tool("fork_daemon", {"pidfile": str(pidfile), "keep_stdio": keep_stdio})
        daemon = psutil.Process(reply["result"]["structuredContent"]["pid"])
        processes = [*tree(proxy.proc.pid)[1:], daemon]
        assert len(processes) >= 3  # reaper, server, daemon
        send_mix(proxy, rng, rng.randrange(0, 6))
        time.sleep(rng.uniform(0, 0.2))
        proxy.proc.kill()
        proxy.proc.wait(10)
        alive = survivors(processes, 5)
        assert not alive, f"trial {trial} (keep_stdio={keep_stdio}): survived Lilith: {alive}"
