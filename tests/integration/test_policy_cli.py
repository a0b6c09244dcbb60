"""`lilith policy check|explain`, run as a user would."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.integration.harness import LILITH

POLICY = """\
version: 1
static_rules:
  read_file: ALLOW
  delete_file: DENY
argument_rules:
  - tool: read_file
    arg: path
    path_within: [/tmp]
"""


def _lilith(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([LILITH, *args], capture_output=True, text=True, timeout=30)


def test_check_accepts_a_good_policy_and_points_at_errors(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text(POLICY)
    done = _lilith("policy", "check", str(good))
    assert done.returncode == 0
    assert "ok" in done.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text(POLICY.replace("path_within", "path_witin"))
    done = _lilith("policy", "check", str(bad))
    assert done.returncode == 1
    assert f"{bad}:8:5:" in done.stderr
    assert "path_witin" in done.stderr


def test_explain_names_the_rule_that_decided(tmp_path: Path) -> None:
    policy = tmp_path / "p.yaml"
    policy.write_text(POLICY)
    cases = [
        ("read_file", {"path": "/tmp/a.txt"}, 0, "allow", "static_rules.read_file"),
        ("read_file", {"path": "/tmp/../etc/passwd"}, 1, "deny", "argument_rules[0]"),
        ("delete_file", {"path": "/tmp/a"}, 1, "deny", "static_rules.delete_file"),
        ("rm", {}, 1, "deny", "default-deny"),
    ]
    for tool, arguments, code, verdict, rule in cases:
        done = _lilith("policy", "explain", str(policy), "--tool", tool, "--args", json.dumps(arguments), "--json")
        assert done.returncode == code, done.stderr
        shown = json.loads(done.stdout)
        assert (shown["decision"], shown["rule"]) == (verdict, rule)


def test_explain_rejects_bad_arguments_json(tmp_path: Path) -> None:
    policy = tmp_path / "p.yaml"
    policy.write_text(POLICY)
    done = _lilith("policy", "explain", str(policy), "--tool", "x", "--args", "{not json")
    assert done.returncode == 2
    assert "--args is not JSON" in done.stderr


def test_schema_is_valid_and_accepts_every_example_policy(tmp_path: Path) -> None:
    import jsonschema
    import yaml

    done = _lilith("policy", "schema")
    assert done.returncode == 0
    schema = json.loads(done.stdout)
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    root = Path(__file__).resolve().parents[2]
    examples = [*sorted((root / "examples" / "policies").glob("*.yaml")), root / "examples" / "demo" / "policy.yaml"]
    policies = [path for path in examples if not path.name.endswith(".tests.yaml")]
    assert len(policies) >= 6
    for path in policies:
        errors = list(validator.iter_errors(yaml.safe_load(path.read_text())))
        assert errors == [], (path, errors)
    typo = {"version": 1, "static_rule": {"echo": "ALLOW"}}
    assert list(validator.iter_errors(typo))


def test_explain_runs_the_whole_chain_including_conditional_taint_rules(tmp_path: Path) -> None:
    policy = tmp_path / "p.yaml"
    policy.write_text(
        POLICY
        + "taint_rules:\n  - id: no-big-files\n    tool: read_file\n    action: BLOCK\n"
        + "    when: {arg: size, op: gt, value: 100}\n"
    )
    for arguments, code, rule in [
        ({"path": "/tmp/a", "size": 5}, 0, "static_rules.read_file"),
        ({"path": "/tmp/a", "size": 500}, 1, "no-big-files"),
        ({"path": "/tmp/a", "size": "5"}, 1, "no-big-files"),  # a mistyped argument settles towards denial
    ]:
        done = _lilith(
            "policy", "explain", str(policy), "--tool", "read_file", "--args", json.dumps(arguments), "--json"
        )
        assert done.returncode == code, done.stderr
        assert json.loads(done.stdout)["rule"] == rule
