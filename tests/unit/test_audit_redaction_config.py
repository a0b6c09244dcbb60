"""Custom redaction patterns from flags and from a YAML file."""

from __future__ import annotations

from pathlib import Path

import pytest

from lilith.audit.redaction_config import load_pattern_file, parse_pattern_flag, redaction_patterns
from lilith.errors import ConfigError


def test_flags_split_at_the_first_equals_sign() -> None:
    assert parse_pattern_flag("employee=EMP-[0-9]{6}") == ("employee", "EMP-[0-9]{6}")
    assert parse_pattern_flag("kv=a=b") == ("kv", "a=b")
    for bad in ("employee", "=x", "employee="):
        with pytest.raises(ConfigError, match="NAME=REGEX"):
            parse_pattern_flag(bad)


def test_a_yaml_list_of_name_and_pattern(tmp_path: Path) -> None:
    path = tmp_path / "redaction.yaml"
    path.write_text("- name: employee\n  pattern: 'EMP-\\d{6}'\n- name: ticket\n  pattern: 'T#[0-9]+'\n")
    assert load_pattern_file(str(path)) == [("employee", r"EMP-\d{6}"), ("ticket", "T#[0-9]+")]
    assert redaction_patterns(["x=y"], [str(path)])[-1] == ("x", "y")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("name: x\npattern: y\n", "expected a list"),
        ("- name: x\n", "exactly the keys"),
        ("- name: x\n  pattern: y\n  flags: i\n", "exactly the keys"),
        ("- name: x\n  pattern: [1]\n", "must be strings"),
        ("- [unclosed\n", "not valid YAML"),
    ],
)
def test_a_malformed_file_is_refused_with_its_name(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "redaction.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message) as caught:
        load_pattern_file(str(path))
    assert str(path) in str(caught.value)


def test_a_missing_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read redaction config"):
        load_pattern_file(str(tmp_path / "nope.yaml"))
