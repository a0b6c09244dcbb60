"""Checks shared by several areas of the catalogue."""

from __future__ import annotations

from tests.redteam.model import INVALID_REQUEST, Check, Observation


def one_forwarded_one_refused(ref: object) -> Check:
    def check(obs: Observation) -> None:
        assert len(obs.server_requests(ref)) == 1, f"server received {obs.server!r}"
        answers = obs.answers(ref)
        codes = sorted(str(a["error"]["code"]) if "error" in a else "result" for a in answers)
        assert codes == [str(INVALID_REQUEST), "result"], f"client saw {answers!r}"

    return Check("the first request went through, the duplicate was refused", check)
