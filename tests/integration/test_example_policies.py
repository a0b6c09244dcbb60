"""The example policies load, and their own table-driven tests pass, through the real CLI."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.integration.harness import LILITH, ROOT

EXAMPLES = sorted((ROOT / "examples" / "policies").glob("*.tests.yaml"))


def _lilith(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([LILITH, *args], capture_output=True, text=True, timeout=60)


def test_there_are_examples() -> None:
    names = {path.name.removesuffix(".tests.yaml") for path in EXAMPLES}
    assert {"filesystem", "shell", "git", "web-fetch", "lethal-trifecta", "customer-data"} <= names


@pytest.mark.parametrize("cases", EXAMPLES, ids=lambda path: path.name)
def test_example_policy_passes_its_tests(cases: Path) -> None:
    policy = cases.with_name(cases.name.replace(".tests.yaml", ".yaml"))
    assert _lilith("policy", "check", str(policy)).returncode == 0
    done = _lilith("policy", "test", str(policy), str(cases))
    assert done.returncode == 0, done.stdout + done.stderr
    assert " 0 failed" in done.stdout


def test_a_wrong_expectation_fails_with_its_line(tmp_path: Path) -> None:
    policy = tmp_path / "p.yaml"
    policy.write_text("version: 1\nstatic_rules:\n  echo: ALLOW\n")
    cases = tmp_path / "cases.yaml"
    cases.write_text(
        "cases:\n  - name: wrong\n    calls:\n      - {tool: echo, expect: allow}\n"
        "      - {tool: rm, expect: allow}\n      - {tool: echo, expect: allow, rule: some-other-rule}\n"
    )
    done = _lilith("policy", "test", str(policy), str(cases))
    assert done.returncode == 1
    assert "FAIL" in done.stdout
    assert "line 5: expected allow, got deny by default-deny" in done.stdout
    assert "line 6: expected rule some-other-rule, got static_rules.echo" in done.stdout


def test_a_malformed_cases_file_is_a_usage_error(tmp_path: Path) -> None:
    policy = tmp_path / "p.yaml"
    policy.write_text("version: 1\n")
    cases = tmp_path / "cases.yaml"
    cases.write_text("cases:\n  - calls:\n      - {tool: echo, expect: maybe}\n")
    done = _lilith("policy", "test", str(policy), str(cases))
    assert done.returncode == 2
    assert f"{cases}:3:" in done.stderr
