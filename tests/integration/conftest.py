from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.integration.audit_records import schema_problems
from tests.integration.harness import ALLOW_ECHO_POLICY, HOSTILE, Proxy, lilith_run


@dataclass
class Started:
    proxy: Proxy
    record: Path
    audit: Path
    policy: Path


StartProxy = Callable[..., Started]


@pytest.fixture
def start_proxy(tmp_path: Path) -> Iterator[StartProxy]:
    """Start ``lilith run`` in front of the hostile server, recording what the server receives."""
    started: list[Proxy] = []

    def start(*options: str, policy: str | None = ALLOW_ECHO_POLICY, server_args: tuple[str, ...] = ()) -> Started:
        n = len(started)
        record = tmp_path / f"received-{n}.jsonl"
        audit = tmp_path / f"audit-{n}.jsonl"
        policy_path = tmp_path / f"policy-{n}.yaml"
        args = ["--audit-log", str(audit), *options]
        if policy is not None:
            policy_path.write_text(policy)
            args = ["--policy", str(policy_path), *args]
        proxy = Proxy(lilith_run(*args, server=[*HOSTILE, "--record", str(record), *server_args]), tmp_path)
        started.append(proxy)
        return Started(proxy, record, audit, policy_path)

    yield start
    for proxy in started:
        proxy.kill()
    # Every record a real run wrote must match the documented schema (docs/audit.md, lilith.audit.schema).
    problems = [p for n in range(len(started)) for p in schema_problems(tmp_path / f"audit-{n}.jsonl")]
    if problems:
        pytest.fail("audit records that do not match lilith.audit.schema:\n" + "\n".join(problems[:20]))
