"""Turn parsed command-line options into a running ``StdioProxy`` (policy, audit, session, server).

Order matters for start-up time: everything that can refuse to start (policy, audit log) is checked
first, then the server is launched, and only then is the rest of the proxy imported, so the server boots
on the other core while Lilith finishes its own imports.
"""

from __future__ import annotations

import argparse
import fnmatch
import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from lilith.audit.configure import open_audit
from lilith.audit.writer import AuditFile, NoAudit
from lilith.policy.loader import Policy, deny_all_policy
from lilith.runtime.logs import StderrLog
from lilith.runtime.pin_store import PinSetup
from lilith.runtime.policy_file import load_policy
from lilith.runtime.resolver import ServerPathResolver
from lilith.runtime.supervisor import ResourceLimits, ServerLauncher, ServerSpec

if TYPE_CHECKING:
    from lilith.runtime.stdio_proxy import StdioProxy

POLICY_ENV = "LILITH_POLICY"
BASELINE_ENV = ("PATH", "HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "LC_CTYPE", "TMPDIR", "TZ", "TERM", "SHELL")


def server_environment(environ: Mapping[str, str], allow: Sequence[str] | None) -> dict[str, str]:
    """All of Lilith's environment by default; with --env-allow, only the named (or globbed) variables
    plus a small non-secret baseline (PATH, HOME, locale …) that servers need to start at all."""
    if allow is None:
        return dict(environ)
    patterns = list(allow) + list(BASELINE_ENV)
    return {name: value for name, value in environ.items() if any(fnmatch.fnmatchcase(name, p) for p in patterns)}


def choose_policy(explicit: str | None, log: StderrLog) -> tuple[Policy, str | None]:
    """--policy wins over $LILITH_POLICY; with neither, every tool call is denied (fail closed)."""
    path = explicit or os.environ.get(POLICY_ENV) or None
    if path is None:
        log.log("warning", "no_policy", detail="no --policy or $LILITH_POLICY: every tools/call will be denied")
        return deny_all_policy(), None
    policy = load_policy(path)
    log.log("info", "policy_loaded", file=path, source="--policy" if explicit else POLICY_ENV)
    for warning in policy.warnings:
        log.log("warning", "policy_warning", detail=warning)
    return policy, path


def assemble_proxy(args: argparse.Namespace, server: list[str], log: StderrLog, launcher: ServerLauncher) -> StdioProxy:
    """Check the configuration, hand the spec to the already-booting supervisor, build the proxy."""
    try:
        (policy, policy_path), audit, spec = _checked_configuration(args, server, log)
        pins = PinSetup.prepare(args.pin_store, spec.argv, policy)
        resolver = ServerPathResolver(spec.env, spec.cwd)  # refuses a working directory that is gone
        launcher.begin(spec)
    except BaseException:
        launcher.cancel()
        raise
    # The server is booting now; the rest of the proxy is imported meanwhile.
    from lilith.audit.results import summarise_result
    from lilith.core.gate import build_gate
    from lilith.core.session import Limits, Session
    from lilith.runtime.policy_holder import PolicyHolder
    from lilith.runtime.stdio_proxy import ProxyOptions, StdioProxy

    holder = PolicyHolder(policy, policy_path, log, audit)
    first_server = launcher.finish()
    _record_start(audit, log, spec, policy_path, first_server.pid)
    holder.record_load()
    limits = Limits(
        max_client_line_bytes=args.max_line_bytes,
        max_server_line_bytes=args.max_server_line_bytes,
        max_depth=args.max_depth,
        max_batch=args.max_batch,
        request_timeout=args.request_timeout,
        request_timeout_max=max(args.request_timeout, args.request_timeout_max),
        startup_timeout=args.startup_timeout,
    )
    import time

    gate = build_gate(holder.current, resolver, time.monotonic, pins.interceptor(audit, log), audit=audit, log=log)
    options = ProxyOptions(
        restart=args.restart,
        max_restarts=args.max_restarts,
        stdin_grace_seconds=args.shutdown_grace,
        term_grace_seconds=args.shutdown_grace,
    )
    return StdioProxy(
        Session(gate, audit, log, limits, clock=time.monotonic, summarise=summarise_result if args.audit_log else None),
        spec,
        log,
        options,
        first_server=first_server,
        policy=holder,
        audit=audit,
    )


def _checked_configuration(
    args: argparse.Namespace, server: list[str], log: StderrLog
) -> tuple[tuple[Policy, str | None], AuditFile | NoAudit, ServerSpec]:
    """Everything that can refuse to start, checked before any server is started."""
    chosen = choose_policy(args.policy, log)
    audit = open_audit(args, log)
    spec = ServerSpec(
        argv=tuple(server),
        env=server_environment(os.environ, args.env_allow),
        cwd=args.cwd,
        limits=ResourceLimits(
            max_memory_bytes=args.max_memory,
            max_cpu_seconds=args.max_cpu_seconds,
            max_open_files=args.max_open_files,
            max_processes=args.max_processes,
        ),
    )
    return chosen, audit, spec


def _record_start(audit: AuditFile | NoAudit, log: StderrLog, spec: ServerSpec, policy: str | None, pid: int) -> None:
    from lilith.errors import AuditWriteError

    try:
        audit.record({"event": "session_start", "server_command": list(spec.argv), "server_pid": pid, "policy": policy})
    except AuditWriteError as exc:  # every decision will be denied for the same reason; say so now
        log.log("error", "audit_write_failed", error=str(exc))
