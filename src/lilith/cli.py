"""The ``lilith`` and ``lilith-zero`` commands.

argparse rather than click: ``lilith run`` sits on every agent's start-up path, and importing click costs
~45 ms on these machines against ~12 ms for argparse. Heavy modules are imported inside the commands.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import sys
from collections.abc import Sequence

from lilith.audit_cli import add_audit_commands, add_audit_run_options, run_audit_command
from lilith.errors import ConfigError, ServerStartError
from lilith.pin_cli import add_pin_commands, run_pin_command
from lilith.policy_cli import add_policy_commands, run_policy_command

EXIT_SERVER_FAILED = 1
EXIT_USAGE = 2
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?b?)\s*$", re.IGNORECASE)


class _Formatter(argparse.HelpFormatter):
    """argparse builds a formatter for every option it adds, and the stock one imports shutil (and with it
    bz2 and lzma) to measure the terminal: ~3 ms on `lilith run`'s start-up path. The same measurement,
    from ``os``: $COLUMNS, else the terminal on stdout, else 80."""

    def __init__(self, prog: str, indent_increment: int = 2, max_help_position: int = 24, width: int | None = None):
        super().__init__(prog, indent_increment, max_help_position, _terminal_columns() - 2 if width is None else width)


def _terminal_columns() -> int:
    try:
        columns = int(os.environ.get("COLUMNS", ""))
    except ValueError:
        columns = 0
    stdout = sys.__stdout__
    if columns <= 0 and stdout is not None:
        try:
            columns = os.get_terminal_size(stdout.fileno()).columns
        except (AttributeError, ValueError, OSError):
            columns = 0
    return columns or 80


def parse_size(text: str) -> int:
    """'512M', '1.5GiB', '100000' -> bytes (binary multiples)."""
    match = _SIZE.match(text)
    if match is None:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (examples: 512M, 1G, 1048576)")
    number, unit = float(match.group(1)), match.group(2).lower()
    scale = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}[unit]
    value = int(number * scale)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"size must be positive: {text!r}")
    return value


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive: {text!r}")
    return value


def positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive, finite number of seconds: {text!r}")
    return value


def _add_run_options(parser: argparse.ArgumentParser, *, zero: bool) -> None:
    default_policy = "$LILITH_POLICY, else $POLICIES_YAML_PATH" if zero else "$LILITH_POLICY"
    parser.add_argument("--policy", metavar="FILE", help=f"policy file (default: {default_policy}; none = deny all)")
    parser.add_argument(
        "--audit-logs" if zero else "--audit-log", dest="audit_log", metavar="FILE", help="append audit records here"
    )
    parser.add_argument(
        "--audit-key-file",
        metavar="FILE",
        help="HMAC key for the audit log (default: $LILITH_AUDIT_KEY_FILE, else one created in ~/.config/lilith)",
    )
    parser.add_argument(
        "--audit-fsync",
        choices=["always", "interval", "never"],
        default="interval",
        help="flush the audit log to disk after every record, once a second (default), or never",
    )
    add_audit_run_options(parser, parse_size)
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    parser.add_argument("--log-format", default="text", choices=["text", "json"])
    parser.add_argument(
        "--env-allow", nargs="+", metavar="NAME", help="pass only these variables (globs allowed) to the server"
    )
    parser.add_argument("--cwd", metavar="DIR", help="working directory of the server")
    parser.add_argument("--max-memory", type=parse_size, metavar="SIZE", help="cap on the server tree's RSS")
    parser.add_argument("--max-cpu-seconds", type=positive_int, metavar="N")
    parser.add_argument("--max-open-files", type=positive_int, metavar="N")
    parser.add_argument("--max-processes", type=positive_int, metavar="N")
    parser.add_argument("--restart", choices=["never", "on-failure"], default="never")
    parser.add_argument("--max-restarts", type=positive_int, default=3, metavar="N")
    parser.add_argument("--max-line-bytes", type=parse_size, default=8 * 1024**2, metavar="SIZE")
    parser.add_argument("--max-server-line-bytes", type=parse_size, default=64 * 1024**2, metavar="SIZE")
    parser.add_argument("--max-depth", type=positive_int, default=64, metavar="N")
    parser.add_argument("--max-batch", type=positive_int, default=64, metavar="N")
    parser.add_argument(
        "--shutdown-grace",
        "--shutdown-timeout",
        dest="shutdown_grace",
        type=positive_seconds,
        default=2.0,
        metavar="SECONDS",
        help="at shutdown, wait this long after closing the server's stdin, and again after SIGTERM (default 2)",
    )
    parser.add_argument(
        "--request-timeout",
        type=positive_seconds,
        default=60.0,
        metavar="SECONDS",
        help="answer a request the server has not answered in this time with an error, and cancel it (default 60)",
    )
    parser.add_argument(
        "--request-timeout-max",
        type=positive_seconds,
        default=600.0,
        metavar="SECONDS",
        help="progress notifications extend a request's deadline, never past this (default 600)",
    )
    parser.add_argument(
        "--pin-store",
        metavar="FILE",
        help="pin every tool on first sight and refuse changed or new ones (pin_mode: enforce unless the policy "
        "says otherwise); default store ~/.config/lilith/pins.json when the policy turns pinning on",
    )
    parser.add_argument(
        "--startup-timeout",
        type=positive_seconds,
        default=30.0,
        metavar="SECONDS",
        help="the server must answer its first request (initialize) in this time, or it is treated as failed",
    )


def build_parser(*, run_only: bool = False) -> argparse.ArgumentParser:
    """``run_only``: for a command line that starts with ``run``, leave the other commands out: their options
    cost ~5 ms to build, on every agent's start-up path."""
    parser = argparse.ArgumentParser(
        prog="lilith", description="A transparent, fail-closed security proxy for MCP.", formatter_class=_Formatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run an MCP server behind Lilith (stdio)", formatter_class=_Formatter)
    _add_run_options(run, zero=False)
    run.add_argument("server", nargs=argparse.REMAINDER, help="-- COMMAND [ARGS...] of the MCP server")
    if not run_only:
        add_policy_commands(commands)
        add_audit_commands(commands)
        add_pin_commands(commands)
    return parser


LILITH_POLICY_ENV = "LILITH_POLICY"  # read by lilith.runtime.assemble (not imported here: start-up time)
ZERO_POLICY_ENV = "POLICIES_YAML_PATH"  # the original's variable; --policy and $LILITH_POLICY win over it
# The original's other commands: where their work is done here (none of them can be passed on unchanged).
_ZERO_ELSEWHERE = {
    "audit": "Lilith's audit log has its own format: use `lilith audit verify|tail|query FILE`",
    "pin": "Lilith keeps its own pin store: use `lilith pin show|accept|reset [--pin-store FILE]`",
    "hook": "agent hooks (Claude Code, Copilot, VS Code) are not part of this build",
    "serve": "the Copilot Studio webhook server is not part of this build",
}


def build_zero_parser() -> argparse.ArgumentParser:
    """The original's middleware command line, `run` or not: ``[run] -u CMD [OPTIONS] [-- ARGS...]``, plus
    every ``lilith run`` option. The words after ``--`` are split off by ``main_zero`` before parsing."""
    from lilith import __version__

    parser = argparse.ArgumentParser(
        prog="lilith-zero",
        usage="lilith-zero [run] -u CMD [OPTIONS] [-- ARGS...]  |  lilith-zero validate FILE",
        description="lilith-zero compatible command line: runs the MCP server CMD ARGS behind Lilith (stdio).",
        formatter_class=_Formatter,
    )
    parser.add_argument(
        "-u", "--upstream-cmd", metavar="CMD", help='server command line, e.g. "python server.py"; ARGS are appended'
    )
    parser.add_argument(
        "--transport", choices=["stdio", "http"], help="stdio (the default and the only one; http is refused)"
    )
    parser.add_argument("--upstream-url", metavar="URL", help="refused: Lilith runs stdio servers only")
    parser.add_argument("-V", "--version", action="version", version=f"lilith-zero (Lilith Zero {__version__})")
    _add_run_options(parser, zero=True)
    return parser


def split_zero_argv(words: Sequence[str]) -> tuple[str | None, list[str]]:
    """(command, the words after it): ``run``, another of the original's commands, or None for its flat form
    (options alone)."""
    if words and not words[0].startswith("-"):
        return words[0], list(words[1:])
    return None, list(words)


def split_upstream_args(words: Sequence[str]) -> tuple[list[str], list[str]]:
    """(options, upstream args): the words after the first ``--`` go to the server, as the original takes them."""
    if "--" not in words:
        return list(words), []
    end = list(words).index("--")
    return list(words[:end]), list(words[end + 1 :])


def upstream_argv(upstream_cmd: str, upstream_args: Sequence[str]) -> list[str]:
    """``-u`` is split like a shell would ("python server.py", as the original's examples write it), unless
    it names an executable file as it stands (the original took it as one program path, spaces included)."""
    if os.sep in upstream_cmd and os.path.isfile(upstream_cmd) and os.access(upstream_cmd, os.X_OK):
        words = [upstream_cmd]
    else:
        words = shlex.split(upstream_cmd)
    return [*words, *upstream_args]


def main(argv: Sequence[str] | None = None) -> int:
    words = list(sys.argv[1:] if argv is None else argv)
    args = build_parser(run_only=words[:1] == ["run"]).parse_args(words)
    if args.command == "policy":
        return run_policy_command(args)
    if args.command == "audit":
        return run_audit_command(args)
    if args.command == "pin":
        return run_pin_command(args)
    server = list(args.server)
    if server and server[0] == "--":
        server = server[1:]
    if not server:
        print("lilith run: missing the server command (lilith run [OPTIONS] -- COMMAND [ARGS...])", file=sys.stderr)
        return EXIT_USAGE
    return _run(args, server)


def main_zero(argv: Sequence[str] | None = None) -> int:
    command, words = split_zero_argv(sys.argv[1:] if argv is None else argv)
    if command == "validate":  # `lilith policy check`, with the original's exit codes: 0 valid, 1 invalid
        validate = argparse.ArgumentParser(prog="lilith-zero validate", description="validate a policy file")
        validate.add_argument("file", metavar="FILE")
        return run_policy_command(argparse.Namespace(policy_command="check", file=validate.parse_args(words).file))
    if command in _ZERO_ELSEWHERE:
        print(f"lilith-zero {command}: {_ZERO_ELSEWHERE[command]}", file=sys.stderr)
        return EXIT_USAGE
    parser = build_zero_parser()
    if command not in (None, "run"):
        parser.error(f"unknown command {command!r} (commands: run, validate; or options alone, as `run` takes)")
    options, upstream_args = split_upstream_args(words)
    args = parser.parse_args(options)
    if args.transport == "http" or args.upstream_url is not None:
        parser.error("--transport http / --upstream-url: Lilith runs MCP servers over stdio only (use -u CMD)")
    if args.upstream_cmd is None:
        parser.error('missing the server: -u/--upstream-cmd CMD (e.g. -u "python server.py")')
    try:
        server = upstream_argv(args.upstream_cmd, upstream_args)
    except ValueError as exc:
        parser.error(f"--upstream-cmd: {exc}")
    if not server:
        parser.error("--upstream-cmd is empty")
    if args.policy is None and not os.environ.get(LILITH_POLICY_ENV) and os.environ.get(ZERO_POLICY_ENV):
        args.policy = os.environ[ZERO_POLICY_ENV]
    return _run(args, server)


def _run(args: argparse.Namespace, server: list[str]) -> int:
    if sys.__stdout__ is None:  # fd 1 was closed at start: the next file opened would take its number
        print("lilith: standard output is closed; it must carry the MCP messages to the client", file=sys.stderr)
        return EXIT_USAGE
    # Anything printed by accident must never corrupt the MCP stream on fd 1.
    sys.stdout = sys.stderr
    # Boot the supervisor process first: its interpreter start-up then overlaps our own imports and the
    # policy check. It starts no server until it is handed one, and exits if we do not.
    from lilith.runtime.supervisor import ServerLauncher

    try:
        launcher = ServerLauncher()
    except ServerStartError as exc:
        print(f"lilith: {exc}", file=sys.stderr)
        return EXIT_SERVER_FAILED
    from lilith.runtime.reaper import forbid_inspection

    forbid_inspection()  # the server, same user, must not be able to rewrite our memory
    from lilith.runtime.logs import StderrLog

    log = StderrLog(args.log_level, args.log_format)
    try:
        from lilith.runtime.assemble import assemble_proxy

        proxy = assemble_proxy(args, server, log, launcher)
    except ConfigError as exc:
        log.log("error", "config_error", error=str(exc))
        log.flush()  # the log line goes by a writer thread: let it out before the message, never inside it
        print(f"lilith: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except ServerStartError as exc:
        log.log("error", "server_start_failed", error=str(exc))
        return EXIT_SERVER_FAILED
    return proxy.run()


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
