"""Review finding 2: the server's command line is redacted as a command line (``Redactor.redact_command``).

Beyond what each item shows by itself, the value after a secret-looking long option and the value of a
secret-looking ``NAME=value`` are secrets whatever they look like.
"""

from __future__ import annotations

import pytest

from lilith.audit.redact import Redactor

KEY = b"command-key-0123456789"


@pytest.fixture(scope="module")
def r() -> Redactor:
    return Redactor(KEY)


def test_the_reviewers_command_line(r: Redactor) -> None:
    argv = [
        "sh",
        "-c",
        "exec python server.py",
        "sh",
        "--api-key",
        "CmdLineApiKey123",
        "--password",
        "CmdPw12345",
        "--token=CmdTok",
        "DB_PASS=EnvAssignPw",
    ]
    out = r.redact_command(argv)
    assert out == [
        "sh",
        "-c",
        "exec python server.py",
        "sh",
        "--api-key",
        r.tag("secret", "CmdLineApiKey123"),
        "--password",
        r.tag("secret", "CmdPw12345"),
        "--token=" + r.tag("secret", "CmdTok"),
        "DB_PASS=" + r.tag("secret", "EnvAssignPw"),
    ]


@pytest.mark.parametrize(
    "name",
    ["PASS", "PWD_DB", "MYSQL_PWD", "PASSWD", "CLIENT_SECRET", "GITHUB_TOKEN", "SSH_KEY", "AWS_CREDENTIALS", "api-key"],
)
def test_secret_looking_assignments(r: Redactor, name: str) -> None:
    assert r.redact_command(["env", f"{name}=plainvalue", "server"]) == [
        "env",
        f"{name}={r.tag('secret', 'plainvalue')}",
        "server",
    ]


@pytest.mark.parametrize("flag", ["--pass", "--db-password", "--client-secret", "--key", "--auth", "--creds"])
def test_secret_looking_long_options_hide_the_next_item(r: Redactor, flag: str) -> None:
    assert r.redact_command(["server", flag, "plainvalue", "more"]) == [
        "server",
        flag,
        r.tag("secret", "plainvalue"),
        "more",
    ]


def test_java_style_properties_count_too(r: Redactor) -> None:
    out = r.redact_command(["java", "-Dspring.datasource.password=plainvalue", "-jar", "app.jar"])
    assert out[1] == "-Dspring.datasource.password=" + r.tag("secret", "plainvalue")


def test_plain_options_short_options_and_switches_stay(r: Redactor) -> None:
    argv = [
        "server",
        "--port",
        "8080",
        "-p",
        "plainvalue",  # short options are not read: -p is a port as often as a password
        "--no-auth",
        "server.py",  # --no-auth is a switch: what follows is not its value
        "--token-file",
        "/run/token",  # a path to a secret, named as such
        "--key-count=3",
        "HOME=/root",
        "PWD=/work",
        "--token",
        "--verbose",  # the next option, not a value
    ]
    assert r.redact_command(argv) == argv


def test_every_item_is_still_redacted_as_text(r: Redactor) -> None:
    out = r.redact_command(
        ["server", "--db=postgres://app:UrlPw999@db/x", "ada@example.org", "sh -c 'x --token T0k3n1'"]
    )
    assert out[1] == "--db=postgres://app:" + r.tag("secret", "UrlPw999") + "@db/x"
    assert out[2] == r.tag("email", "ada@example.org")
    assert "T0k3n1" not in out[3] and r.tag("secret", "T0k3n1") in out[3]


def test_tags_correlate_with_the_same_values_elsewhere(r: Redactor) -> None:
    [tagged] = r.redact_command(["DB_PASS=EnvAssignPw"])
    assert tagged.split("=", 1)[1] in r.redact_text("db_pass=EnvAssignPw")
