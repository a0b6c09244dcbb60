"""Verify a rotated set of audit files as one chain, naming ``file:line`` of the first problem.

Each file after the first must begin with ``log_rotated`` naming the file before it and chaining on its last
record, so a missing, reordered or swapped file is found at line 1 of the file after the gap.
"""

from __future__ import annotations

import os
import stat
from typing import Any, NamedTuple

from lilith.audit.chain import GENESIS, opening_record, verify
from lilith.audit.rotation import in_chain_order, log_set, rotation_number


class SetVerdict(NamedTuple):
    ok: bool
    records: int
    files: int
    problem: str | None = None
    file: str | None = None
    line: int | None = None
    head: str = ""  # what the head witness said (see lilith.audit.head), for an intact chain

    def __str__(self) -> str:
        if self.ok:
            where = "" if self.files == 1 else f" in {self.files} files"
            return f"ok: {self.records} records{where}, chain intact" + (f"; {self.head}" if self.head else "")
        return f"{self.file}:{self.line}: {self.problem}"


def files_to_verify(paths: list[str]) -> list[str]:
    """One live log stands for its whole rotated set; several files are put in chain order."""
    if len(paths) == 1 and rotation_number(paths[0]) is None:
        return log_set(paths[0])
    return in_chain_order(paths)


def verify_files(paths: list[str], key: bytes | None) -> SetVerdict:
    """``paths`` oldest first. Raises OSError if a file cannot be read."""
    previous = GENESIS
    before: str | None = None
    total = 0
    for index, path in enumerate(paths):
        data = _read_log_or_gone(path, last=index == len(paths) - 1)
        if data is None:
            return SetVerdict(
                False, total, index + 1, "not a regular file (a log is never a directory, a FIFO or a device)", path, 1
            )
        first = opening_record(data)
        continues = first is not None and first.get("event") == "log_rotated"
        problem = _link_problem(first, before, previous) if continues else None
        replaced = first if first is not None and first.get("event") == "log_replaced" else None
        if replaced is not None:  # the file before this one was lost while written: its records are elsewhere
            continues, previous = True, _hex(replaced.get("previous_hash"), 64)
            problem = _replaced_problem(data, key, previous, replaced, before)
        if problem is None and not continues and before is not None and data.strip():
            problem = (
                f"does not continue {os.path.basename(before)!r} (not a rotated file of this log, or out of order)"
            )
        if problem is not None:
            return SetVerdict(False, total, index + 1, problem, path, 1)
        verdict = verify(data, key, previous if continues else GENESIS)
        total += verdict.records
        if not verdict.ok:
            return SetVerdict(False, total, index + 1, verdict.problem, path, verdict.line)
        if data.strip():
            previous, before = verdict.last_hash, path
    return SetVerdict(True, total, len(paths))


def _read_log_or_gone(path: str, *, last: bool) -> bytes | None:
    """``_read_log``, except that a live file that is gone while its head file is not reads as empty: the
    head names a record no file holds, which ``check_head`` reports as records cut off the end."""
    from lilith.audit.head import head_path

    try:
        return _read_log(path)
    except FileNotFoundError:
        if not last or rotation_number(path) is not None or not os.path.lexists(head_path(path)):
            raise
        return b""


def _replaced_problem(
    data: bytes, key: bytes | None, previous: str, record: dict[str, Any], before: str | None
) -> str | None:
    """What a file opening with ``log_replaced`` says about the file before it, once that record checks out
    (else the chain check names it): deleted or emptied, its records are in no file; moved away, it is not
    ``before``. Moved away from the first file of the set: not a problem here (``check_head`` mentions it)."""
    if not verify(data.split(b"\n", 1)[0] + b"\n", key, previous).ok:
        return None
    reason, last, seen = record.get("reason"), _count(record.get("previous_seq")), _count(record.get("seen_seq"))
    where = f"session {_session(record.get('session'))} up to seq {last}"
    if reason in ("deleted", "truncated"):
        unseen = ""
        if _INVALID not in (last, seen) and int(last) > int(seen):
            unseen = (
                f"; the last {int(last) - int(seen)} (after seq {seen}) were written after it was last seen in "
                "place, and their messages had taken effect"
            )
        what = "deleted" if reason == "deleted" else "emptied or cut"
        return f"the log file before this one was {what} while Lilith wrote it: its records ({where}) are in no file{unseen}"
    if before is not None:
        return (
            f"continues a log file moved away while Lilith wrote it ({where}), not {os.path.basename(before)!r}: "
            f"a file of the set is missing (find it, and check it with --last-hash {previous})"
        )
    return None


