from __future__ import annotations

from typing import Any

from lilith.core.gate import Gate, ToolCallPolicy
from lilith.core.session import Limits, Session
from lilith.errors import AuditWriteError
from lilith.policy.loader import parse_policy


class MemoryAudit:
    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []
        self.fail = False

    def record(self, record: dict[str, Any]) -> None:
        if self.fail:
            raise AuditWriteError("disk full")
        self.records.append(record)


class MemoryLog:
    def __init__(self) -> None:
        self.events: list[tuple[str, str, dict[str, Any]]] = []

    def log(self, level: str, event: str, **fields: Any) -> None:
        self.events.append((level, event, fields))

    def names(self) -> list[str]:
        return [event for _, event, _ in self.events]


POLICY = """
version: 1
static_rules:
  echo: ALLOW
  "git_*": ALLOW
  git_push: DENY
"""


def make_session(audit: MemoryAudit, log: MemoryLog, policy_text: str = POLICY, **limits: Any) -> Session:
    policy = parse_policy(policy_text, "test.yaml")
    return Session(Gate([ToolCallPolicy(lambda: policy, FakeResolver())]), audit, log, Limits(**limits))


class FakeResolver:
    """home /home/u, working directory /srv, no symlinks."""

    def home(self) -> str:
        return "/home/u"

    def cwd(self) -> str:
        return "/srv"

    def realpath(self, path: str) -> str:
        return path
