"""Ids that collide, change type, are reused, or answer nothing, from either side. Literal integer ids are
unique per case (cases share a Lilith process)."""

from __future__ import annotations

from tests.redteam.attack_classes import reference
from tests.redteam.catalogue.checks import one_forwarded_one_refused
from tests.redteam.model import (
    INVALID_REQUEST,
    MODERN,
    Answered,
    AwaitAnswer,
    Case,
    Check,
    Denied,
    Forwarded,
    Observation,
    Pause,
    Ref,
    Rejected,
    Send,
    call,
    emit,
    notification,
    request,
    same_id,
    sends,
    server_line,
)

ID_SPEC = "MCP 2025-11-25 basic: request ids are strings or integers, never null, never reused in a session"
SDK_CROSSWIRE = "python-sdk issues on response/request id cross-wiring"


def _silent(obs: Observation) -> None:
    assert not obs.client, f"client saw {obs.client!r}"


def _nothing_either_side(obs: Observation) -> None:
    assert not obs.server, f"server received {obs.server!r}"
    _silent(obs)


def _server_got_error_for(request_id: str) -> Check:
    def check(obs: Observation) -> None:
        errors = [m for m in obs.server if isinstance(m, dict) and m.get("id") == request_id and "error" in m]
        assert errors and errors[0]["error"]["code"] == INVALID_REQUEST, obs.server
        seen = [m for m in obs.client if isinstance(m, dict) and m.get("id") == request_id and "method" in m]
        assert len(seen) == 1, f"client saw {obs.client!r}"

    return Check("the duplicate was refused to the server, the client saw the request once", check)


def _not_cross_wired(obs: Observation) -> None:
    texts = [str(a.get("result")) for a in obs.answers(10013)]
    assert not any("slept 200 ms" in text for text in texts), f"cancelled call's answer delivered: {texts}"


def _server_got_client_answer(obs: Observation) -> None:
    answers = [m for m in obs.server if isinstance(m, dict) and "result" in m]
    assert any(same_id(m.get("id"), obs.resolve(Ref(1))) for m in answers), obs.server


