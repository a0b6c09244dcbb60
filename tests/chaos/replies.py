"""Sending a burst of calls through a ``Proxy`` and collecting exactly one answer for each."""

from __future__ import annotations

import random
import time
from typing import Any

from tests.integration.harness import Proxy

SERVER_UNAVAILABLE = -32001


def send_mix(proxy: Proxy, rng: random.Random, count: int) -> dict[Any, str]:
    """One call that hangs, then ``count`` that hang, answer late or answer at once, without waiting for
    any: id -> tool. The first guarantees something is pending whenever the server dies."""
    sent = {proxy.request("tools/call", {"name": "hang", "arguments": {}}): "hang"}
    for _ in range(count):
        tool = rng.choice(("hang", "slow", "echo"))
        arguments = {"ms": rng.randrange(0, 400)} if tool == "slow" else {}
        sent[proxy.request("tools/call", {"name": tool, "arguments": arguments})] = tool
    return sent


def collect(proxy: Proxy, ids: set[Any], timeout: float = 10.0) -> dict[Any, dict[str, Any]]:
    """The one answer to each id (a second answer to one id fails the test)."""
    answers: dict[Any, dict[str, Any]] = {}
    deadline = time.monotonic() + timeout
    while set(answers) != ids:
        reply = proxy.recv(max(0.01, deadline - time.monotonic()))
        if "method" in reply or reply.get("id") not in ids:
            continue
        assert reply["id"] not in answers, f"answered twice: {reply}"
        answers[reply["id"]] = reply
    return answers


def unavailable(reply: dict[str, Any]) -> bool:
    return bool(reply.get("error", {}).get("code") == SERVER_UNAVAILABLE)


def timed_out(reply: dict[str, Any]) -> bool:
    """-32001 with a message that says the server took too long (the wording is Lilith's to choose)."""
    message = str(reply.get("error", {}).get("message", "")).lower()
    return unavailable(reply) and ("timed out" in message or "did not answer" in message)
