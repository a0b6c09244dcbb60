"""The sizes and times one session allows its peers."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Limits:
    max_client_line_bytes: int = 8 * 1024 * 1024
    max_server_line_bytes: int = 64 * 1024 * 1024
    max_depth: int = 64
    max_batch: int = 64
    # Client requests waiting for the server at once; beyond this a request is refused (each costs memory until
    # it is answered or times out, and no real client keeps thousands waiting).
    max_in_flight: int = 10_000
    # Seconds a forwarded client request may wait for the server's answer; progress notifications push the
    # deadline out again, never past ``request_timeout_max`` after the request was sent. A request sent
    # before the server has said anything (its first, usually ``initialize``) gets ``startup_timeout``.
    # ``tasks/result`` waits until its task ends, by design: it gets ``request_timeout_max``. While a server
    # request waits for the client's answer (an elicitation waits on a human), only the maximum runs.
    request_timeout: float = 60.0
    request_timeout_max: float = 600.0
    startup_timeout: float = 30.0
