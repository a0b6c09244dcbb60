"""The fuzz targets of ``fuzz/`` as hypothesis properties: a short run of each in every ``make test``.

``make fuzz`` runs the same targets for long under atheris (coverage-guided); here hypothesis feeds them
a few hundred inputs each, so a change that breaks a property fails the suite, not only a fuzzing night.
"""

from __future__ import annotations

import pytest
from fuzz.targets import TARGETS
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st


@pytest.mark.parametrize("name", list(TARGETS))
def test_target_properties_hold_for_any_bytes(name: str) -> None:
    target = TARGETS[name]

    @settings(max_examples=500, suppress_health_check=[HealthCheck.too_slow])
    @given(st.binary(max_size=2048))
    def holds(data: bytes) -> None:
        target(data)

    holds()


def test_the_session_target_catches_a_denied_call_that_was_forwarded() -> None:
    from fuzz.contract import PropertyViolated
    from fuzz.session_target import SessionHarness, fuzz_policy

    harness = SessionHarness(fuzz_policy())
    harness.check_forwarded({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "echo"}})
    with pytest.raises(PropertyViolated, match="denied call was forwarded"):
        harness.check_forwarded({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "git_push"}})
