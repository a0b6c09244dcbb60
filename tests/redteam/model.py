"""The vocabulary of the red-team catalogue: a case, the steps it plays, and what must follow from them.

A case is data: what the client (or, through the hostile server's scripting tools, the server) sends,
under which policy and protocol era, and what must be observed on both sides of Lilith afterwards. The
runner (``runner.py``) plays the steps against a real ``lilith`` process and hands back an
``Observation``; ``Case.verify`` checks it.

Request ids: ``Ref(n)`` in a payload is replaced by the string ``"<case id>/<n>"``, so many cases can
share one Lilith process without their ids meeting. In raw byte payloads the token ``@ID1@`` (``@ID2@``
…) is replaced by the JSON of that id. Cases about ids themselves use literal ids instead.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, NamedTuple

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
POLICY_DENIED = -32000
SERVER_UNAVAILABLE = -32001  # Lilith: the server is gone, or did not answer in time

LEGACY = "2025-11-25"
BATCH_ERA = "2025-03-26"
MODERN = "2026-07-28"
ERAS = (LEGACY, BATCH_ERA, MODERN)
PROTOCOL_VERSION_META_KEY = "io.modelcontextprotocol/protocolVersion"


class Ref(NamedTuple):
    """The case's n-th request id, assigned by the runner."""

    n: int = 1


FIRST = Ref(1)  # the default request of a case


# --------------------------------------------------------------------------------------------- steps
class Send(NamedTuple):
    """One line from the client: a JSON value (``Ref`` resolved) or raw bytes (``@IDn@`` resolved)."""

    payload: Any
    newline: bool = True


class Pause(NamedTuple):
    seconds: float


class AwaitAnswer(NamedTuple):
    """Wait until the client has an answer for this id (or ``timeout`` passes) before going on."""

    ref: Any
    timeout: float = 3.0


Step = Send | Pause | AwaitAnswer


def sends(*payloads: Any) -> tuple[Step, ...]:
    return tuple(Send(payload) for payload in payloads)


def request(method: str, params: dict[str, Any] | None = None, ref: Any = FIRST) -> dict[str, Any]:
    message: dict[str, Any] = {"jsonrpc": "2.0", "id": ref, "method": method}
    if params is not None:
        message["params"] = params
    return message


def call(tool: Any, arguments: Any = None, ref: Any = FIRST) -> dict[str, Any]:
    return request("tools/call", {"name": tool, "arguments": {} if arguments is None else arguments}, ref)


