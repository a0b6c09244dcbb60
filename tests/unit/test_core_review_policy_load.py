"""Loading a policy raises PolicyError with its place, or succeeds: never RecursionError or another crash;
a reload that fails for any reason keeps the old policy."""

from __future__ import annotations

from pathlib import Path

import pytest

from lilith.errors import PolicyError
from lilith.policy import loader
from lilith.policy.loader import load_policy, parse_policy
from lilith.policy.yaml_source import MAX_NESTING, MAX_VALUES, load_yaml
from lilith.runtime.policy_holder import PolicyHolder
from tests.unit.fakes import MemoryAudit, MemoryLog

GOOD = "version: 1\nstatic_rules:\n  echo: ALLOW\n"


def _refused(text: str) -> PolicyError:
    with pytest.raises(PolicyError) as caught:
        parse_policy(text, "p.yaml")
    return caught.value


@pytest.mark.parametrize(
    ("text", "where"),
    [
        # The root mapping is level 1: the 200th '[' (column 14 + 200) opens level 201.
        ("version: 1\nstatic_rules: " + "[" * 400 + "]" * 400, (2, 14 + MAX_NESTING)),
        # Keys count as levels too: the key 'a' inside the 199th '{' is at level 201.
        ("version: 1\nx: " + "{a: " * 400 + "1" + "}" * 400, (2, 4 * (MAX_NESTING - 1) + 1)),
        # Block style: line 3 holds level 2, so line 202 holds level 201.
        ("version: 1\nx:\n" + "".join("  " * n + "- \n" for n in range(1, 400)), (2 + MAX_NESTING, None)),
    ],
)
def test_nesting_beyond_the_limit_is_refused_where_it_happens(text: str, where: tuple[int, int | None]) -> None:
    error = _refused(text)
    assert "nesting deeper than 200 levels" in error.message
    assert error.line == where[0]
    assert where[1] is None or error.col == where[1]


def test_nesting_up_to_the_limit_loads() -> None:
    doc = load_yaml("x: " + "[" * (MAX_NESTING - 2) + "1" + "]" * (MAX_NESTING - 2), "p.yaml")
    depth, value = 0, doc.value["x"]
    while isinstance(value, list):
        depth, value = depth + 1, value[0]
    assert (depth, value) == (MAX_NESTING - 2, 1)


def test_an_alias_bomb_is_refused() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{n}: &a{n} [{', '.join([f'*a{n - 1}'] * 10)}]" for n in range(1, 9)]
    error = _refused("\n".join(lines))
    assert f"more than {MAX_VALUES} values" in error.message and error.line is not None


def test_an_unexpected_exception_while_compiling_becomes_a_policy_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_args: object) -> object:
        raise RuntimeError("a bug in a validator")

    monkeypatch.setattr(loader, "_static_rules", broken)
    assert _refused(GOOD).message == "cannot load policy: RuntimeError: a bug in a validator"


def test_recursion_anywhere_in_loading_becomes_a_policy_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def endless(*args: object) -> object:
        return endless(*args)

    monkeypatch.setattr(loader, "_static_rules", endless)
    assert _refused(GOOD).message == "the policy is nested too deeply"


def _holder(path: Path, log: MemoryLog, audit: MemoryAudit) -> PolicyHolder:
    path.write_text(GOOD)
    return PolicyHolder(load_policy(str(path)), str(path), log, audit)


def test_a_reload_of_a_too_deep_file_keeps_the_old_policy(tmp_path: Path) -> None:
    log, audit = MemoryLog(), MemoryAudit()
    holder = _holder(tmp_path / "p.yaml", log, audit)
    old = holder.current()
    (tmp_path / "p.yaml").write_text("version: 1\nstatic_rules: " + "[" * 400 + "]" * 400)
    assert holder.reload("SIGHUP") is False
    assert holder.current() is old
    [(level, event, fields)] = log.events
    assert (level, event) == ("error", "policy_reload_failed") and "nesting deeper" in fields["error"]
    assert [(r["event"], r["outcome"]) for r in audit.records] == [("policy_reload", "rejected")]


def test_a_reload_that_fails_in_an_unforeseen_way_keeps_the_old_policy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log, audit = MemoryLog(), MemoryAudit()
    holder = _holder(tmp_path / "p.yaml", log, audit)
    old = holder.current()

    def crash(_path: str) -> object:
        raise MemoryError("out of memory")

    monkeypatch.setattr("lilith.runtime.policy_holder.load_policy", crash)
    assert holder.reload("file changed") is False
    assert holder.current() is old
    [record] = audit.records
    assert record["outcome"] == "rejected" and record["error"].endswith("MemoryError: out of memory")
