"""``lilith audit verify|tail|query|schema``: read audit logs offline."""

from __future__ import annotations

import argparse
import io
import re
import sys
from collections.abc import Callable

from lilith.errors import LilithError

EXIT_BROKEN = 1
EXIT_USAGE = 2
_DECISIONS = ("allow", "deny", "would-deny", "revoked")  # revoked: an allow whose record could not be flushed


def add_audit_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    audit = commands.add_parser("audit", help="work with audit logs")
    audit_commands = audit.add_subparsers(dest="audit_command", required=True)
    verify = audit_commands.add_parser(
        "verify",
        help="check the hash chain and every record's HMAC across rotated files; exit 1 naming the first bad file:line",
    )
    verify.add_argument("files", nargs="+", metavar="FILE", help="a log (its rotated files are found) or the files")
    verify.add_argument("--key-file", help="the audit key (default: as `lilith run` finds it)")
    verify.add_argument("--no-key", action="store_true", help="check the chain only (proves order, not origin)")
    verify.add_argument(
        "--require-head",
        action="store_true",
        help="fail when the head file (FILE.head, which guards the end of the log) is missing",
    )
    verify.add_argument("--head-file", metavar="FILE", help="a copy of the head file kept elsewhere, used instead")
    verify.add_argument(
        "--last-hash",
        metavar="HASH",
        help="the last_hash of an audit_log_closed line from Lilith's stderr: that record must still be there",
    )

    tail = audit_commands.add_parser("tail", help="the last records, one readable line each; -f follows")
    tail.add_argument("file", metavar="FILE")
    tail.add_argument("-n", "--lines", type=_count, default=10, metavar="N", help="how many records first (10)")
    tail.add_argument("-f", "--follow", action="store_true", help="keep printing new records, across rotation")
    _add_output_options(tail)

    query = audit_commands.add_parser("query", help="find records (indexed in FILE.idx.sqlite next to the log)")
    query.add_argument("file", metavar="FILE")
    query.add_argument("--tool", help="tool name, or a glob such as 'git_*'")
    query.add_argument("--decision", choices=_DECISIONS)
    query.add_argument("--event", help="record type: decision, result, session_start, records_lost …")
    query.add_argument("--since", metavar="WHEN", help="30m, 1h, 2d ago, or an ISO 8601 time")
    query.add_argument("--until", metavar="WHEN", help="as --since")
    query.add_argument("--session", metavar="ID", help="a session id or its first characters")
    query.add_argument(
        "--key-file",
        help="the audit key, to seal the index with (default: as `lilith run` finds it, if it can be read)",
    )
    _add_output_options(query)

    audit_commands.add_parser("schema", help="JSON Schema of audit records")


def add_audit_run_options(parser: argparse.ArgumentParser, parse_size: Callable[[str], int]) -> None:
    """The audit options of ``lilith run`` (``parse_size`` is the CLI's own: '10M', '1G' …)."""
    parser.add_argument(
        "--audit-rotate-size",
        type=parse_size,
        metavar="SIZE",
        help="rotate the audit log once it reaches SIZE (e.g. 100M): it becomes FILE.1, FILE.2 … (oldest first)",
    )
    parser.add_argument(
        "--audit-rotate-interval",
        type=_interval,
        metavar="INTERVAL",
        help="rotate the audit log once its first record is this old: seconds, or 30m, 1h, 1d, 1w",
    )
    parser.add_argument(
        "--audit-failure",
        choices=["deny", "continue"],
        default="deny",
        help="when a record cannot be written: deny the message (default), or let it go on, log loudly "
        "and record how many records were lost once writing works again",
    )
    parser.add_argument(
        "--redact-pattern",
        action="append",
        metavar="NAME=REGEX",
        help="also redact matches of REGEX (RE2 syntax) in audit records, as <NAME:tag>; repeatable",
    )
    parser.add_argument(
        "--redaction-config",
        action="append",
        metavar="FILE",
        help="YAML list of {name: ..., pattern: ...} custom redaction patterns; repeatable",
    )


