"""Review 5's redaction findings, unit by unit: the stderr log's detectors and when they load, ``-p`` on a
command line, quotes around an email, values behind JSON escapes, the fields the audit writer redacts, and
rotation suffixes that only look like numbers."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lilith.audit.redact import Masker, Redactor
from lilith.audit.rotation import log_set, rotated_files, rotated_numbers, rotation_number
from lilith.audit.writer import AuditFile
from lilith.runtime.logs import StderrLog, _plain_text

KEY = b"k" * 32
GHP = "ghp_" + "Q1w2E3r4T5y6U7i8O9p0A1s2D3f4G5h6J7k8"


@pytest.fixture(scope="module")
def r() -> Redactor:
    return Redactor(KEY)


# --- what the stderr log lets through without its detectors ----------------------------------------------
PLAIN = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_./-"
# Pieces that come close to what a detector finds, so that joined they sometimes make it.
NEAR = [
    "gh", "ghp_", "gho", "github_pat_", "AKI", "AKIA", "ASIA", "eyJ", "ey", "sk-", "sk", "xox", "xoxb-", "xapp-",
    "k_live_", "sk_test_", "whsec_", "AIza", "123", "4111", "1111", "5555", ".", "1.2", "10.0.0.", "192.168.",
    "Q1w2E3r4T5y6U7i8O9p0A1s2D3f4G5h6J7k8", "IOSFODNN7EXAMPLE", "abcdefghijklmnopqrstuvwxyz0123456789",
]  # fmt: skip
near_texts = st.lists(st.one_of(st.text(PLAIN, max_size=10), st.sampled_from(NEAR)), max_size=10).map("".join)


@given(near_texts)
def test_text_the_log_calls_plain_holds_nothing_the_detectors_find(text: str) -> None:
    if _plain_text(text):
        assert Redactor(KEY).redact_text(text) == text
        assert Masker().redact_text(text) == text


@given(st.text())
def test_any_text_the_log_calls_plain_holds_nothing_the_detectors_find(text: str) -> None:
    if _plain_text(text):
        assert Masker().redact_text(text) == text


@pytest.mark.parametrize(
    "text",
    ["/home/me/github/policy.yaml", "--policy", "/tmp/pytest-of-root/pytest-12/test_x0/a.jsonl", "SIGHUP", "3.11"],
)
def test_paths_and_words_are_plain(text: str) -> None:
    assert _plain_text(text)


@pytest.mark.parametrize(
    "text", [GHP, "AKIAIOSFODNN7EXAMPLE", "4111111111111111", "10.1.2.3", "a b", "x@y", "k=v", "sk-abc", "a\\u0040"]
)
def test_what_a_detector_could_find_is_not_plain(text: str) -> None:
    assert not _plain_text(text)


# --- the stderr log ---------------------------------------------------------------------------------------
ARGV = [
    "/bin/sh",
    "--header",
    "Authorization: Bearer eyQ7xK2mN9pL4rT8vW1zB6cF3hJ5",
    "-H",
    "X-Api-Key: 9f8e7d6c5b4a39281706f5e4d3c2b1a0",
    GHP,
    "--config-json",
    '{"apiKey":"zz-9a8b7c6d5e4f3g2h1i0j"}',
    "-p",
    "s3cr3t-Pa55w0rd-Value",
    "--api-key",
    "QwErTy123456789",
]
ARGV_SECRETS = ["eyQ7xK2mN9pL4rT8vW1zB6cF3hJ5", "9f8e7d6c5b4a3928", GHP, "zz-9a8b7c6d5e4f", "s3cr3t-Pa55", "QwErTy12"]


def _log(fmt: str = "text") -> tuple[StderrLog, io.StringIO]:
    stream = io.StringIO()
    return StderrLog("debug", fmt, stream, environ={}), stream


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_the_logged_command_line_is_masked_by_the_audit_detectors(fmt: str) -> None:
    log, stream = _log(fmt)
    log.log("info", "server_started", pid=1, argv=ARGV)
    out = stream.getvalue()
    assert [secret for secret in ARGV_SECRETS if secret in out] == []
    argv = json.loads(out)["argv"] if fmt == "json" else None
    shown = json.dumps(argv) if argv is not None else out
    for mask in ("Authorization: <secret>", "X-Api-Key: <secret>", "<github_token>", "<secret>"):
        assert mask in shown
    if argv is not None:
        assert argv[:2] == ["/bin/sh", "--header"] and argv[-2] == "--api-key" and len(argv) == len(ARGV)


def test_every_field_is_masked_strings_numbers_and_mappings() -> None:
    log, stream = _log("json")
    error = f"rule for 'ops.oncall@example.com' must be ALLOW or DENY, not '{GHP}'"
    log.log("error", "policy_reload_failed", error=error, id=4111111111111111, body={"password": "hunter2"}, n=42)
    record = json.loads(stream.getvalue())
    assert record["error"] == "rule for '<email>' must be ALLOW or DENY, not '<github_token>'"
    assert record["id"] == "<card>" and record["body"] == {"password": "<secret>"} and record["n"] == 42


def test_plain_fields_are_left_as_they_are() -> None:
    log, stream = _log("text")
    log.log("info", "policy_loaded", file="/home/me/policy.yaml", source="--policy", pid=1234, ok=True)
    assert (
        stream.getvalue() == "lilith INFO    policy_loaded file=/home/me/policy.yaml source=--policy pid=1234 ok=true\n"
    )


DETECTORS = "lilith.audit.text_redactor"
LAZY = f"""
import sys
from lilith.runtime.logs import StderrLog
log = StderrLog("debug", "text")
log.log("info", "policy_loaded", file="/home/me/github/policy-2.yaml", source="--policy")
log.log("warning", "audit_key_created", file="/tmp/x/audit.key", pid=12, ok=True)
log.flush()
before = {DETECTORS!r} in sys.modules
log.log("error", "policy_reload_failed", error="not '{GHP}'")
log.flush()
print(before, {DETECTORS!r} in sys.modules)
"""


def test_the_detectors_load_only_when_a_value_needs_them() -> None:
    done = subprocess.run([sys.executable, "-c", LAZY], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "True"]
    assert "error=\"not '<github_token>'\"" in done.stderr and GHP not in done.stderr


# As tests/unit/test_cli_startup.py, but logging at the default level, so that every pre-launch line is
# formatted: none of them may pull in the detectors (or orjson) before the server starts.
PRE_LAUNCH = """
import sys
from lilith.cli import build_parser
words = ["run", "--policy", sys.argv[1], "--audit-log", sys.argv[2], "--audit-key-file", sys.argv[3], "--", "srv"]
args = build_parser(run_only=True).parse_args(words)
from lilith.runtime.logs import StderrLog
from lilith.runtime.assemble import _checked_configuration
log = StderrLog("debug", "text")
_checked_configuration(args, ["srv"], log)
log.flush()
print(" ".join(sorted(set(sys.argv[4].split()) & set(sys.modules))))
"""


def test_an_ordinary_start_logs_without_loading_the_detectors(tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text("version: 1\nstatic_rules:\n  echo: ALLOW\n")
    key = tmp_path / "audit.key"
    key.write_text(os.urandom(32).hex() + "\n")
    heavy = f"{DETECTORS} lilith.audit.redact orjson"
    argv = [sys.executable, "-c", PRE_LAUNCH, str(policy), str(tmp_path / "a.jsonl"), str(key), heavy]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "policy_loaded" in done.stderr  # the line was formatted
    assert done.stdout.strip() == ""


# --- the masker's and the redactor's own tags --------------------------------------------------------------
def test_the_masker_names_the_kind_without_a_hash() -> None:
    masker = Masker()
    assert masker.redact_text(f"token={GHP} mail a@b.org") == "token=<github_token> mail <email>"
    assert masker.redact_text("password=hunter2") == "password=<secret>"


def test_a_value_shaped_like_a_mask_is_still_a_secret_in_the_audit_log(r: Redactor) -> None:
    assert r.redact_text("password=<secret>").startswith("password=<secret:")


# --- -p on a command line ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("argv", "hidden"),
    [
        (["sshpass", "-p", "s3cr3t-Pa55w0rd-Value", "ssh", "host"], True),
        (["mongosh", "-u", "admin", "-p", "Hunter2"], True),
        (["ssh", "-p", "2222", "host"], False),
        (["docker", "run", "-p", "8080:80/tcp", "img"], False),
        (["psql", "-p", "5432"], False),
        (["aws", "-p", "my-profile"], False),  # a name: lower-case letters
        (["/usr/local/bin/npx", "-p", "@scope/Server@1.2.3", "srv"], False),  # --package
        (["tool", "-p", "--verbose"], False),  # the next option, not a value
    ],
)
def test_the_value_after_short_p_is_a_secret_unless_a_port_name_or_package(
    r: Redactor, argv: list[str], hidden: bool
) -> None:
    out = r.redact_command(argv)
    value = argv[argv.index("-p") + 1]
    after = out[argv.index("-p") + 1]
    assert (after == r.tag("secret", value)) == hidden, out


# --- quotes around an email ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "kept"),
    [
        ("tool 'dave@example.com' is not", ("tool '", "' is not")),
        ("see `bob@example.org`", ("see `", "`")),
        ("{carol@example.net}", ("{", "}")),
        ("|erin@example.com|", ("|", "|")),
    ],
)
def test_the_quotes_around_an_email_stay_outside_its_tag(r: Redactor, text: str, kept: tuple[str, str]) -> None:
    address = text[len(kept[0]) : len(text) - len(kept[1])]
    assert r.redact_text(text) == kept[0] + r.tag("email", address) + kept[1]


def test_an_apostrophe_inside_an_address_is_part_of_it(r: Redactor) -> None:
    assert r.redact_text("o'brien@example.com") == r.tag("email", "o'brien@example.com")


# --- values behind JSON escapes ---------------------------------------------------------------------------
def test_escaped_characters_do_not_hide_an_email_a_card_or_a_key(r: Redactor) -> None:
    text = '{"e":"bob\\u0040example.com","c":"4111\\u00201111\\u00201111\\u00201111","k":"AKIA\\u0049OSFODNN7EXAMPLE"}'
    assert r.redact_text(text) == (
        f'{{"e":"{r.tag("email", "bob@example.com")}","c":"{r.tag("card", "4111111111111111")}",'
        f'"k":"{r.tag("aws_key", "AKIAIOSFODNN7EXAMPLE")}"}}'
    )


def test_escapes_in_json_nested_in_a_string_are_read_too(r: Redactor) -> None:
    inner = json.dumps({"email": "bob\\u0040example.com"})  # the JSON text, once more inside a string
    outer = json.dumps({"payload": inner})
    shown = r.redact_text(outer)
    assert "bob" not in shown and r.tag("email", "bob@example.com") in shown
    quoted = json.dumps({"t": json.dumps({"payload": json.dumps({"password": "Hunter2x"})})})
    assert "Hunter2x" not in r.redact_text(quoted)


def test_escapes_that_hide_nothing_are_kept_as_they_were(r: Redactor) -> None:
    text = '{"note":"caf\\u00e9 at 10\\u003a30","mail":"a@example.org","path":"C:\\\\Users\\\\x"}'
    assert r.redact_text(text) == text.replace("a@example.org", r.tag("email", "a@example.org"))
    plain = '{"note":"caf\\u00e9","q":"\\"quoted\\""}'
    assert r.redact_text(plain) is plain


def test_quotes_and_backslashes_are_never_decoded(r: Redactor) -> None:
    text = "x\\u0022 a\\u005c b\\u0040example.com"  # a quote and a backslash stay escaped in the result
    assert r.redact_text(text) == f"x\\u0022 a\\u005c {r.tag('email', 'b@example.com')}"


def test_escapes_that_only_appear_once_others_are_decoded_cost_one_pass(r: Redactor) -> None:
    nested = "\\u" * 20000 + "\\u0030" * 20000 + "040"  # each decoding would make the next escape
    started = time.perf_counter()
    assert r.redact_text(nested)
    assert time.perf_counter() - started < 5


# --- the fields the audit writer redacts -----------------------------------------------------------------
def _written(tmp_path: Path, *records: dict[str, Any]) -> tuple[list[dict[str, Any]], AuditFile]:
    path = tmp_path / "a.jsonl"
    audit = AuditFile(str(path), KEY, "never")
    for record in records:
        audit.record(record)
    audit.close()
    return [json.loads(line) for line in path.read_bytes().splitlines()], audit


def test_peer_info_ids_tool_names_and_errors_are_redacted(tmp_path: Path) -> None:
    mail = "carol@example.com"
    records, audit = _written(
        tmp_path,
        {"event": "initialize", "client_info": {"name": f"agent {mail}", "version": GHP}, "server_info": {"n": mail}},
        {"event": "decision", "decision": "allow", "tool": mail, "request_id": mail, "reason": "allowed by policy"},
        {"event": "result", "tool": mail, "request_id": mail, "preview": ""},
        {"event": "decision", "decision": "allow", "tool": "echo", "request_id": 4111111111111111, "reason": "ok"},
        {"event": "policy_reload", "outcome": "rejected", "file": "p.yaml", "error": f"not '{GHP}'"},
        {"event": "tools_pinned", "tools": ["echo", mail]},
    )
    raw = (tmp_path / "a.jsonl").read_text()
    assert mail not in raw and GHP not in raw
    hello, decision, result, numbered, reload, pinned = records
    assert hello["client_info"]["version"].startswith("<github_token:") and "<email:" in hello["server_info"]["n"]
    assert decision["tool"] == result["tool"] == decision["request_id"] == result["request_id"]  # they correlate
    assert numbered["request_id"] == 4111111111111111 and numbered["tool"] == "echo"  # numbers stay numbers
    assert reload["error"].startswith("not '<github_token:")
    assert pinned["tools"][0] == "echo" and pinned["tools"][1] == decision["tool"]
    assert {"echo", mail, "allowed by policy"} <= set(audit._reasons)  # repeated texts are redacted once


# --- rotation suffixes ------------------------------------------------------------------------------------
@pytest.mark.parametrize("suffix", ["\u00b2", "\u0661", "\uff11", "+1", " 1", "1 ", "", "1a"])
def test_only_ascii_digits_make_a_rotated_file(tmp_path: Path, suffix: str) -> None:
    live = tmp_path / "a.jsonl"
    live.write_text("")
    (tmp_path / "a.jsonl.1").write_text("")
    (tmp_path / f"a.jsonl.{suffix}").write_text("")
    assert rotation_number(f"{live}.{suffix}") is None
    assert rotated_numbers(str(live)) == [1]
    assert log_set(str(live)) == [f"{live}.1", str(live)]


def test_rotated_files_are_named_as_found(tmp_path: Path) -> None:
    live = str(tmp_path / "a.jsonl")
    for name in ("a.jsonl.2", "a.jsonl.01", "a.jsonl.10"):
        (tmp_path / name).write_text("")
    assert rotated_files(live) == [(1, f"{live}.01"), (2, f"{live}.2"), (10, f"{live}.10")]
    assert log_set(live) == [f"{live}.01", f"{live}.2", f"{live}.10"]
    assert rotation_number(f"{live}.01") == 1
