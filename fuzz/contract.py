"""How a fuzz target reports a broken property: an exception no code under test raises on purpose."""

from __future__ import annotations


class PropertyViolated(AssertionError):
    """The code under test returned, but what it returned breaks a stated property."""


def expect(condition: bool, what: str) -> None:
    if not condition:
        raise PropertyViolated(what)
