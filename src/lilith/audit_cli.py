"""``lilith audit verify``: check an audit log offline."""

from __future__ import annotations

import argparse
import sys

from lilith.errors import LilithError

EXIT_BROKEN = 1
EXIT_USAGE = 2


def add_audit_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    audit = commands.add_parser("audit", help="work with audit logs")
    audit_commands = audit.add_subparsers(dest="audit_command", required=True)
    verify = audit_commands.add_parser(
        "verify", help="check the hash chain and every record's HMAC; exit 1 naming the first bad line"
    )
    verify.add_argument("file")
    verify.add_argument("--key-file", help="the audit key (default: as `lilith run` finds it)")
    verify.add_argument("--no-key", action="store_true", help="check the chain only (proves order, not origin)")


def run_audit_command(args: argparse.Namespace) -> int:
    from lilith.audit.chain import verify
    from lilith.audit.keys import key_path, read_key

    try:
        key = None if args.no_key else read_key(key_path(args.key_file)[0])
        with open(args.file, "rb") as handle:
            data = handle.read()
    except LilithError as exc:
        print(f"lilith audit verify: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:
        print(f"lilith audit verify: cannot read {args.file!r}: {exc.strerror}", file=sys.stderr)
        return EXIT_USAGE
    verdict = verify(data, key)
    print(f"{args.file}: {verdict}" + ("" if key is not None else " (chain only: no key given)"))
    return 0 if verdict.ok else EXIT_BROKEN
