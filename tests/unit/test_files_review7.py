"""Review 7: reading configuration files that may not be regular files, and start-up errors.

The integration tests (tests/integration/test_files_review7.py) show the behaviour through real processes;
these pin down the pieces: the non-blocking reader, the digest of the parsed bytes, the pin store's checks,
the working directory, the audit CLI's error text.
"""

from __future__ import annotations

import errno
import hashlib
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from lilith.audit.keys import MAX_KEY_BYTES, read_key
from lilith.audit_cli import _os_error
from lilith.errors import ConfigError, PolicyError
from lilith.policy import loader
from lilith.policy.loader import parse_policy, parse_policy_bytes
from lilith.runtime import policy_holder
from lilith.runtime.pin_store import LOCK_SUFFIX, PinStore
from lilith.runtime.policy_holder import PolicyHolder
from lilith.runtime.regular_files import describe_size, kind_of, read_regular_file
from lilith.runtime.resolver import ServerPathResolver
from tests.unit.fakes import MemoryAudit, MemoryLog

GOOD = b"version: 1\nstatic_rules:\n  echo: ALLOW\n"
OTHER = b"version: 1\nstatic_rules:\n  echo: DENY\n"


# --- the reader -------------------------------------------------------------------------------------------


def test_a_regular_file_is_read_whole_up_to_its_limit(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"x" * 100)
    assert read_regular_file(str(path), 100) == b"x" * 100
    with pytest.raises(OSError, match="larger than 99 bytes") as refused:
        read_regular_file(str(path), 99)
    assert refused.value.errno == errno.EFBIG and refused.value.filename == str(path)


@pytest.mark.parametrize(
    ("make", "kind"),
    [
        (os.mkfifo, "a FIFO"),
        (os.mkdir, "a directory"),
        (lambda path: os.symlink("/dev/zero", path), "a character device"),
    ],
    ids=["fifo", "directory", "link-to-device"],
)
def test_anything_but_a_regular_file_is_refused_at_once(tmp_path: Path, make: object, kind: str) -> None:
    path = tmp_path / "thing"
    make(str(path))  # type: ignore[operator]
    began = time.monotonic()
    with pytest.raises(OSError) as refused:
        read_regular_file(str(path), 1 << 20)
    assert time.monotonic() - began < 1
    assert refused.value.strerror == f"it is {kind}, not a regular file"
    assert refused.value.filename == str(path)


def test_a_missing_file_is_the_usual_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        read_regular_file(str(tmp_path / "none"), 10)


