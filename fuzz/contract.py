"""How a fuzz target reports a broken property: an exception no code under test raises on purpose."""

from __future__ import annotations


class PropertyViolated(AssertionError):
    """The code under test returned, but what it returned breaks a stated property."""


def expect(condition: bool, what: str) -> None:
    if not condition:
        raise PropertyViolated(what)


class FixedResolver:
    """Paths as a server with home /home/u and working directory /srv, and no symlinks, would see them."""

    def home(self) -> str:
        return "/home/u"

    def cwd(self) -> str:
        return "/srv"

    def realpath(self, path: str) -> str:
        return path
