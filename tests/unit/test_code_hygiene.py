"""Static checks on our own source: the pure core stays pure, and no dangerous constructs creep in.

The checks read the AST, not the text, so a comment or a string that mentions ``eval`` is no finding and
an aliased import (``from os import system as run``) is still one. Each check is proven to fire on a bad
snippet below, so a check that silently stopped working would fail the suite.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "lilith"
PURE_PACKAGES = ("core", "policy")
IO_MODULES = {"asyncio", "subprocess", "socket", "threading", "selectors", "signal", "time", "os"}

BANNED_BUILTINS = {"eval", "exec", "compile"}
BANNED_MODULES = {"pickle", "marshal", "shelve"}
SUBPROCESS_FUNCTIONS = {"run", "Popen", "call", "check_call", "check_output"}
SHELL_STRING_FUNCTIONS = {("subprocess", "getoutput"), ("subprocess", "getstatusoutput")}
BANNED_FUNCTIONS = {
    ("os", "system"): "os.system runs a shell",
    ("os", "popen"): "os.popen runs a shell",
    ("tempfile", "mktemp"): "tempfile.mktemp is racy (use mkstemp or NamedTemporaryFile)",
    ("yaml", "unsafe_load"): "yaml.unsafe_load constructs arbitrary objects",
    ("yaml", "unsafe_load_all"): "yaml.unsafe_load_all constructs arbitrary objects",
    ("yaml", "full_load"): "yaml.full_load is not the safe loader",
    ("yaml", "full_load_all"): "yaml.full_load_all is not the safe loader",
}
YAML_LOADS = {"load", "load_all"}
SAFE_LOADERS = {"SafeLoader", "CSafeLoader"}


def _modules() -> list[Path]:
    return sorted(SRC.rglob("*.py"))


def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), filename=str(path))


def _imported_names(tree: ast.Module) -> dict[str, tuple[str, str]]:
    """Local name -> (module, attribute) for ``from module import attribute [as name]``."""
    names = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            for alias in node.names:
                names[alias.asname or alias.name] = (node.module, alias.name)
    return names


def _module_aliases(tree: ast.Module) -> dict[str, str]:
    """Local name -> module for ``import module [as name]``."""
    aliases = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                aliases[alias.asname or alias.name] = alias.name
    return aliases


def _callee(func: ast.expr, imported: dict[str, tuple[str, str]], modules: dict[str, str]) -> tuple[str, str]:
    """(module, function) of a call such as ``os.system(...)``, ``system(...)`` or a builtin ``('', 'eval')``."""
    if isinstance(func, ast.Name):
        return imported.get(func.id, ("", func.id))
    if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
        return (modules.get(func.value.id, func.value.id), func.attr)
    return ("", "")


def _is_text(node: ast.expr) -> bool:
    """A string built in place: a literal, an f-string, concatenation, ``%`` or ``.format()``."""
    if isinstance(node, ast.Constant):
        return isinstance(node.value, str)
    if isinstance(node, ast.JoinedStr):
        return True
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add | ast.Mod):
        return _is_text(node.left)
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "format"


def _safe_yaml_loader(call: ast.Call) -> bool:
    loader = next((k.value for k in call.keywords if k.arg == "Loader"), call.args[1] if len(call.args) > 1 else None)
    name = loader.attr if isinstance(loader, ast.Attribute) else loader.id if isinstance(loader, ast.Name) else ""
    return name in SAFE_LOADERS


def dangerous_constructs(tree: ast.Module) -> Iterator[tuple[int, str]]:
    """(line, what) for every construct our source must not contain."""
    imported = _imported_names(tree)
    modules = _module_aliases(tree)
    for node in ast.walk(tree):
        line = getattr(node, "lineno", 0)
        if isinstance(node, ast.Assert):
            yield line, "assert vanishes under python -O; raise instead"
        elif isinstance(node, ast.Import | ast.ImportFrom):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            if isinstance(node, ast.ImportFrom) and not node.module:
                names = [a.name for a in node.names]
            for name in names:
                if name.split(".")[0] in BANNED_MODULES:
                    yield line, f"import of {name} (deserialises code)"
        elif isinstance(node, ast.Call):
            yield from _dangerous_call(node, _callee(node.func, imported, modules))


def _dangerous_call(node: ast.Call, callee: tuple[str, str]) -> Iterator[tuple[int, str]]:
    module, function = callee
    line = node.lineno
    if module in ("", "builtins") and function in BANNED_BUILTINS:
        yield line, f"{function}() runs arbitrary code"
    if callee in BANNED_FUNCTIONS:
        yield line, BANNED_FUNCTIONS[callee]
    if module == "yaml" and function in YAML_LOADS and not _safe_yaml_loader(node):
        yield line, f"yaml.{function} without SafeLoader"
    for keyword in node.keywords:
        if keyword.arg == "shell" and not (isinstance(keyword.value, ast.Constant) and keyword.value.value is False):
            yield line, "shell=True"
    if callee in SHELL_STRING_FUNCTIONS:
        yield line, f"subprocess.{function} runs a shell command string"
    if module == "subprocess" and function in SUBPROCESS_FUNCTIONS:
        command = node.args[0] if node.args else next((k.value for k in node.keywords if k.arg == "args"), None)
        if command is not None and _is_text(command):
            yield line, f"subprocess.{function} with a string command (pass an argv list)"


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(SRC)))
def test_no_dangerous_constructs(path: Path) -> None:
    found = [f"{path.relative_to(SRC)}:{line}: {what}" for line, what in dangerous_constructs(_tree(path))]
    assert not found, "\n".join(found)


BAD_SNIPPETS = {
    "shell=True": "import subprocess\nsubprocess.run('ls', shell=True)",
    "shell=variable": "import subprocess\nsubprocess.run(['ls'], shell=flag)",
    "eval": "eval('1+1')",
    "eval from builtins": "from builtins import eval as e\ne(s)",
    "exec": "exec(code)",
    "builtin compile": "compile(src, 'f', 'exec')",
    "import pickle": "import pickle",
    "from marshal": "from marshal import loads",
    "import shelve as": "import shelve as db",
    "yaml.load": "import yaml\nyaml.load(text)",
    "yaml.load FullLoader": "import yaml\nyaml.load(text, Loader=yaml.FullLoader)",
    "yaml.load_all positional": "import yaml\nyaml.load_all(text, yaml.Loader)",
    "yaml.unsafe_load": "import yaml\nyaml.unsafe_load(text)",
    "yaml.full_load": "import yaml\nyaml.full_load(text)",
    "from yaml import full_load": "from yaml import full_load\nfull_load(text)",
    "subprocess string": "import subprocess\nsubprocess.Popen('rm -rf ' + path)",
    "subprocess f-string": "import subprocess\nsubprocess.check_output(f'ls {d}')",
    "subprocess args=": "import subprocess\nsubprocess.run(args='ls %s' % d)",
    "from subprocess import": "from subprocess import call\ncall('ls {}'.format(d))",
    "getoutput": "import subprocess\nsubprocess.getoutput(cmd)",
    "os.system": "import os\nos.system('ls')",
    "os.popen": "import os\nos.popen(cmd)",
    "aliased system": "from os import system as run\nrun('ls')",
    "aliased module": "import os as o\no.system('ls')",
    "tempfile.mktemp": "import tempfile\ntempfile.mktemp()",
    "assert": "def f(x):\n    assert x > 0",
}
GOOD_SNIPPETS = {
    "argv list": "import subprocess\nsubprocess.run(['ls', path], shell=False)",
    "argv variable": "import subprocess\nsubprocess.Popen(argv)",
    "re.compile": "import re\nre.compile('a+')",
    "SafeLoader keyword": "import yaml\nyaml.load(text, Loader=yaml.SafeLoader)",
    "CSafeLoader positional": "import yaml\nfrom yaml import CSafeLoader\nyaml.load(text, CSafeLoader)",
    "safe_load": "import yaml\nyaml.safe_load(text)",
    "a method named eval": "model.eval()",
    "mkstemp": "import tempfile\ntempfile.mkstemp()",
    "words in strings": "text = 'never eval(), os.system or shell=True'",
}


@pytest.mark.parametrize("snippet", BAD_SNIPPETS.values(), ids=list(BAD_SNIPPETS))
def test_each_check_fires_on_a_bad_snippet(snippet: str) -> None:
    assert list(dangerous_constructs(ast.parse(snippet))), f"not caught:\n{snippet}"


@pytest.mark.parametrize("snippet", GOOD_SNIPPETS.values(), ids=list(GOOD_SNIPPETS))
def test_no_check_fires_on_a_safe_snippet(snippet: str) -> None:
    assert list(dangerous_constructs(ast.parse(snippet))) == []


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
