"""What the client set up in the server process, given again to a restarted one (sans-IO).

The client does not notice a restart, so the new server must be brought to where the client believes it
is: the handshake (``initialize``, then ``notifications/initialized``) is replayed at once, and once the
server has answered it, the last logging level and the resource subscriptions the old one took. The new
process may list other tools, resources or prompts than the old one did, so the client is told to list them
again (``notifications/*/list_changed``) where the server it negotiated with said it sends those.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from lilith.core.codec import encode
from lilith.core.deadlines import Deadlines
from lilith.core.effects import Effects
from lilith.core.gate import Gate
from lilith.core.message import classify, id_key
from lilith.core.pending import ClientRequests, Pending
from lilith.core.ports import EventLog
from lilith.core.session_records import SessionRecords

# Requests whose effect lives in the server process: their params are kept until the server answers.
RESTORED_METHODS = frozenset({"logging/setLevel", "resources/subscribe", "resources/unsubscribe"})
MAX_SUBSCRIPTIONS = 4096  # resource subscriptions remembered for a restart (the oldest is forgotten first)
LISTS = ("tools", "resources", "prompts")  # the server's lists a client may be told changed


class ServerSetup:
    """The client's handshake as it sent it, and what the server took since: a logging level, subscriptions."""

    __slots__ = ("_log_level", "_subscriptions", "changing_lists", "initialize", "initialized")

    def __init__(self) -> None:
        self.initialize: dict[str, Any] | None = None  # the client's initialize request, as forwarded
        self.initialized: dict[str, Any] | None = None  # ... and its notifications/initialized
        self._log_level: dict[str, Any] | None = None  # params of the last logging/setLevel the server took
        self._subscriptions: dict[str, dict[str, Any]] = {}  # uri -> params of its resources/subscribe
        self.changing_lists: tuple[str, ...] = ()  # lists the server said it announces changes of

    def handshake(self, body: dict[str, Any]) -> None:
        """The client's initialize goes to the server (kept as it was: the replay sends it again)."""
        self.initialize = copy.deepcopy(body)

    def handshake_done(self, body: dict[str, Any]) -> None:
        self.initialized = copy.deepcopy(body)

    def server_answered(self, result: Any) -> None:
        """The server's answer to the client's initialize: which of its lists it said may change."""
        capabilities = result.get("capabilities") if isinstance(result, dict) else None
        if not isinstance(capabilities, dict):
            return
        self.changing_lists = tuple(
            name
            for name in LISTS
            if isinstance(capabilities.get(name), dict) and capabilities[name].get("listChanged") is True
        )

    def client_params(self) -> dict[str, Any]:
        """The params of the client's initialize (its info, version, capabilities), or {}."""
        params = self.initialize.get("params") if self.initialize is not None else None
        return params if isinstance(params, dict) else {}

    def took(self, pending: Pending) -> None:
        """The server took a logging level, a subscription or an unsubscription: a restarted one gets it too."""
        params = pending.params or {}
        if pending.method == "logging/setLevel":
            self._log_level = params
            return
        self.forget_subscription(params)
        uri = params.get("uri")
        if pending.method == "resources/subscribe" and isinstance(uri, str):
            subscriptions = self._subscriptions
            subscriptions[uri] = params
            if len(subscriptions) > MAX_SUBSCRIPTIONS:
                del subscriptions[next(iter(subscriptions))]

    def refused(self, pending: Pending) -> None:
        """A restarted server refused a restored request: a refused subscription is not given again."""
        if pending.method == "resources/subscribe":
            self.forget_subscription(pending.params)

    def forget_subscription(self, params: dict[str, Any] | None) -> None:
        uri = params.get("uri") if params is not None else None
        if isinstance(uri, str):
            self._subscriptions.pop(uri, None)

    def to_restore(self) -> list[tuple[str, dict[str, Any]]]:
        """The requests that give a restarted server the logging level and the subscriptions: (method, params
        as the client sent them)."""
        wanted = [] if self._log_level is None else [("logging/setLevel", self._log_level)]
        wanted += [("resources/subscribe", params) for params in self._subscriptions.values()]
        return wanted


