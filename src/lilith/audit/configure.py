"""The audit sink ``lilith run`` asked for: options in, an open ``AuditFile`` (or ``NoAudit``) out.

Everything that can refuse to start is checked here, before the server is started: the key, the log file,
the custom redaction patterns (compiled now; a bad one is a ``ConfigError``, exit 2).
"""

from __future__ import annotations

import argparse

from lilith.audit.redaction_config import redaction_patterns
from lilith.audit.rotation import Rotation
from lilith.audit.writer import AuditFile, NoAudit
from lilith.core.ports import EventLog


def open_audit(args: argparse.Namespace, log: EventLog) -> AuditFile | NoAudit:
    patterns = redaction_patterns(getattr(args, "redact_pattern", None), getattr(args, "redaction_config", None))
    if not args.audit_log:
        if patterns:
            from lilith.audit.redact import Redactor

            Redactor(b"only checking the patterns", patterns)
            log.log("warning", "redaction_without_audit_log", detail="custom redaction patterns apply to --audit-log")
        return NoAudit()
    from lilith.audit.keys import load_or_create_key

    key, key_file, created = load_or_create_key(args.audit_key_file)
    if created:
        log.log("warning", "audit_key_created", file=key_file, detail="keep it: it verifies this log")
    rotation = Rotation(getattr(args, "audit_rotate_size", None), getattr(args, "audit_rotate_interval", None))
    return AuditFile(
        args.audit_log,
        key,
        args.audit_fsync,
        rotation=rotation,
        on_failure=getattr(args, "audit_failure", "deny"),
        log=log,
        redaction=patterns,
    )
