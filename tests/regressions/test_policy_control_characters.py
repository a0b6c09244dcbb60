"""A control character in a policy file (found by ``make fuzz``, policy target).

PyYAML checks that the text is printable when the loader is *constructed*, which ``load_yaml`` did outside
its ``try``: a ``yaml.reader.ReaderError`` escaped instead of a ``PolicyError``. ``lilith policy check``
and ``lilith run`` printed a traceback (run exited 1, not 2), and a running proxy whose policy file gained
such a character on hot reload died instead of keeping the old policy. Now it is a file:line:col error.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from lilith.errors import PolicyError
from lilith.policy.loader import parse_policy
from tests.integration.conftest import StartProxy
from tests.integration.harness import LILITH

BAD = "version: 1\nstatic_rules:\n  echo: ALLOW\x07\n"


def test_a_control_character_is_a_policy_error_naming_its_line() -> None:
    with pytest.raises(PolicyError) as caught:
        parse_policy(BAD, "p.yaml")
    assert caught.value.file == "p.yaml"
    assert caught.value.line == 3


def test_policy_check_reports_file_and_line_without_a_traceback(tmp_path: Path) -> None:
    policy = tmp_path / "p.yaml"
    policy.write_text(BAD)
    done = subprocess.run([LILITH, "policy", "check", str(policy)], capture_output=True, text=True, timeout=30)
    assert done.returncode == 1
    assert f"{policy}:3" in done.stdout + done.stderr
    assert "Traceback" not in done.stderr


def test_hot_reload_of_such_a_file_keeps_the_old_policy_and_the_proxy_alive(start_proxy: StartProxy) -> None:
    started = start_proxy()
    proxy = started.proxy
    proxy.initialize()
    assert "result" in proxy.tool("echo", {"n": 1})
    started.policy.write_text(BAD.replace("echo", "add"))
    os.kill(proxy.proc.pid, signal.SIGHUP)
    time.sleep(1.5)  # the reload is handled on the main thread's next event
    assert proxy.proc.poll() is None, "Lilith died on reloading the policy"
    reply = proxy.tool("echo", {"n": 2})
    assert "result" in reply, reply
