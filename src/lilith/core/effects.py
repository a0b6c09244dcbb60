"""What the session hands the shell to carry out: lines to send, in order."""

from __future__ import annotations


class Effects:
    """What the shell must do, in order: send these lines to the server, then these to the client.
    (A plain slotted class: one is built per message, and dataclass factories cost more.)"""

    __slots__ = ("to_client", "to_server")

    def __init__(self, to_server: list[bytes] | None = None, to_client: list[bytes] | None = None) -> None:
        self.to_server: list[bytes] = [] if to_server is None else to_server
        self.to_client: list[bytes] = [] if to_client is None else to_client


class Expired:
    """What ``Session.expire`` found: lines to send, and whether the server failed to start in time."""

    __slots__ = ("effects", "startup_failed")

    def __init__(self) -> None:
        self.effects = Effects()
        self.startup_failed = False
