"""Operational logs never print a secret from the environment or from the server's command line."""

from __future__ import annotations

import io
import json

import pytest

from lilith.runtime.logs import StderrLog, mask_argv, secret_values

TOKEN = "tok-9f8e7d6c5b4a3210"


def test_secret_looking_options_assignments_and_url_passwords_are_masked() -> None:
    argv = [
        "server",
        "--api-key=sk-1234567890abcdef",
        "--password",
        "hunter2hunter2",
        "GITHUB_TOKEN=ghp_abcdefghijklmnop",
        "--db=postgres://admin:s3cr3tpass@db/x",
        "--port=8080",
        "plain",
    ]
    shown = " ".join(mask_argv(argv))
    for secret in ("sk-1234567890abcdef", "hunter2hunter2", "ghp_abcdefghijklmnop", "s3cr3tpass"):
        assert secret not in shown
    assert "--port=8080" in shown and "plain" in shown and "--api-key=" in shown and "admin:" in shown


def test_only_secret_looking_environment_names_with_real_values_count() -> None:
    found = secret_values({"MY_TOKEN": TOKEN, "API_KEY": "short", "HOME": "/root/home/dir", "AWS_SECRET": "x" * 40})
    assert found == ("x" * 40, TOKEN)  # longest first; "short" is too short to scrub everywhere


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_a_secret_from_the_environment_is_masked_in_any_field(fmt: str) -> None:
    stream = io.StringIO()
    log = StderrLog("debug", fmt, stream, environ={"SERVICE_TOKEN": TOKEN})
    log.log("error", "something", error=f"failed with {TOKEN}", nested={"list": [TOKEN]}, argv=["s", TOKEN])
    out = stream.getvalue()
    assert TOKEN not in out
    assert "something" in out
    if fmt == "json":
        assert json.loads(out)["event"] == "something"