def _count(value: Any) -> str:
    """A ``seq`` from the log, shown only if it is one (``--no-key`` cannot authenticate the log)."""
    return str(value) if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else _INVALID


def live_log(named: list[str]) -> str:
    """The live log a verify command line is about, whether or not it still exists: the one name given, or
    the one that is not a rotated file, or the name the rotated files share."""
    logs = in_chain_order(named)
    live = [path for path in logs if rotation_number(path) is None]
    if live:
        return live[-1]
    return logs[-1].rpartition(".")[0] if logs else ""


def check_head(
    paths: list[str],
    verdict: SetVerdict,
    key: bytes | None,
    *,
    live: str,
    required: bool,
    head_file: str | None = None,
    last_hash: str | None = None,
) -> SetVerdict:
    """An intact chain must still hold the record its head file names (``<live>.head``, or a copy kept
    elsewhere at ``head_file``), and the record ``last_hash`` names if one was given (from the
    ``audit_log_closed`` line of Lilith's stderr); else records were cut off the end (a deleted live file
    included). ``head_mismatch`` records fail; ``head_missing`` and ``log_started_over`` are said, and fail
    under ``required`` (as does a missing head file). Verifying only archived files of a live log checks
    ``last_hash`` alone: the head names the live file's end."""
    from lilith.audit.head import head_path, read_head, witnessed

    if not verdict.ok or not live:
        return verdict
    findings = _findings(paths)
    for path, number, record in findings:
        if record.get("event") == "head_mismatch":
            problem = f"when a run of Lilith started, its head file did not match: {_said(record.get('problem'))}"
            return verdict._replace(ok=False, problem=problem, file=path, line=number)
    notes = [_note(record) for _path, _number, record in findings]
    if notes and required:
        path, number, _record = findings[0]
        return verdict._replace(ok=False, problem=notes[0], file=path, line=number)
    if last_hash is not None and not witnessed(paths, last_hash):
        problem = f"the log ends before the record {last_hash[:12]}… that was logged as written"
        return verdict._replace(
            ok=False, problem=problem + ": records were cut off the end", file=live, line=_line_count(live) + 1
        )
    if live not in paths and os.path.exists(live) and head_file is None:
        return verdict._replace(head="; ".join([*notes, "archived files: their end is checked with --last-hash"]))
    head = read_head(live, key, head_file)
    if head is None:
        if required or head_file is not None:
            where = f" at {head_file!r}" if head_file else ""
            problem = f"no head file{where}: cannot tell whether records were cut off the end"
            return verdict._replace(ok=False, problem=problem, file=live, line=_line_count(live) + 1)
        return verdict._replace(head="; ".join([*notes, "no head file, so the end of the log is not checked"]))
    if isinstance(head, str):
        return verdict._replace(ok=False, problem=head, file=head_file or head_path(live), line=1)
    if not witnessed(paths, head.hash):
        problem = (
            f"the log ends before the record its head file names (session {_session(head.session)}, seq {head.seq}): "
            "records were cut off the end" + ("" if os.path.lexists(live) else " (the live file is missing)")
        )
        return verdict._replace(ok=False, problem=problem, file=live, line=_line_count(live) + 1)
    return verdict._replace(head="; ".join([*notes, f"the head file's record (seq {head.seq}) is present"]))


_FINDINGS = (b'"head_mismatch"', b'"head_missing"', b'"log_started_over"', b'"log_replaced"')


