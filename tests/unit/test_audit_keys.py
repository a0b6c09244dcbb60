"""The default audit key: created once, whole, private, and the same for Lilith processes starting together."""

from __future__ import annotations

import errno
import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lilith.audit.keys import load_or_create_key


def test_the_default_key_is_created_private_and_then_reused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    monkeypatch.delenv("LILITH_AUDIT_KEY_FILE", raising=False)
    key, path, created = load_or_create_key(None)
    assert created and path == str(tmp_path / "lilith" / "audit.key")
    assert len(key) == 64 and bytes.fromhex(key.decode())
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(tmp_path / "lilith").st_mode) == 0o700
    assert os.listdir(tmp_path / "lilith") == ["audit.key"]  # no temporary file left behind
    assert load_or_create_key(None) == (key, path, False)


def test_processes_starting_together_all_get_the_one_whole_key(tmp_path: Path) -> None:
    script = (
        "import sys, time\n"
        "from lilith.audit.keys import load_or_create_key\n"
        "start = float(sys.argv[1])\n"
        "while time.time() < start: pass\n"
        "key, _, created = load_or_create_key(None)\n"
        "print(key.decode(), created)\n"
    )
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path)}
    env.pop("LILITH_AUDIT_KEY_FILE", None)
    start = f"{time.time() + 1.0:.3f}"
    runs = [
        subprocess.Popen([sys.executable, "-c", script, start], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for _ in range(6)
    ]
    results = [run.communicate(timeout=30) for run in runs]
    assert all(run.returncode == 0 for run in runs), [err for _, err in results]
    keys = {out.split()[0] for out, _ in results}
    assert len(keys) == 1
    assert [out.split()[1] for out, _ in results].count(b"True") == 1
    assert (tmp_path / "lilith" / "audit.key").read_bytes().strip() in keys


def test_without_hard_links_the_key_is_created_in_place(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    monkeypatch.delenv("LILITH_AUDIT_KEY_FILE", raising=False)

    def no_links(source: str, target: str) -> None:
        raise PermissionError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_links)
    key, path, created = load_or_create_key(None)
    assert created and Path(path).read_bytes() == key + b"\n"
    assert os.listdir(tmp_path / "lilith") == ["audit.key"]
