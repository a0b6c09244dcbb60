"""Review finding 4: the operational stderr log masks pass/pwd names and URL passwords everywhere, and a log
call never raises (orjson refuses integers beyond 64 bits, such as a client's request id)."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

from lilith.runtime.logs import StderrLog, mask_argv, secret_values

BIG_ID = 123456789012345678901234567890


def _log(fmt: str, environ: dict[str, str] | None = None) -> tuple[StderrLog, io.StringIO]:
    stream = io.StringIO()
    return StderrLog("debug", fmt, stream, environ=environ or {}), stream


def test_pass_and_pwd_names_are_secret_looking_in_argv() -> None:
    argv = ["server", "DB_PASS=EnvAssignPw", "--pass", "FlagPassValue", "MYSQL_PWD=MyPwdValue", "--port", "8080"]
    shown = " ".join(mask_argv(argv))
    for secret in ("EnvAssignPw", "FlagPassValue", "MyPwdValue"):
        assert secret not in shown
    assert "--port 8080" in shown and "DB_PASS=" in shown


def test_pass_and_pwd_environment_values_are_scrubbed_but_not_the_working_directory() -> None:
    environ = {"DB_PASS": "EnvDbPassValue", "MYSQL_PWD": "EnvMysqlPwd", "PWD": "/work/main", "OLDPWD": "/root/home"}
    assert set(secret_values(environ)) == {"EnvDbPassValue", "EnvMysqlPwd"}
    log, stream = _log("text", environ)
    log.log("info", "server_started", cwd="/work/main/x", note="uses EnvDbPassValue and EnvMysqlPwd")
    out = stream.getvalue()
    assert "EnvDbPassValue" not in out and "EnvMysqlPwd" not in out
    assert "cwd=/work/main/x" in out  # paths under the working directory are not masked


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_url_passwords_are_masked_in_any_field(fmt: str) -> None:
    log, stream = _log(fmt)
    log.log(
        "warning",
        "server_sent_invalid_json",
        preview='{"dsn": "postgres://app:PgUrlPassw0rd@db/x"',
        nested={"urls": ["redis://:RedisUrlPassw0rd@cache:6379/0"]},
    )
    out = stream.getvalue()
    assert "PgUrlPassw0rd" not in out and "RedisUrlPassw0rd" not in out
    assert "postgres://app:" in out and "@db/x" in out


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_integers_beyond_64_bits_are_logged_exactly(fmt: str) -> None:
    log, stream = _log(fmt)
    log.log("warning", "request_timeout", method="tools/call", id=BIG_ID, after_seconds=0.5, ids=[BIG_ID, 1])
    out = stream.getvalue()
    assert str(BIG_ID) in out
    if fmt == "json":
        record = json.loads(out)
        assert record["id"] == BIG_ID and record["ids"] == [BIG_ID, 1] and record["method"] == "tools/call"
    else:
        assert out.startswith("lilith WARNING request_timeout ") and f"id={BIG_ID}" in out


class _Unprintable:
    def __str__(self) -> str:
        raise RuntimeError("no text")

    __repr__ = __str__


def _cyclic() -> list[Any]:
    items: list[Any] = [BIG_ID]
    items.append(items)
    return items


@pytest.mark.parametrize("fmt", ["text", "json"])
@pytest.mark.parametrize(
    "value",
    [_cyclic(), {(1, 2): BIG_ID}, _Unprintable(), {"deep": _Unprintable(), "n": BIG_ID}],
    ids=["cycle", "tuple-key", "unprintable", "nested-unprintable"],
)
def test_a_log_call_never_raises(fmt: str, value: Any) -> None:
    log, stream = _log(fmt)
    log.log("error", "odd_value", value=value, fine="ok")
    out = stream.getvalue()
    assert out.endswith("\n") and "odd_value" in out
    if fmt == "json":
        assert json.loads(out)["event"] == "odd_value"
