"""Each server restart leaks two pipe descriptors in Lilith (found by the chaos run, ``tests/chaos``).

``StdioProxy._reap_server`` takes the exit from ``server.wait(0.5)`` and only calls ``server.kill()`` when
that times out; ``ServerProcess`` closes its stdin and stdout pipes in ``kill()``/``shutdown()``, so after
an ordinary crash they stay open. With ``--restart on-failure`` every restart adds two descriptors. When
fixed, also drop the known-leak branch in ``tests/chaos/test_server_killed.py``.
"""

from __future__ import annotations

import os

from tests.integration.conftest import StartProxy
from tests.integration.harness import wait_until

SERVER_UNAVAILABLE = -32001


def test_restarts_leave_the_number_of_open_descriptors_unchanged(start_proxy: StartProxy) -> None:
    proxy = start_proxy("--restart", "on-failure", "--max-restarts", "3").proxy
    proxy.initialize()
    fds = [len(os.listdir(f"/proc/{proxy.proc.pid}/fd"))]
    for _ in range(3):
        assert proxy.tool("crash")["error"]["code"] == SERVER_UNAVAILABLE
        assert "result" in proxy.tool("echo", {}, timeout=30)  # after the back-off, the new server answers
        assert wait_until(lambda: proxy.proc.poll() is None)
        fds.append(len(os.listdir(f"/proc/{proxy.proc.pid}/fd")))
    assert fds == [fds[0]] * 4, fds
