"""`make demo`'s scripted agent session, run as part of the suite so it cannot rot."""

from __future__ import annotations

import subprocess
import sys

from tests.integration.harness import ROOT


def test_demo_session_runs_and_shows_the_denial() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "demo" / "run_demo.py")],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "Demo OK." in done.stdout
    assert "DENIED" in done.stdout
    assert "Lilith: tool 'delete_file' is denied by policy" in done.stdout
