"""The live policy: swapped atomically on SIGHUP or when its file changes; a bad new file changes nothing.

Readers call ``current()`` once per decision and get one whole policy, old or new, never a mix: the swap
is a single reference assignment. The file is read without blocking (``lilith.runtime.policy_file``): the
check runs on the main loop, and a path swapped for a FIFO or a device must be a rejected reload, not a
loop stuck in ``open()``.
"""

from __future__ import annotations

import os
from typing import Any

from lilith.core.ports import AuditSink, EventLog
from lilith.errors import AuditWriteError, LilithError
from lilith.policy.loader import Policy
from lilith.runtime.policy_file import load_policy


def _stamp(path: str) -> tuple[int, int, int] | None:
    try:
        info = os.stat(path)
    except OSError:
        return None
    return (info.st_mtime_ns, info.st_size, info.st_ino)


class PolicyHolder:
    def __init__(self, policy: Policy, path: str | None, log: EventLog, audit: AuditSink) -> None:
        self._policy = policy
        self._path = path
        self._log = log
        self._audit = audit
        self._stamp = _stamp(path) if path else None

    def current(self) -> Policy:
        return self._policy

    def record_load(self) -> None:
        """The ``policy_load`` audit record for the policy in force at start (file None: no policy, deny all)."""
        # The digest of the bytes that were parsed, so the log says exactly which policy decided.
        self._record({"event": "policy_load", "file": self._path, "sha256": self._policy.sha256})

    def reload_if_changed(self) -> bool:
        if self._path is None or _stamp(self._path) == self._stamp:
            return False
        return self.reload("file changed")

    def reload(self, why: str) -> bool:
        """Load the file again; on success swap it in, on failure keep the old policy and say so loudly."""
        if self._path is None:
            self._log.log("warning", "policy_reload_skipped", detail="no policy file to reload", trigger=why)
            return False
        self._stamp = _stamp(self._path)
        try:
            policy = load_policy(self._path)
        except Exception as exc:  # whatever went wrong, the running policy stays: a reload never stops Lilith
            error = str(exc) if isinstance(exc, LilithError) else f"{self._path}: {type(exc).__name__}: {exc}"
            self._log.log("error", "policy_reload_failed", error=error, trigger=why, kept=self._policy.source)
            self._record({"event": "policy_reload", "outcome": "rejected", "file": self._path, "error": error})
            return False
        applied = {"event": "policy_reload", "outcome": "applied", "file": self._path, "trigger": why}
        if policy.sha256 is not None:
            applied["sha256"] = policy.sha256
        self._record(applied)  # before the swap: no decision under the new policy precedes its record
        self._policy = policy
        self._log.log("warning", "policy_reloaded", file=self._path, trigger=why)
        for warning in policy.warnings:
            self._log.log("warning", "policy_warning", detail=warning)
        return True

    def _record(self, record: dict[str, Any]) -> None:
        try:
            self._audit.record(record)
        except AuditWriteError as exc:
            self._log.log("error", "audit_write_failed", error=str(exc))
