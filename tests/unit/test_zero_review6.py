"""How the `lilith-zero` alias reads the original's command lines (second review, finding 4)."""

from __future__ import annotations

from pathlib import Path

import pytest

from lilith.cli import build_zero_parser, split_upstream_args, split_zero_argv, upstream_argv


@pytest.mark.parametrize(
    ("words", "command", "rest"),
    [
        (["run", "-u", "x"], "run", ["-u", "x"]),
        (["--policy", "p", "-u", "x"], None, ["--policy", "p", "-u", "x"]),
        (["validate", "p.yaml"], "validate", ["p.yaml"]),
        (["--", "run"], None, ["--", "run"]),
        ([], None, []),
    ],
)
def test_the_command_is_the_first_word_unless_it_is_an_option(
    words: list[str], command: str | None, rest: list[str]
) -> None:
    assert split_zero_argv(words) == (command, rest)


def test_words_after_the_first_double_dash_go_to_the_server() -> None:
    assert split_upstream_args(["-u", "python", "--", "s.py", "--", "-x"]) == (["-u", "python"], ["s.py", "--", "-x"])
    assert split_upstream_args(["-u", "python s.py"]) == (["-u", "python s.py"], [])


def test_the_upstream_command_is_split_like_a_shell_and_args_are_appended() -> None:
    assert upstream_argv('python -u "my server.py"', ["--flag"]) == ["python", "-u", "my server.py", "--flag"]
    assert upstream_argv("npx -y @modelcontextprotocol/server-filesystem", []) == [
        "npx",
        "-y",
        "@modelcontextprotocol/server-filesystem",
    ]
    with pytest.raises(ValueError):
        upstream_argv('python "unclosed', [])


def test_an_executable_path_with_spaces_stays_one_word(tmp_path: Path) -> None:
    program = tmp_path / "my server"
    program.write_text("#!/bin/sh\n")
    program.chmod(0o755)
    assert upstream_argv(str(program), ["a"]) == [str(program), "a"]
    program.chmod(0o644)  # not executable: read as a command line, as before
    assert upstream_argv(str(program), []) == str(program).split(" ")


def test_the_parser_takes_the_originals_options_and_lilith_run_options() -> None:
    args = build_zero_parser().parse_args(
        ["-u", "python s.py", "--transport", "stdio", "--policy", "p", "--audit-logs", "a", "--max-memory", "1G"]
    )
    assert (args.upstream_cmd, args.transport, args.policy, args.audit_log) == ("python s.py", "stdio", "p", "a")
    assert args.max_memory == 1024**3