def notification(method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
    message: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
    if params is not None:
        message["params"] = params
    return message


def emit(lines: list[Any], answer: bool = True, ref: Any = FIRST) -> dict[str, Any]:
    """Have the hostile server write these raw lines (``{id}`` = this call's id), then answer."""
    return call("emit", {"lines": lines, "answer": answer}, ref)


def script(method: str, lines: list[Any], ref: Any = FIRST) -> dict[str, Any]:
    """Have the hostile server answer the next ``method`` request with these raw lines instead."""
    return call("script_reply", {"method": method, "lines": lines}, ref)


def server_line(**fields: Any) -> str:
    """A JSON-RPC line for the hostile server to write. ``id="{id}"`` becomes the id of the request the
    server is answering; ``id=Ref(n)`` becomes the case's n-th id (the runner fills it in)."""
    ref = fields.get("id")
    if isinstance(ref, Ref):
        fields["id"] = f"@ID{ref.n}@"
    text = json.dumps({"jsonrpc": "2.0", **fields}, ensure_ascii=False).replace('"{id}"', "{id}")
    return text.replace(f'"@ID{ref.n}@"', f"@ID{ref.n}@") if isinstance(ref, Ref) else text


def raw_lines(*messages: dict[str, Any]) -> bytes:
    """Several messages as one write (pipelined), ids written as ``@IDn@`` tokens for the runner."""

    def tokenised(message: dict[str, Any]) -> str:
        ref = message.get("id")
        if not isinstance(ref, Ref):
            return json.dumps(message, ensure_ascii=False)
        text = json.dumps({**message, "id": f"@ID{ref.n}@"}, ensure_ascii=False)
        return text.replace(f'"@ID{ref.n}@"', f"@ID{ref.n}@")

    return "\n".join(tokenised(message) for message in messages).encode()


# -------------------------------------------------------------------------------------- observation
@dataclass
class Observation:
    """What happened on both sides of Lilith while one case played (up to its closing barrier)."""

    ids: dict[int, str]
    sent: list[Any] = field(default_factory=list)
    client: list[Any] = field(default_factory=list)  # parsed lines Lilith wrote to the client (bytes if not JSON)
    server: list[Any] = field(default_factory=list)  # parsed lines the server received (bytes if not JSON)
    audit: list[dict[str, Any]] = field(default_factory=list)
    awaited: list[bool] = field(default_factory=list)  # per AwaitAnswer step: did the answer come in time?
    session_lost: bool = False  # the server stopped answering during the case (the runner starts afresh)
    error: str | None = None

    def resolve(self, ref: Any) -> Any:
        return self.ids[ref.n] if isinstance(ref, Ref) else ref

    def answers(self, ref: Any) -> list[dict[str, Any]]:
        """Responses the client saw for this id (batches flattened), the id compared with its JSON type."""
        wanted = self.resolve(ref)
        return [m for m in _messages(self.client) if "method" not in m and "id" in m and same_id(m["id"], wanted)]

    def server_requests(self, ref: Any) -> list[dict[str, Any]]:
        wanted = self.resolve(ref)
        return [m for m in _messages(self.server) if "method" in m and "id" in m and same_id(m["id"], wanted)]


def same_id(a: Any, b: Any) -> bool:
    """JSON-typed equality: ``1``, ``1.0``, ``"1"`` and ``true`` are four different ids."""
    return type(a) is type(b) and a == b


def canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def _messages(lines: list[Any]) -> Iterator[dict[str, Any]]:
    for line in lines:
        for item in line if isinstance(line, list) else [line]:
            if isinstance(item, dict):
                yield item


def texts(value: Any) -> Iterator[str]:
    """Every string in a parsed JSON value, keys included (raw lines decoded leniently)."""
    if isinstance(value, bytes):
        yield value.decode("utf-8", "replace")
    elif isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from texts(item)
    elif isinstance(value, list):
        for item in value:
            yield from texts(item)


def _holder(lines: list[Any], marker: str) -> Any:
    """The first line holding ``marker`` in a string, or in its JSON text (numbers: digit for digit)."""
    for line in lines:
        if any(marker in text for text in texts(line)) or (not isinstance(line, bytes) and marker in canonical(line)):
            return line
    return None


class PlayError(Exception):
    """The case could not be played (Lilith did not start, died or stopped answering)."""


# ------------------------------------------------------------------------------------- expectations
class Expectation:
    def describe(self) -> str:
        raise NotImplementedError

    def check(self, obs: Observation) -> None:
        """Raise AssertionError, naming what was seen, if the observation contradicts this expectation."""
        raise NotImplementedError


def _one_answer(obs: Observation, ref: Any) -> dict[str, Any]:
    answers = obs.answers(ref)
    assert len(answers) == 1, f"expected one answer for id {obs.resolve(ref)!r}, client saw {obs.client!r}"
    return answers[0]


@dataclass(frozen=True)
class Denied(Expectation):
    """Lilith refused the request by policy (code -32000, ``Lilith:`` message, ``data.rule``); the server
    never saw it."""

    rule: str | None = None
    ref: Any = FIRST

    def describe(self) -> str:
        return f"denied by policy (rule {self.rule or 'any'})"

    def check(self, obs: Observation) -> None:
        answer = _one_answer(obs, self.ref)
        error = answer.get("error")
        assert isinstance(error, dict), f"expected a policy denial, client saw {answer!r}"
        assert error.get("code") == POLICY_DENIED, f"expected code {POLICY_DENIED}, got {error!r}"
        assert str(error.get("message", "")).startswith("Lilith: "), error
        data = error.get("data")
        assert isinstance(data, dict) and isinstance(data.get("rule"), str), error
        if self.rule is not None:
            assert data["rule"] == self.rule or data["rule"].startswith(self.rule), f"rule {data['rule']!r}"
        assert not obs.server_requests(self.ref), f"server received the denied request: {obs.server!r}"


@dataclass(frozen=True)
class Rejected(Expectation):
    """Lilith answered with a JSON-RPC protocol error and, when ``nothing_forwarded``, the server received
    nothing at all while the case played."""

    code: int
    ref: Any = FIRST  # None: the error's id is null (the line could not be read as a request)
    nothing_forwarded: bool = True

    def describe(self) -> str:
        return f"rejected with {self.code}" + (", nothing forwarded" if self.nothing_forwarded else "")

    def check(self, obs: Observation) -> None:
        answers = [a for a in obs.answers(self.ref) if isinstance(a.get("error"), dict)]
        assert answers, f"expected error {self.code} for id {obs.resolve(self.ref)!r}, client saw {obs.client!r}"
        assert any(a["error"].get("code") == self.code for a in answers), f"client saw {answers!r}"
        if self.nothing_forwarded:
            assert not obs.server, f"server received {obs.server!r}"
        elif self.ref is not None:
            assert not obs.server_requests(self.ref), f"server received {obs.server!r}"


@dataclass(frozen=True)
class Forwarded(Expectation):
    """The server received the request with its id (and, when ``unchanged``, exactly as the client sent
    it), and the client got the server's answer rather than a Lilith error."""

    ref: Any = FIRST
    unchanged: bool = True

    def describe(self) -> str:
        return "forwarded" + (" unchanged" if self.unchanged else "")

    def check(self, obs: Observation) -> None:
        received = obs.server_requests(self.ref)
        assert len(received) == 1, f"server received {obs.server!r}"
        if self.unchanged:
            sent = [m for m in _messages(obs.sent) if "method" in m and same_id(m.get("id"), obs.resolve(self.ref))]
            assert sent, "the case sent no such request"
            assert canonical(received[0]) == canonical(sent[0]), f"sent {sent[0]!r}, server got {received[0]!r}"
        answer = _one_answer(obs, self.ref)
        error = answer.get("error")
        assert not (isinstance(error, dict) and str(error.get("message", "")).startswith("Lilith")), answer


@dataclass(frozen=True)
class Answered(Expectation):
    """The client got exactly one answer for the id: an error with ``code``, or a result whose text
    contains ``contains``."""

    ref: Any = FIRST
    code: int | None = None
    contains: str | None = None

    def describe(self) -> str:
        return f"answered ({self.code if self.code is not None else 'result'})"

    def check(self, obs: Observation) -> None:
        answer = _one_answer(obs, self.ref)
        if self.code is not None:
            error = answer.get("error")
            assert isinstance(error, dict) and error.get("code") == self.code, f"client saw {answer!r}"
        if self.contains is not None:
            assert any(self.contains in text for text in texts(answer.get("result"))), f"client saw {answer!r}"


@dataclass(frozen=True)
class Listed(Expectation):
    """A list result (``tools``, ``resources``, ``prompts``) shows ``present`` and none of ``absent``."""

    field: str
    present: tuple[str, ...] = ()
    absent: tuple[str, ...] = ()
    ref: Any = FIRST
    key: str = "name"

    def describe(self) -> str:
        return f"{self.field} listed without {', '.join(self.absent) or 'nothing'}"

    def check(self, obs: Observation) -> None:
        answer = _one_answer(obs, self.ref)
        result = answer.get("result")
        assert isinstance(result, dict), f"client saw {answer!r}"
        items = result.get(self.field)
        assert isinstance(items, list), f"no {self.field} list in {result!r}"
        names = [item.get(self.key) for item in items if isinstance(item, dict)]
        for name in self.present:
            assert name in names, f"{name!r} missing from {names!r}"
        for name in self.absent:
            assert name not in names, f"{name!r} listed: {names!r}"


@dataclass(frozen=True)
class Check(Expectation):
    """A one-off condition, described in words."""

    text: str
    predicate: Callable[[Observation], None]

    def describe(self) -> str:
        return self.text

    def check(self, obs: Observation) -> None:
        self.predicate(obs)


# ---------------------------------------------------------------------------------------------- case
@dataclass(frozen=True)
class Case:
    id: str  # RT-<AREA>-<nnn>
    attack_class: str  # a slug from attack_classes.ATTACK_CLASSES
    title: str
    steps: tuple[Step, ...]
    expect: tuple[Expectation, ...]
    reference: str
    policy: str = "strict"
    era: str = LEGACY
    options: tuple[str, ...] = ()  # extra `lilith run` options
    env: tuple[tuple[str, str], ...] = ()  # extra environment for Lilith (and so the server)
    isolated: bool = False  # session state matters: a fresh Lilith for this case alone
    ends_session: bool = False  # the case is meant to end the session (else losing it is a failure)
    server_must_not_receive: tuple[str, ...] = ()
    server_receives: tuple[str, ...] = ()
    client_must_not_see: tuple[str, ...] = ()
    client_sees: tuple[str, ...] = ()
    audit_must_not_contain: tuple[str, ...] = ()
    xfail: str | None = None  # the missing defence, when Lilith has none yet (a name from gaps.py)

    @property
    def group(self) -> tuple[Any, ...]:
        """Cases with the same group share one Lilith process."""
        return (self.policy, self.era, self.options, self.env, self.id if self.isolated else None)

    def verify(self, obs: Observation) -> None:
        if obs.error is not None:
            raise PlayError(f"{self.id} could not be played: {obs.error}")
        assert obs.session_lost == self.ends_session, "the session ended" if obs.session_lost else "it did not end"
        for expectation in self.expect:
            expectation.check(obs)
        for marker in self.server_must_not_receive:
            held = _holder(obs.server, marker)
            assert held is None, f"server received {marker!r}: {held!r}"
        for marker in self.server_receives:
            assert _holder(obs.server, marker) is not None, f"server never received {marker!r}: {obs.server!r}"
        for marker in self.client_must_not_see:
            held = _holder(obs.client, marker)
            assert held is None, f"client saw {marker!r}: {held!r}"
        for marker in self.client_sees:
            assert _holder(obs.client, marker) is not None, f"client never saw {marker!r}: {obs.client!r}"
        for marker in self.audit_must_not_contain:
            held = _holder(obs.audit, marker)
            assert held is None, f"audit log holds {marker!r}: {held!r}"