def _findings(paths: list[str]) -> list[tuple[str, int, dict[str, Any]]]:
    """Records in which a run of Lilith said something about the head file it found, as (file, line, record)."""
    import json

    found: list[tuple[str, int, dict[str, Any]]] = []
    for path in paths:
        try:
            data = _read_log(path)
        except OSError:
            continue
        if data is None or not any(marker in data for marker in _FINDINGS):
            continue
        for number, line in enumerate(data.split(b"\n"), start=1):
            if any(marker in line for marker in _FINDINGS):
                try:
                    record = json.loads(line)
                except (ValueError, RecursionError):
                    continue
                if isinstance(record, dict) and record.get("event") in (
                    "head_mismatch",
                    "head_missing",
                    "log_started_over",
                    "log_replaced",
                ):
                    found.append((path, number, record))
    return found


def _note(record: dict[str, Any]) -> str:
    """What a run said about the head file it found, in words of ours: values from the log (which ``--no-key``
    cannot authenticate) are shown only once validated, so a crafted record cannot drive the terminal."""
    if record.get("event") == "head_missing":
        return "a run found the log without its head file (an older Lilith, a run killed in its first second, or a deleted head)"
    if record.get("event") == "log_replaced":
        return (
            f"the log file was moved away while a run of Lilith wrote it (session {_session(record.get('session'))} "
            f"up to seq {_count(record.get('previous_seq'))}; check that file with --last-hash "
            f"{_hex(record.get('previous_hash'), 64)})"
        )
    seq, session, last = record.get("head_seq"), record.get("head_session"), record.get("head_hash")
    shown_seq = str(seq) if isinstance(seq, int) and not isinstance(seq, bool) and seq >= 0 else _INVALID
    return (
        f"the log was started over after an earlier one ended at session {_session(session)} seq {shown_seq} "
        f"(check that file with --last-hash {_hex(last, 64)})"
    )


_INVALID = "<invalid>"
_SAID_MAX = 300  # a head_mismatch problem is one sentence of Lilith's (with a path, at most)


def _hex(value: Any, length: int) -> str:
    """``value`` if it is ``length`` lower-case hex digits (a hash, a session id), else ``<invalid>``."""
    if isinstance(value, str) and len(value) == length and all(ch in "0123456789abcdef" for ch in value):
        return value
    return _INVALID


def _session(value: Any) -> str:
    """A session id (32 hex digits, as the writer makes them) by its first 8, as ``tail`` shows it."""
    shown = _hex(value, 32)
    return shown[:8] if shown != _INVALID else shown


def _said(value: Any) -> str:
    """A ``head_mismatch`` record's problem: text of Lilith's, unless the log was crafted; escaped either way."""
    from lilith.audit.render import printable

    if not isinstance(value, str):
        return _INVALID
    return printable(value if len(value) <= _SAID_MAX else value[: _SAID_MAX - 1] + "…")


def _line_count(path: str) -> int:
    try:
        data = _read_log(path)
        return data.count(b"\n") if data is not None else 0
    except OSError:
        return 0


def _link_problem(first: dict[str, Any] | None, before: str | None, previous: str) -> str | None:
    named = first.get("previous_file") if first is not None else None
    if before is None:
        return f"continues {named!r}, which is missing (verify the whole set, oldest file first)"
    if named != os.path.basename(before):
        return f"continues {named!r}, not {os.path.basename(before)!r}: a file of the set is missing or out of order"
    if first is not None and first.get("previous_hash") != previous:
        return f"previous_hash does not match the last record of {os.path.basename(before)!r}"
    return None


def _read_log(path: str) -> bytes | None:
    """A log file's bytes; None if it is not a regular file. Opened without blocking, so a FIFO planted at a
    rotated file's name cannot stall ``verify``. Raises OSError (FileNotFoundError included)."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    if not stat.S_ISREG(os.fstat(fd).st_mode):  # before fdopen, which refuses a directory naming only the fd
        os.close(fd)
        return None
    with os.fdopen(fd, "rb") as handle:
        return handle.read()
