"""JSON-RPC batches in and out of their era (2025-03-26 only), from the client and from the server."""

from __future__ import annotations

from tests.redteam.attack_classes import reference
from tests.redteam.catalogue.checks import one_forwarded_one_refused
from tests.redteam.model import (
    BATCH_ERA,
    INVALID_REQUEST,
    MODERN,
    Answered,
    Case,
    Check,
    Denied,
    Forwarded,
    Observation,
    Ref,
    Rejected,
    call,
    emit,
    notification,
    same_id,
    sends,
    server_line,
)

BATCH_SPEC = "JSON-RPC 2.0 section 6; MCP 2025-03-26 (batches), removed in 2025-06-18"


def _one_reply_array(*refs: Ref) -> Check:
    def check(obs: Observation) -> None:
        arrays = [line for line in obs.client if isinstance(line, list)]
        assert len(arrays) == 1, f"expected one reply array, client saw {obs.client!r}"
        ids = [item.get("id") for item in arrays[0] if isinstance(item, dict)]
        for ref in refs:
            assert any(same_id(i, obs.resolve(ref)) for i in ids), f"{ref} missing from {arrays[0]!r}"

    return Check("one reply array holding every answer", check)


def _silent(obs: Observation) -> None:
    assert not obs.client, f"client saw {obs.client!r}"


def _server_got_notification_only(obs: Observation) -> None:
    assert obs.server and all(
        isinstance(m, dict) and "id" not in m
        for line in obs.server
        for m in (line if isinstance(line, list) else [line])
    ), obs.server
    _silent(obs)


BATCH_CASES = [
    Case(
        "RT-BAT-001",
        "batches",
        "an allowed and a denied call in one batch: each decided alone, one reply array",
        sends([call("echo", {"b": 1}, Ref(1)), call("delete_file", {"path": "/"}, Ref(2))]),
        (Forwarded(Ref(1)), Denied("static_rules.delete_file", Ref(2)), _one_reply_array(Ref(1), Ref(2))),
        f"{reference('batches')}; {BATCH_SPEC}",
        era=BATCH_ERA,
        server_must_not_receive=("delete_file",),
    ),
    Case(
        "RT-BAT-002",
        "batches",
        "a batch of denied calls only: nothing forwarded, one reply array",
        sends([call("delete_file", {}, Ref(1)), call("rеad_file", {"path": "/etc/shadow"}, Ref(2))]),
        (Denied(ref=Ref(1)), Denied(ref=Ref(2)), _one_reply_array(Ref(1), Ref(2))),
        reference("batches"),
        era=BATCH_ERA,
        server_must_not_receive=("delete_file", "/etc/shadow"),
    ),
    Case(
        "RT-BAT-003",
        "batches",
        "two requests with one id inside a batch",
        sends([call("echo", {"n": 1}), call("echo", {"n": 2})]),
        (one_forwarded_one_refused(Ref(1)),),
        f"{reference('batches')}; {reference('id-collision')}",
        era=BATCH_ERA,
    ),
    Case(
        "RT-BAT-004",
        "batches",
        "a batch over --max-batch (65 elements) is refused whole",
        sends([call("echo", {"n": n}, f"RT-BAT-004/{n}") for n in range(65)]),
        (Rejected(INVALID_REQUEST, ref=None),),
        f"{reference('batches')}; {reference('oversized-input')}",
        era=BATCH_ERA,
    ),
    Case(
        "RT-BAT-005",
        "batches",
        "an empty batch",
        sends([]),
        (Rejected(INVALID_REQUEST, ref=None),),
        f"{reference('batches')}; {BATCH_SPEC}",
        era=BATCH_ERA,
    ),
    Case(
        "RT-BAT-006",
        "batches",
        "a batch nested in a batch",
        sends([[call("delete_file")]]),
        (Rejected(INVALID_REQUEST, ref=None),),
        reference("batches"),
        era=BATCH_ERA,
        server_must_not_receive=("delete_file",),
    ),
    Case(
        "RT-BAT-007",
        "batches",
        "a batch of notifications only: forwarded, and no reply at all",
        sends([notification("notifications/progress", {"progressToken": "RT-BAT-007", "progress": 1})]),
        (Check("forwarded, nothing answered", _server_got_notification_only),),
        f"{reference('batches')}; {BATCH_SPEC}",
        era=BATCH_ERA,
    ),
    Case(
        "RT-BAT-008",
        "batches",
        "traversal and a clean read in one batch",
        sends(
            [
                call("read_file", {"path": "@ROOT@/allowed/../secret/key.txt"}, Ref(1)),
                call("read_file", {"path": "@ROOT@/allowed/notes.txt"}, Ref(2)),
            ]
        ),
        (Denied("read-within-allowed", Ref(1)), Forwarded(Ref(2))),
        reference("batches"),
        era=BATCH_ERA,
        server_must_not_receive=("secret",),
    ),
    Case(
        "RT-BAT-009",
        "batches",
        "a non-object element beside a valid call",
        sends([42, call("echo", {"n": 9})]),
        (Rejected(INVALID_REQUEST, ref=None, nothing_forwarded=False), Forwarded()),
        reference("batches"),
        era=BATCH_ERA,
    ),
    Case(
        "RT-BAT-010",
        "batches",
        "a server batch in 2025-03-26: its notification passes, its answer to no request is dropped",
        sends(
            emit(
                [
                    "["
                    + server_line(method="notifications/message", params={"level": "info", "data": "RT-BAT-010 note"})
                    + ","
                    + server_line(id="nobody", result={"text": "RT-BAT-010 forged"})
                    + "]"
                ]
            )
        ),
        (Answered(contains="emitted"),),
        reference("batches"),
        era=BATCH_ERA,
        client_sees=("RT-BAT-010 note",),
        client_must_not_see=("RT-BAT-010 forged",),
    ),
    Case(
        "RT-BAT-011",
        "batches",
        "a batch in the 2025-11-25 era is refused whole",
        sends([call("echo", {"n": 1})]),
        (Rejected(INVALID_REQUEST, ref=None),),
        f"{reference('batches')}; {BATCH_SPEC}",
    ),
    Case(
        "RT-BAT-012",
        "batches",
        "a server batch in the 2025-11-25 era is dropped",
        sends(
            emit(
                [
                    "["
                    + server_line(method="notifications/message", params={"level": "info", "data": "RT-BAT-012 note"})
                    + "]"
                ]
            )
        ),
        (Answered(contains="emitted"),),
        f"{reference('batches')}; {BATCH_SPEC}",
        client_must_not_see=("RT-BAT-012 note",),
    ),
    Case(
        "RT-BAT-013",
        "batches",
        "a batch in the 2026-07-28 era is refused whole",
        sends([call("echo", {"n": 1})]),
        (Rejected(INVALID_REQUEST, ref=None),),
        f"{reference('batches')}; {BATCH_SPEC}",
        era=MODERN,
    ),
]

CASES = BATCH_CASES
