"""Target: the policy YAML loader.

Property: any bytes, read as the loader reads a file (UTF-8), give a ``Policy`` or a ``PolicyError`` that
names the file and a line; never another exception (a traceback at start-up, or a crash of a running
proxy on hot reload). A policy that loads must then decide any call without raising.
"""

from __future__ import annotations

from fuzz.contract import FixedResolver, expect
from fuzz.reader import ByteReader
from lilith.errors import PolicyError
from lilith.policy.loader import parse_policy

FILE = "fuzz-policy.yaml"


def policy_target(data: bytes) -> None:
    reader = ByteReader(data)
    tool = reader.chunk(16).decode("utf-8", "replace")
    try:
        text = reader.rest().decode("utf-8")
    except UnicodeDecodeError:
        return  # the loader refuses such a file before parsing (PolicyError "cannot read policy file")
    try:
        policy = parse_policy(text, FILE)
    except PolicyError as exc:
        expect(exc.file == FILE, "a policy error names the file")
        expect(exc.line is not None and exc.line >= 1, f"a policy error names a line: {exc}")
        return
    for name in (tool or "x", "echo", "read_file"):
        policy.decide_tool_call(name, {"path": "/srv/a", "url": "https://example.com/", "x": [tool]}, FixedResolver())
        policy.tool_visible(name)