def _interval(text: str) -> float:
    from lilith.audit.rotation import parse_interval

    try:
        return parse_interval(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _add_output_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print the records themselves, one JSON object a line")
    parser.add_argument(
        "--color", choices=["auto", "always", "never"], default="auto", help="auto: on a terminal, unless NO_COLOR"
    )


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative: {text!r}")
    return value


def run_audit_command(args: argparse.Namespace) -> int:
    command = args.audit_command
    name = f"lilith audit {command}"
    try:
        if command == "verify":
            return _verify(args)
        if command == "tail":
            return _tail(args)
        if command == "query":
            return _query(args)
        return _schema()
    except LilithError as exc:
        print(f"{name}: {exc}", file=sys.stderr)
    except OSError as exc:
        print(f"{name}: {_os_error(exc)}", file=sys.stderr)
    except ValueError as exc:
        print(f"{name}: {exc}", file=sys.stderr)
    except KeyboardInterrupt:
        return 0
    return EXIT_USAGE


def _os_error(exc: OSError) -> str:
    """'path': what went wrong. A path only when the error carries one: an error about a descriptor names
    its number, which would read as a file called "3"."""
    where = exc.filename if isinstance(exc.filename, str) else None
    what = exc.strerror or str(exc)
    return f"{where!r}: {what}" if where is not None else what


def _verify(args: argparse.Namespace) -> int:
    from lilith.audit.keys import key_path, read_key
    from lilith.audit.verify_set import check_head, files_to_verify, live_log, verify_files

    last_hash = args.last_hash.strip().lower() if args.last_hash is not None else None
    if last_hash is not None and not re.fullmatch(r"[0-9a-f]{64}", last_hash):
        print(
            "lilith audit verify: --last-hash takes the 64 hex digits of last_hash=… from audit_log_closed",
            file=sys.stderr,
        )
        return EXIT_USAGE
    key = None if args.no_key else read_key(key_path(args.key_file)[0])
    files = files_to_verify(list(args.files))
    verdict = check_head(
        files,
        verify_files(files, key),
        key,
        live=live_log(list(args.files)),
        required=args.require_head,
        head_file=args.head_file,
        last_hash=last_hash,
    )
    print(f"{verdict}" + ("" if key is not None else " (chain only: no key given)"))
    return 0 if verdict.ok else EXIT_BROKEN


def _readable_anywhere() -> None:
    """Whatever the locale's encoding, a character it lacks is written as an escape, never an exception."""
    if isinstance(sys.stdout, io.TextIOWrapper):
        sys.stdout.reconfigure(errors="backslashreplace")


def _tail(args: argparse.Namespace) -> int:
    from lilith.audit.render import is_terminal, use_colour
    from lilith.audit.tail import Tail

    _readable_anywhere()
    tail = Tail(
        args.file,
        sys.stdout,
        as_json=args.json,
        colour=use_colour(args.color, sys.stdout),
        terminal=is_terminal(sys.stdout),
    )
    try:
        tail.run(args.lines, args.follow)
    except BrokenPipeError:  # piped into `head`: not an error
        sys.stdout = sys.stderr
    return 0


def _query(args: argparse.Namespace) -> int:
    import time

    from lilith.audit.index import NOT_REGULAR
    from lilith.audit.query import Filters, parse_time, query
    from lilith.audit.render import is_terminal, json_line, render_line, use_colour

    now = time.time()
    filters = Filters(
        tool=args.tool,
        decision=args.decision,
        since=parse_time(args.since, now) if args.since else None,
        until=parse_time(args.until, now) if args.until else None,
        session=args.session,
        event=args.event,
    )
    _readable_anywhere()
    colour = use_colour(args.color, sys.stdout)
    terminal = is_terminal(sys.stdout)
    out = sys.stdout
    answer = query(args.file, filters, _index_key(args.key_file))
    try:
        for line in answer.lines:
            out.write((json_line(line, terminal) if args.json else render_line(line, colour)) + "\n")
        out.flush()
    except BrokenPipeError:
        sys.stdout = sys.stderr
    for path in answer.unreadable:  # the answer is incomplete: say which files, and exit 1
        print(f"lilith audit query: skipped {path!r}: {NOT_REGULAR}", file=sys.stderr)
    return EXIT_BROKEN if answer.unreadable else 0


def _index_key(explicit: str | None) -> bytes | None:
    """The audit key to seal the query index with: a key named with --key-file must be read; the one
    `lilith run` would use is taken if it can be (the index is then sealed against anyone without it),
    else the index is sealed without a key."""
    from lilith.audit.keys import key_path, read_key
    from lilith.errors import ConfigError

    try:
        return read_key(key_path(explicit)[0])
    except ConfigError:
        if explicit is not None:
            raise
        return None


def _schema() -> int:
    import json

    from lilith.audit.schema import audit_record_schema

    print(json.dumps(audit_record_schema(), indent=2))
    return 0