class Restorer:
    """Gives a restarted server what ``setup`` holds, as requests of Lilith's own (``internal``: their
    answers never reach the client), timed like the client's."""

    __slots__ = ("_clock", "_deadlines", "_gate", "_log", "_records", "_requests", "setup")

    def __init__(
        self,
        gate: Gate,
        records: SessionRecords,
        log: EventLog,
        requests: ClientRequests,
        deadlines: Deadlines,
        *,
        clock: Callable[[], float],
    ) -> None:
        self.setup = ServerSetup()
        self._clock = clock
        self._gate = gate
        self._records = records
        self._log = log
        self._requests = requests
        self._deadlines = deadlines

    def handshake_replay(self) -> Effects:
        """The client's initialize and initialized, now; once the server has answered, the rest (``answered``)."""
        effects = Effects()
        setup = self.setup
        if setup.initialize is None:
            return effects
        request = dict(setup.initialize)
        request["id"] = self._requests.internal_id()
        pending = self._requests[id_key(request["id"])] = Pending("initialize", request["id"], internal=True)
        if self._deadlines.enabled:
            self._deadlines.start_handshake_replay(pending)
        effects.to_server.append(encode(request))
        if setup.initialized is not None:
            effects.to_server.append(encode(setup.initialized))
        return effects

    def answered(self, pending: Pending, body: dict[str, Any], effects: Effects) -> None:
        """A restarted server answered a request Lilith replayed (the client never sees these answers)."""
        if "error" in body:
            self._log.log("error", "handshake_replay_failed", method=pending.method, error=body["error"])
            self.setup.refused(pending)
        elif pending.method == "initialize":
            self._restore(effects)
            self._announce_lists(effects)

    def _announce_lists(self, effects: Effects) -> None:
        """The new process's lists may differ from the old one's: the client lists them again."""
        for name in self.setup.changing_lists:
            effects.to_client.append(encode({"jsonrpc": "2.0", "method": f"notifications/{name}/list_changed"}))
        if self.setup.changing_lists:
            self._log.log("info", "lists_changed_announced", lists=list(self.setup.changing_lists))

    def _restore(self, effects: Effects) -> None:
        """A restarted server took the replayed handshake: give it the logging level and the resource
        subscriptions the client set with the old one. Each goes through the policy in force now (a
        subscription the policy now denies is dropped) and is recorded like the client's own requests."""
        records, setup = self._records, self.setup
        wanted = setup.to_restore()
        records.arrived = self._clock()
        for method, params in wanted:
            request_id = self._requests.internal_id()
            request = {"jsonrpc": "2.0", "id": request_id, "method": method, "params": unmetered(params)}
            try:
                message = classify(request)
                decision = self._gate.check(message)
                if decision is not None:
                    decision = records.decision(message, decision)
                    if not decision.allowed:
                        self._log.log("warning", "restore_denied", method=method, rule=decision.rule)
                        setup.forget_subscription(params)
                        continue
                self._gate.forwarded(message)
            except Exception as exc:  # never sent unchecked
                self._log.log("error", "restore_failed", method=method, error=f"{type(exc).__name__}: {exc}")
                continue
            pending = self._requests[id_key(request_id)] = Pending(method, request_id, internal=True)
            pending.params = params
            if self._deadlines.enabled:
                self._deadlines.start(pending, message)
            effects.to_server.append(encode(request))


def unmetered(params: dict[str, Any]) -> dict[str, Any]:
    """Replayed params without the original request's progress token (another request may use it now)."""
    meta = params.get("_meta")
    if not isinstance(meta, dict) or "progressToken" not in meta:
        return params
    return {**params, "_meta": {key: value for key, value in meta.items() if key != "progressToken"}}
