"""Static checks on our own source: the pure core stays pure, and no dangerous constructs creep in."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "lilith"
PURE_PACKAGES = ("core", "policy")
IO_MODULES = {"asyncio", "subprocess", "socket", "threading", "selectors", "signal", "time", "os"}


def _modules() -> list[Path]:
    return sorted(SRC.rglob("*.py"))


def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), filename=str(path))


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(SRC)))
def test_no_dangerous_constructs(path: Path) -> None:
    for node in ast.walk(_tree(path)):
        where = f"{path.relative_to(SRC)}:{getattr(node, 'lineno', 0)}"
        if isinstance(node, ast.Call):
            func = node.func
            name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
            assert name not in {"eval", "exec", "compile"} or isinstance(func, ast.Attribute), where
            if name == "load" and isinstance(func, ast.Attribute) and getattr(func.value, "id", "") == "yaml":
                pytest.fail(f"{where}: yaml.load (use SafeLoader)")
            for keyword in node.keywords:
                if keyword.arg == "shell" and not (
                    isinstance(keyword.value, ast.Constant) and keyword.value.value is False
                ):
                    pytest.fail(f"{where}: shell=True")
        if isinstance(node, ast.Import | ast.ImportFrom):
            names = [alias.name for alias in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            assert not any(n.split(".")[0] in {"pickle", "marshal", "shelve"} for n in names), where
        assert not isinstance(node, ast.Assert), f"{where}: assert vanishes under python -O; raise instead"


@pytest.mark.parametrize("package", PURE_PACKAGES)
def test_core_and_policy_do_no_io(package: str) -> None:
    for path in (SRC / package).rglob("*.py"):
        for node in ast.walk(_tree(path)):
            if isinstance(node, ast.Import):
                full = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                full = [node.module or ""]
            else:
                continue
            roots = {name.split(".")[0] for name in full}
            assert not roots & IO_MODULES, f"{path.relative_to(SRC)} imports {roots & IO_MODULES}"
            shell = [name for name in full if name.startswith(("lilith.runtime", "lilith.audit", "lilith.cli"))]
            assert not shell, f"{path.relative_to(SRC)} reaches into the shell: {shell}"