def test_a_file_swapped_between_the_stat_and_the_open_is_judged_by_what_was_opened(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "policy.yaml"
    os.mkfifo(path)
    regular = tmp_path / "regular"
    regular.write_bytes(GOOD)
    real_stat = os.stat
    # The stat sees a regular file; by the open, the path is a FIFO: the fstat of the opened one decides.
    monkeypatch.setattr(os, "stat", lambda p, *a, **k: real_stat(regular) if p == str(path) else real_stat(p))
    with pytest.raises(OSError, match="it is a FIFO, not a regular file"):
        read_regular_file(str(path), 1 << 20)


def test_sizes_and_kinds_read_as_people_write_them() -> None:
    assert describe_size(16 << 20) == "16 MiB"
    assert describe_size(1 << 10) == "1 KiB"
    assert describe_size(4097) == "4097 bytes"
    assert kind_of(0o010644) == "a FIFO" and kind_of(0o100644) == "a regular file"


# --- the policy: one read, and the digest of exactly what was parsed --------------------------------------


def test_the_digest_is_of_the_bytes_parsed_and_crlf_reads_as_before(tmp_path: Path) -> None:
    crlf = GOOD.replace(b"\n", b"\r\n")
    policy = parse_policy_bytes(crlf, "p.yaml")
    assert policy.sha256 == hashlib.sha256(crlf).hexdigest()
    assert policy.static_rules.decide("echo").allowed
    bad = b"version: 1\r\nstatic_rules:\r\n  echo: MAYBE\r\n"
    with pytest.raises(PolicyError) as crlf_error:
        parse_policy_bytes(bad, "p.yaml")
    with pytest.raises(PolicyError) as lf_error:
        parse_policy(bad.decode().replace("\r\n", "\n"), "p.yaml")
    assert str(crlf_error.value) == str(lf_error.value)  # same line and column as text-mode open() gave
    with pytest.raises(PolicyError, match="cannot read policy file: 'utf-8' codec"):
        parse_policy_bytes(b"version: 1\n\xff\n", "p.yaml")


def _rewritten_after_each_load(monkeypatch: pytest.MonkeyPatch, path: Path, later: bytes) -> None:
    """The file changes right after each read (a configuration manager writing it again)."""

    def load_then_rewrite(name: str) -> loader.Policy:
        policy = loader.load_policy(name)
        path.write_bytes(later)
        return policy

    monkeypatch.setattr(policy_holder, "load_policy", load_then_rewrite)


def test_the_recorded_digests_are_of_the_policies_that_were_parsed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "p.yaml"
    path.write_bytes(GOOD)
    audit = MemoryAudit()
    holder = PolicyHolder(loader.load_policy(str(path)), str(path), MemoryLog(), audit)
    path.write_bytes(OTHER)  # changed after the start-up load, before its record is written
    holder.record_load()
    _rewritten_after_each_load(monkeypatch, path, GOOD + b"# later\n")
    assert holder.reload("SIGHUP") is True
    assert holder.current().static_rules.decide("echo").allowed is False  # OTHER was parsed
    load, reload = audit.records
    assert load["sha256"] == hashlib.sha256(GOOD).hexdigest()
    assert reload["outcome"] == "applied" and reload["sha256"] == hashlib.sha256(OTHER).hexdigest()


def test_a_reload_of_a_fifo_is_rejected_at_once_and_the_old_policy_stays(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_bytes(GOOD)
    log, audit = MemoryLog(), MemoryAudit()
    holder = PolicyHolder(loader.load_policy(str(path)), str(path), log, audit)
    old = holder.current()
    path.unlink()
    os.mkfifo(path)
    began = time.monotonic()
    assert holder.reload_if_changed() is False
    assert time.monotonic() - began < 1
    assert holder.current() is old
    [(level, event, fields)] = log.events
    assert (level, event) == ("error", "policy_reload_failed")
    assert fields["error"] == f"{path}: cannot read policy file: it is a FIFO, not a regular file"
    assert [(r["event"], r["outcome"]) for r in audit.records] == [("policy_reload", "rejected")]
    assert holder.reload_if_changed() is False and len(log.events) == 1  # unchanged since: not tried again


def test_an_oversized_policy_is_refused_with_its_limit(tmp_path: Path) -> None:
    from lilith.runtime.policy_file import MAX_POLICY_BYTES, load_policy

    path = tmp_path / "p.yaml"
    path.write_bytes(GOOD)
    os.truncate(path, MAX_POLICY_BYTES + 1)
    with pytest.raises(PolicyError, match="larger than 16 MiB"):
        load_policy(str(path))


# --- audit key --------------------------------------------------------------------------------------------


def test_a_key_that_is_a_fifo_or_too_large_is_refused(tmp_path: Path) -> None:
    fifo = tmp_path / "key"
    os.mkfifo(fifo)
    with pytest.raises(ConfigError, match="it is a FIFO, not a regular file"):
        read_key(str(fifo))
    big = tmp_path / "big"
    big.write_bytes(b"k" * (MAX_KEY_BYTES + 1))
    with pytest.raises(ConfigError, match="larger than 1 MiB"):
        read_key(str(big))


# --- pin store --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["true", "1.0", '"1"'])
def test_a_pin_store_version_must_be_the_integer_1(tmp_path: Path, version: str) -> None:
    path = tmp_path / "pins.json"
    path.write_text(f'{{"version": {version}, "servers": {{}}}}')
    with pytest.raises(ConfigError, match="is not a version 1 pin store"):
        PinStore(str(path)).servers()


def test_a_deeply_nested_pin_store_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "pins.json"
    path.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(ConfigError, match="nested too deeply"):
        PinStore(str(path)).servers()


@pytest.mark.parametrize(
    ("make", "kind"),
    [(os.mkfifo, "a FIFO"), (os.mkdir, "a directory"), (lambda p: os.symlink("/nowhere", p), "a symbolic link")],
    ids=["fifo", "directory", "symlink"],
)
def test_a_lock_file_no_save_could_take_is_refused_before_the_session(tmp_path: Path, make: object, kind: str) -> None:
    store = PinStore(str(tmp_path / "pins.json"))
    store.check_lock_file()  # none yet: the first save creates it
    make(store.path + LOCK_SUFFIX)  # type: ignore[operator]
    with pytest.raises(ConfigError, match=f"is {kind}, not a regular file"):
        store.check_lock_file()


# --- the working directory --------------------------------------------------------------------------------


@pytest.fixture
def in_a_deleted_directory(tmp_path: Path) -> Iterator[None]:
    before = os.getcwd()
    gone = tmp_path / "gone"
    gone.mkdir()
    os.chdir(gone)
    gone.rmdir()
    try:
        yield
    finally:
        os.chdir(before)


@pytest.mark.usefixtures("in_a_deleted_directory")
@pytest.mark.parametrize("cwd", [None, "relative/dir"])
def test_a_deleted_working_directory_is_a_config_error(cwd: str | None) -> None:
    with pytest.raises(ConfigError, match=r"working directory cannot be read .*absolute --cwd"):
        ServerPathResolver({"HOME": "/home/u"}, cwd)


@pytest.mark.usefixtures("in_a_deleted_directory")
def test_an_absolute_cwd_needs_no_working_directory() -> None:
    assert ServerPathResolver({"HOME": "/home/u"}, "/srv//work/./x/..").cwd() == "/srv/work"


# --- lilith audit: the path, never a descriptor's number ---------------------------------------------------


def test_an_error_about_a_descriptor_is_not_shown_as_a_file_named_after_it() -> None:
    assert _os_error(IsADirectoryError(errno.EISDIR, "Is a directory", 3)) == "Is a directory"
    assert _os_error(FileNotFoundError(errno.ENOENT, "No such file or directory", "a.jsonl")) == (
        "'a.jsonl': No such file or directory"
    )
