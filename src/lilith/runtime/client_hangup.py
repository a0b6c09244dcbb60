"""Noticing a client that left while its reader cannot see it.

The client closed its end of our stdin. Its reader sees EOF once it has read everything, unless it is stuck on
the way (writing to a server that does not read): then it has stopped calling read, and only polling the pipe
for a hang-up tells that the client is gone.
"""

from __future__ import annotations

from lilith.runtime.pipes import hung_up


class ClientHangup:
    def __init__(self, client_in: int, grace_seconds: float) -> None:
        self._client_in = client_in
        self._grace = grace_seconds
        self._since: float | None = None
        self._reads = 0

    def gone(self, now: float, reads: int) -> bool:
        """Called about once a second with the reader's count of reads: True once the pipe has been hung up
        for the whole grace while the reader made no progress."""
        if not hung_up(self._client_in):
            self._since = None
        elif self._since is None or reads != self._reads:
            self._since, self._reads = now, reads
        elif now - self._since >= self._grace:
            return True
        return False
