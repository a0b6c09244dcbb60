"""The runner itself: a case that kills the session is charged to that case alone."""

from __future__ import annotations

from pathlib import Path

from tests.redteam.model import Case, Forwarded, call, sends
from tests.redteam.runner import build_tree, run_group


def _case(case_id: str, tool: str) -> Case:
    return Case(case_id, "id-collision", tool, sends(call(tool, {"n": case_id})), (Forwarded(),), "runner self-test",
                policy="denylist")  # fmt: skip


def test_a_case_that_kills_lilith_does_not_take_the_next_one_down(tmp_path: Path) -> None:
    root = build_tree(tmp_path / "root")
    cases = [_case("RT-SLF-001", "echo"), _case("RT-SLF-002", "crash"), _case("RT-SLF-003", "echo")]
    observed = {case.id: obs for case, obs in run_group(tmp_path, root, cases)}
    first, fatal, after = (observed[case.id] for case in cases)
    assert first.error is None and after.error is None
    assert fatal.error is None and fatal.session_lost
    assert fatal.answers("RT-SLF-002/1")[0]["error"]["code"] == -32001  # the crash, charged to it
    cases[0].verify(first)
    cases[2].verify(after)  # played on a fresh Lilith
