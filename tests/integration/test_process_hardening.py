"""A server runs as the same user as Lilith: it must not be able to read or rewrite the memory of Lilith or
of its reaper (the policy, the audit key) through ``/proc/<pid>/mem`` or ptrace, which the kernel allows
between processes of one user unless Yama says otherwise. Run as an unprivileged user (root may do anything),
with the system's Python, since the project's interpreter may sit under a directory only root can read."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests.integration.harness import ROOT, wait_until

SYSTEM_PYTHON = Path("/usr/bin/python3")
NOBODY = 65534
SITE = next(iter(Path(sys.prefix).glob("lib/python3*/site-packages")), None)
SERVER = "import sys\nfor line in sys.stdin: pass\n"  # reads until Lilith closes its stdin
PROBE = """
import sys
for pid in sys.argv[1:]:
    try:
        with open(f"/proc/{pid}/mem", "rb"):
            print("open")
    except PermissionError:
        print("refused")
"""


def _usable() -> str | None:
    if os.geteuid() != 0:
        return "needs root, to run Lilith and the probe as another, unprivileged user"
    if SITE is None or not SYSTEM_PYTHON.exists():
        return "needs /usr/bin/python3 and the project's site-packages"
    version = subprocess.run(
        [str(SYSTEM_PYTHON), "-c", "import sys; print(sys.version_info[:2])"], capture_output=True, text=True
    ).stdout.strip()
    if version != str(sys.version_info[:2]):
        return f"the system's Python is {version}, the project's {sys.version_info[:2]}: compiled packages differ"
    return None


def _children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


@pytest.mark.skipif(_usable() is not None, reason=str(_usable()))
def test_a_process_of_the_same_user_cannot_open_lilith_or_its_reaper_memory() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        os.chmod(tmp, 0o755)
        policy, server = Path(tmp) / "policy.yaml", Path(tmp) / "server.py"
        policy.write_text("version: 1\nstatic_rules:\n  echo: ALLOW\n")
        server.write_text(SERVER)
        env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": f"{ROOT / 'src'}:{SITE}", "HOME": tmp}
        argv = [
            str(SYSTEM_PYTHON),
            "-m",
            "lilith",
            "run",
            "--policy",
            str(policy),
            "--",
            str(SYSTEM_PYTHON),
            str(server),
        ]
        lilith = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            user=NOBODY,
            group=NOBODY,
            cwd=tmp,
        )
        try:
            assert wait_until(lambda: len(_children(lilith.pid)) == 1 and _children(_children(lilith.pid)[0]), 15)
            reaper = _children(lilith.pid)[0]
            server_pid = _children(reaper)[0]
            probe = subprocess.run(
                [str(SYSTEM_PYTHON), "-c", PROBE, str(lilith.pid), str(reaper), str(server_pid)],
                capture_output=True,
                text=True,
                user=NOBODY,
                group=NOBODY,
                timeout=30,
                cwd=tmp,
            )
            # The server itself stays an ordinary process (open): so the refusals are Lilith's doing.
            assert probe.stdout.split() == ["refused", "refused", "open"], probe.stdout + probe.stderr
        finally:
            assert lilith.stdin is not None
            lilith.stdin.close()
            assert lilith.wait(15) == 0, lilith.stderr.read().decode() if lilith.stderr else ""
