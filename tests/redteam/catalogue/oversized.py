"""Size and shape before any policy looks at a line: over-long lines, slowloris, deep nesting, huge
numbers, and server answers over the server line cap. Raw byte payloads use ``@ID1@`` for the case's
first id."""

from __future__ import annotations

from tests.redteam.attack_classes import reference
from tests.redteam.catalogue.payloads import nested, raw_call
from tests.redteam.model import (
    INTERNAL_ERROR,
    INVALID_REQUEST,
    PARSE_ERROR,
    Answered,
    AwaitAnswer,
    Case,
    Check,
    Forwarded,
    Observation,
    Ref,
    Rejected,
    Send,
    call,
    sends,
)

SMALL_LIMITS = ("--max-line-bytes", "64K", "--max-server-line-bytes", "256K")
PY_INT_LIMIT = "CPython int max_str_digits (4300), CVE-2020-10735"
RFC8259 = "RFC 8259 (JSON): sections 2, 4 (duplicate names), 6 (numbers), 8.1 (UTF-8, no BOM)"


def _answered_before_newline(obs: Observation) -> None:
    assert obs.awaited == [True], "the error came only after the line ended (or never)"


def _no_line_longer_than(limit: int) -> Check:
    def check(obs: Observation) -> None:
        longest = max((len(repr(line)) for line in obs.client), default=0)
        assert longest <= limit, f"client saw a line of ~{longest} bytes"

    return Check(f"no client line longer than {limit} bytes", check)


def _answered_in_time(obs: Observation) -> None:
    assert obs.awaited == [True], "no answer within the wait"


OVERSIZED_CASES = [
    Case(
        "RT-BIG-001",
        "oversized-input",
        "a line over --max-line-bytes is refused with its id (the client can match it) and nothing of it forwarded",
        sends(call("echo", {"pad": "RT-BIG-001" + "x" * 100_000})),
        (Rejected(INVALID_REQUEST),),
        reference("oversized-input"),
        options=SMALL_LIMITS,
        server_must_not_receive=("RT-BIG-001",),
    ),
    Case(
        "RT-BIG-002",
        "oversized-input",
        "a line just under the limit passes unchanged (control)",
        sends(call("echo", {"pad": "y" * 60_000})),
        (Forwarded(),),
        reference("oversized-input"),
        options=SMALL_LIMITS,
    ),
    Case(
        "RT-BIG-003",
        "oversized-input",
        "slowloris: a line that never ends is refused (with its id) as soon as it crosses the limit",
        (
            Send(b'{"jsonrpc":"2.0","id":@ID1@,"method":"tools/call","params":{"x":"' + b"z" * 70_000, newline=False),
            AwaitAnswer(Ref(1), timeout=3.0),
            Send(b'"}}'),
        ),
        (Rejected(INVALID_REQUEST), Check("refused before the newline", _answered_before_newline)),
        f"{reference('oversized-input')} (slowloris)",
        options=SMALL_LIMITS,
    ),
    Case(
        "RT-BIG-004",
        "oversized-input",
        "after an oversized line, the next line in the same write is served",
        sends(b'{"pad":"' + b"q" * 70_000 + b'"}\n{"jsonrpc":"2.0","id":@ID1@,"method":"ping"}'),
        (Rejected(INVALID_REQUEST, ref=None, nothing_forwarded=False), Forwarded(unchanged=False)),
        reference("oversized-input"),
        options=SMALL_LIMITS,
    ),
    Case(
        "RT-BIG-005",
        "oversized-input",
        "nesting one level deeper than --max-depth (65)",
        sends(call("echo", nested(62))),
        (Rejected(PARSE_ERROR, ref=None),),
        reference("oversized-input"),
    ),
    Case(
        "RT-BIG-006",
        "oversized-input",
        "nesting exactly at --max-depth (64) passes unchanged (control)",
        sends(call("echo", nested(61))),
        (Forwarded(),),
        reference("oversized-input"),
    ),
    Case(
        "RT-BIG-007",
        "oversized-input",
        "10,000 unclosed `[` (a recursion bomb for recursive parsers)",
        sends(b"[" * 10_000),
        (Rejected(PARSE_ERROR, ref=None),),
        f"{reference('oversized-input')}; Python json RecursionError",
    ),
    Case(
        "RT-BIG-008",
        "oversized-input",
        '`{"a":` x 10,000',
        sends(b'{"a":' * 10_000),
        (Rejected(PARSE_ERROR, ref=None),),
        reference("oversized-input"),
    ),
    Case(
        "RT-BIG-009",
        "oversized-input",
        "100,000 balanced `[]` levels in arguments",
        sends(raw_call(b"[" * 100_000 + b"]" * 100_000)),
        (Rejected(PARSE_ERROR, ref=None),),
        reference("oversized-input"),
    ),
    Case(
        "RT-BIG-010",
        "oversized-input",
        "an integer of 5,000 digits",
        sends(raw_call(b'{"n":' + b"9" * 5_000 + b"}")),
        (Rejected(PARSE_ERROR, ref=None),),
        f"{reference('oversized-input')}; {PY_INT_LIMIT}",
    ),
    Case(
        "RT-BIG-011",
        "oversized-input",
        "a 30-digit integer reaches the server digit for digit (never rounded through a double)",
        sends(raw_call(b'{"n":123456789012345678901234567890}')),
        (Forwarded(),),
        f"{reference('oversized-input')}; {RFC8259}",
        server_receives=("123456789012345678901234567890",),
    ),
    Case(
        "RT-BIG-012",
        "oversized-input",
        "a number beyond double range (1e400)",
        sends(raw_call(b'{"n":1e400}')),
        (Rejected(PARSE_ERROR, ref=None),),
        f"{reference('oversized-input')}; {RFC8259}",
    ),
    Case(
        "RT-BIG-013",
        "oversized-input",
        "a server answer within --max-server-line-bytes arrives whole (control)",
        sends(call("huge", {"bytes": 100_000})),
        (Forwarded(),),
        reference("oversized-input"),
        options=SMALL_LIMITS,
    ),
    Case(
        "RT-BIG-014",
        "oversized-input",
        "a server answer over --max-server-line-bytes never reaches the client; the call fails at once (-32603)",
        (Send(call("huge", {"bytes": 300_000})), AwaitAnswer(Ref(1), timeout=4.0)),
        (
            _no_line_longer_than(256 * 1024),
            Answered(code=INTERNAL_ERROR),
            Check("the error came within the wait", _answered_in_time),
        ),
        reference("oversized-input"),
        options=SMALL_LIMITS,  # the default request timeout is far beyond the wait: not what answers
    ),
]

CASES = OVERSIZED_CASES
