"""The server SIGKILLed at random moments: every pending call is answered, nothing leaks."""

from __future__ import annotations

import random
import time

import psutil

from tests.chaos.conftest import CYCLES, StartChaos
from tests.chaos.processes import open_fds, rss_mb, server_of, survivors, tree, zombies
from tests.chaos.replies import collect, send_mix, unavailable
from tests.integration.harness import recorded

RESTART_ROUNDS = min(CYCLES, 5)  # the restart back-off doubles each time: 0.5 s, 1 s, 2 s, 4 s, 8 s


def test_a_killed_server_answers_every_pending_call(start_chaos: StartChaos, rng: random.Random) -> None:
    for cycle in range(CYCLES):
        chaos = start_chaos()
        proxy = chaos.proxy
        proxy.initialize()
        server = server_of(proxy.proc.pid)
        processes = tree(proxy.proc.pid)[1:]
        sent = send_mix(proxy, rng, rng.randrange(0, 12))
        time.sleep(rng.uniform(0, 0.3))
        server.kill()
        answers = collect(proxy, set(sent))
        for request_id, tool in sent.items():
            reply = answers[request_id]
            assert unavailable(reply) or (tool != "hang" and "result" in reply), (cycle, tool, reply)
        got = {m["id"] for m in recorded(chaos.record) if isinstance(m, dict) and m.get("method") == "tools/call"}
        answered = {request_id for request_id, reply in answers.items() if "result" in reply}
        assert answered <= got, "a result arrived for a call the server never received"
        assert proxy.proc.wait(10) == 1, "a server that died is a failure (exit 1)"
        assert not survivors(processes, 5), f"cycle {cycle}: the server tree outlived Lilith"


def test_restarts_after_kills_leak_no_descriptors_memory_or_zombies(
    start_chaos: StartChaos, rng: random.Random
) -> None:
    chaos = start_chaos("--restart", "on-failure", "--max-restarts", str(RESTART_ROUNDS))
    proxy = chaos.proxy
    proxy.initialize()
    lilith = proxy.proc.pid
    fds, memory = [open_fds(lilith)], [rss_mb(lilith)]
    for round_ in range(RESTART_ROUNDS + 1):
        server = server_of(lilith)
        sent = send_mix(proxy, rng, rng.randrange(0, 8))
        time.sleep(rng.uniform(0, 0.2))
        server.kill()
        answers = collect(proxy, set(sent), timeout=15)
        assert all(unavailable(answers[i]) for i, tool in sent.items() if tool == "hang"), answers
        if round_ == RESTART_ROUNDS:
            break  # restarts used up: this death is final
        reply = proxy.tool("echo", {"round": round_}, timeout=30)  # waits out the back-off and the replay
        assert reply["result"]["structuredContent"] == {"round": round_}
        assert server_of(lilith).pid != server.pid
        assert not zombies(tree(lilith)), f"round {round_}: unreaped children"
        fds.append(open_fds(lilith))
        memory.append(rss_mb(lilith))
    processes = [p for p in tree(lilith)[1:] if p.is_running()]
    assert proxy.proc.wait(30) == 1
    assert not survivors(processes, 5)
    assert memory[-1] - memory[1] < 5.0, f"memory grew across restarts (MB): {memory}"
    assert fds[-1] <= fds[0], f"descriptors grew across restarts: {fds}"


def test_every_server_start_is_recorded_as_a_replayed_handshake(start_chaos: StartChaos) -> None:
    chaos = start_chaos("--restart", "on-failure", "--max-restarts", "1")
    proxy = chaos.proxy
    proxy.initialize()
    hung = proxy.request("tools/call", {"name": "hang", "arguments": {}})
    assert "result" in proxy.call("ping")  # the first server has read everything before it
    server_of(proxy.proc.pid).kill()
    assert unavailable(collect(proxy, {hung})[hung])  # the death was noticed before anything else is sent
    assert "result" in proxy.tool("echo", {}, timeout=30)
    methods = [m.get("method") for m in recorded(chaos.record) if isinstance(m, dict)]
    assert methods.count("initialize") == 2, methods
    assert methods.count("notifications/initialized") == 2, methods
    assert psutil.pid_exists(proxy.proc.pid)