ID_CASES = [
    Case(
        "RT-IDC-001",
        "id-collision",
        '1 and "1" in flight together are two requests, each answered with its own type',
        (
            Send(call("slow", {"ms": 150}, 10001)),
            Send(call("echo", {"m": "RT-IDC-001 string id"}, "10001")),
            AwaitAnswer(10001),
        ),
        (Answered(10001, contains="slept"), Answered("10001", contains="RT-IDC-001 string id")),
        f"{reference('id-collision')}; {ID_SPEC}",
    ),
    Case(
        "RT-IDC-002",
        "id-collision",
        "a second request with an id in flight is refused; the first is answered",
        (Send(call("slow", {"ms": 150}, 10002)), Send(call("echo", {}, 10002)), Pause(0.3)),
        (one_forwarded_one_refused(10002),),
        f"{reference('id-collision')}; {ID_SPEC}",
    ),
    Case(
        "RT-IDC-003",
        "id-collision",
        "a null id",
        sends({"jsonrpc": "2.0", "id": None, "method": "tools/call", "params": {"name": "delete_file"}}),
        (Rejected(INVALID_REQUEST, ref=None),),
        f"{reference('id-collision')}; {ID_SPEC}",
    ),
    *(
        Case(
            case_id,
            "id-collision",
            f"an id that is {what}",
            sends({"jsonrpc": "2.0", "id": bad_id, "method": "tools/call", "params": {"name": "echo"}}),
            (Rejected(INVALID_REQUEST, ref=None),),
            f"{reference('id-collision')}; {ID_SPEC}",
        )
        for case_id, bad_id, what in (
            ("RT-IDC-004", True, "a boolean"),
            ("RT-IDC-005", {"id": 1}, "an object"),
            ("RT-IDC-006", [1], "an array"),
        )
    ),
    Case(
        "RT-IDC-007",
        "id-collision",
        "the server answers an id nobody sent: dropped",
        sends(emit([server_line(id="nobody-sent-this", result={"text": "RT-IDC-007 forged"})])),
        (Answered(contains="emitted"),),
        reference("id-collision"),
        client_must_not_see=("RT-IDC-007 forged",),
    ),
    Case(
        "RT-IDC-008",
        "id-collision",
        "the server answers the id of a request Lilith denied (it guessed the id): dropped",
        (
            Send(call("delete_file", {"path": "/"}, Ref(1))),
            Send(emit([server_line(id=Ref(1), result={"text": "RT-IDC-008 forged"})], ref=Ref(2))),
        ),
        (Denied("static_rules.delete_file"), Answered(Ref(2), contains="emitted")),
        reference("id-collision"),
        client_must_not_see=("RT-IDC-008 forged",),
    ),
    Case(
        "RT-IDC-009",
        "id-collision",
        "the server answers one request twice: the client gets exactly one answer",
        sends(emit([server_line(id="{id}", result={"content": [{"type": "text", "text": "RT-IDC-009 first"}]})])),
        (Answered(contains="RT-IDC-009 first"),),
        reference("id-collision"),
        client_must_not_see=("emitted",),
    ),
    Case(
        "RT-IDC-010",
        "id-collision",
        'the server answers integer id 10010 as "10010": dropped, the right answer delivered',
        sends(emit([server_line(id="10010", result={"text": "RT-IDC-010 cross-typed"})], ref=10010)),
        (Answered(10010, contains="emitted"),),
        f"{reference('id-collision')}; {SDK_CROSSWIRE}",
        client_must_not_see=("RT-IDC-010 cross-typed",),
    ),
    Case(
        "RT-IDC-011",
        "id-collision",
        "the client answers a server request that was never made: dropped",
        sends({"jsonrpc": "2.0", "id": "s-never-asked", "result": {"RT-IDC-011": "x"}}),
        (Check("nothing on either side", _nothing_either_side),),
        reference("id-collision"),
    ),
    Case(
        "RT-IDC-012",
        "id-collision",
        "the server sends two requests with one id: the second is refused to the server",
        (
            Send(
                emit(
                    [
                        server_line(id="dup-RT-IDC-012", method="ping"),
                        server_line(id="dup-RT-IDC-012", method="ping"),
                    ]
                )
            ),
            AwaitAnswer(Ref(1)),
            Send({"jsonrpc": "2.0", "id": "dup-RT-IDC-012", "result": {}}),
        ),
        (_server_got_error_for("dup-RT-IDC-012"),),
        f"{reference('id-collision')}; {ID_SPEC}",
    ),
    Case(
        "RT-IDC-013",
        "id-collision",
        "an id reused right after cancelling it never receives the cancelled call's late answer",
        (
            Send(call("slow", {"ms": 200}, 10013)),
            Send(notification("notifications/cancelled", {"requestId": 10013, "reason": "RT-IDC-013"})),
            Send(call("slow", {"ms": 600}, 10013)),
            AwaitAnswer(10013, timeout=2.0),
            Pause(0.6),
        ),
        (Check("no cross-wired answer", _not_cross_wired),),
        f"{reference('id-collision')}; {ID_SPEC}; {SDK_CROSSWIRE}",
    ),
    Case(
        "RT-IDC-014",
        "id-collision",
        "7 and 7.0 (one number to a JavaScript server) are not both admitted in flight",
        (Send(call("slow", {"ms": 150}, 10014)), Send(request("ping", ref=10014.0)), Pause(0.3)),
        (Rejected(INVALID_REQUEST, ref=10014.0, nothing_forwarded=False),),
        f"{reference('id-collision')}; ECMA-262 Number (1 === 1.0); {SDK_CROSSWIRE}",
    ),
    Case(
        "RT-IDC-015",
        "id-collision",
        "a 2**70 id is forwarded and answered digit for digit",
        sends(request("ping", ref=2**70)),
        (Forwarded(2**70),),
        reference("id-collision"),
    ),
    Case(
        "RT-IDC-016",
        "id-collision",
        "a 2**70 id on an audited tools/call is forwarded and answered digit for digit",
        sends(call("echo", {}, 2**70 + 1)),
        (Forwarded(2**70 + 1),),
        reference("id-collision"),
    ),
    Case(
        "RT-IDC-017",
        "id-collision",
        "a result with a null id from the server is dropped",
        sends(emit([server_line(id=None, result={"text": "RT-IDC-017 null-id result"})])),
        (Answered(contains="emitted"),),
        reference("id-collision"),
        client_must_not_see=("RT-IDC-017 null-id result",),
    ),
    Case(
        "RT-IDC-018",
        "id-collision",
        "a client id shaped like Lilith's own handshake-replay ids is just an id",
        sends(call("echo", {"n": "RT-IDC-018"}, "lilith-internal-1")),
        (Forwarded("lilith-internal-1"),),
        reference("id-collision"),
    ),
    Case(
        "RT-IDC-019",
        "id-collision",
        "the server reuses a pending client id for its own request: the two id spaces stay apart",
        (
            Send(call("slow", {"ms": 200}, Ref(1))),
            Send(emit([server_line(id=Ref(1), method="ping")], ref=Ref(2))),
            AwaitAnswer(Ref(2)),
            Send({"jsonrpc": "2.0", "id": Ref(1), "result": {}}),
            AwaitAnswer(Ref(1)),
        ),
        (Answered(Ref(1), contains="slept"), Check("the server got the client's answer", _server_got_client_answer)),
        f"{reference('id-collision')}; {SDK_CROSSWIRE}",
    ),
    Case(
        "RT-IDC-020",
        "id-collision",
        "2026-07-28: a second request with an id in flight is refused",
        (Send(call("slow", {"ms": 150}, 10020)), Send(call("echo", {}, 10020)), Pause(0.3)),
        (one_forwarded_one_refused(10020),),
        f"{reference('id-collision')}; {ID_SPEC}",
        era=MODERN,
    ),
]

CASES = ID_CASES
