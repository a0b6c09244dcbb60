"""Taint tracking, the chain's link for the "lethal trifecta": which taints the session holds, how a call
changes them (added once it is forwarded, removed once it is answered successfully) and how an answer does
(``result_matches``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple

from lilith.core.answer_text import answer_text
from lilith.core.interceptor import Interceptor, PolicySource, tool_name
from lilith.core.message import IdKey, Message, id_key
from lilith.policy.decision import Decision

if TYPE_CHECKING:
    from lilith.core.gate import ResourceAndPromptAccess
    from lilith.policy.paths import Resolver


class TaintChange(NamedTuple):
    """What one answer does to the session's taints, and why (``remove_taint``, ``result_matches`` or both)."""

    before: frozenset[str]
    after: frozenset[str]
    cause: str


class TaintTracking(Interceptor):
    """This session's taints: checked before a call; the call's changes are worked out during its check (by
    the policy that checked it). Taints it adds are committed once it is really forwarded; taints it removes
    only once the server answers it successfully (a "clear the context" call that fails, hangs, is cancelled
    or loses its server has cleared nothing)."""

    name = "taint_rules"
    # Removals waiting for their call's answer (the oldest is dropped first: it then removes nothing).
    MAX_PENDING_REMOVALS = 4096

    def __init__(
        self,
        current_policy: PolicySource,
        resolver: Resolver | None = None,
        access: ResourceAndPromptAccess | None = None,
    ) -> None:
        """``access``: the chain's resource check, whose resolution of a URI is reused (one resolution per
        call, so the access decision and the taints always describe the same file)."""
        self._current_policy = current_policy
        self._resolver = resolver
        self._access = access
        self.taints: frozenset[str] = frozenset()
        self.call_count = 0  # tools/call forwarded so far in this session
        self._planned: tuple[Message, frozenset[str], frozenset[str]] | None = None
        # Answers of several calls interleave: a removal takes back only what was added before its call went
        # out, so each change is stamped with a sequence number.
        self._sequence = 0
        self._added_at: dict[str, int] = {}  # held tag -> when it was last added
        self._removals: dict[IdKey, tuple[int, frozenset[str]]] = {}  # request id -> (when it went out, tags)

    def check_request(self, message: Message) -> Decision | None:
        self._planned = None
        if message.method == "tools/call":
            return self._check_call(message)
        if message.method == "resources/read" and self._resolver is not None:
            self._plan_resource(message, self._resolver)
        return None

    def _check_call(self, message: Message) -> Decision | None:
        policy = self._current_policy()
        if policy.taint is None:
            return None
        tool = tool_name(message)
        arguments = message.body["params"].get("arguments", {})
        result = policy.taint.evaluate(tool, self.taints, arguments, self.call_count, self._resolver)
        # Planned even when denied: in audit mode a would-be denial is forwarded, and changes the session.
        self._planned = (message, result.add, result.remove)
        return None if result.denial is None else policy.present(result.denial)

    def _plan_resource(self, message: Message, resolver: Resolver) -> None:
        rules = self._current_policy().resource_rules
        if rules is None or not rules.adds_taints:
            return
        params = message.body.get("params")
        uri = params.get("uri") if isinstance(params, dict) else None
        if isinstance(uri, str):
            resolved = self._access.resource_taints(message) if self._access is not None else None
            decision, taints = resolved if resolved is not None else rules.decide_uri_with_taints(uri, resolver)
            if decision.allowed and taints:
                self._planned = (message, taints, frozenset())

    def taints_after(self, message: Message) -> frozenset[str]:
        """The session's taints once ``message`` (just checked) is forwarded: with what it adds (what it
        removes waits for its answer)."""
        planned = self._planned
        if planned is None or planned[0] is not message:
            return self.taints
        return self.taints | planned[1]

    def answer_taints(self, tool: str, response: dict[str, Any]) -> tuple[frozenset[str], str] | None:
        """The session's taints once this answer of ``tool`` is let through, and why, if it changes them (not
        applied: the caller records the change first, then ``commit``s it): the call's own removals if it
        succeeded (``remove_taint``), and what ``result_matches`` rules make of the answer's text."""
        after = removed = self.taints
        removal = self._removals.pop(id_key(response.get("id")), None)
        if removal is not None and succeeded(response):
            went_out, tags = removal
            after = removed = after - {tag for tag in tags if self._added_at.get(tag, 0) < went_out}
        taint = self._current_policy().taint
        if taint is not None and taint.reads_results:
            add, remove = taint.evaluate_result(tool, answer_text(response))
            after = (after - remove) | add
        if after == self.taints:
            return None
        causes = [
            name
            for name, changed in (("remove_taint", removed != self.taints), ("result_matches", after != removed))
            if changed
        ]
        return after, "+".join(causes)

    def commit(self, taints: frozenset[str]) -> None:
        """The session now holds ``taints`` (an answer's change, recorded)."""
        self._sequence += 1
        self._stamp(taints - self.taints)
        self.taints = taints
        self._added_at = {tag: when for tag, when in self._added_at.items() if tag in taints}

    def on_forwarded(self, message: Message) -> None:
        planned, self._planned = self._planned, None
        if message.method == "tools/call":
            self.call_count += 1
        key = message.id_key
        if key is not None:  # the id is in use again: what an earlier request of that id waited for is void
            self._removals.pop(key, None)
        if planned is None or planned[0] is not message:
            return
        _, add, remove = planned
        self._sequence += 1
        self._stamp(add)
        self.taints |= add
        if remove and key is not None:
            self._removals[key] = (self._sequence, remove)
            if len(self._removals) > self.MAX_PENDING_REMOVALS:
                del self._removals[next(iter(self._removals))]

    def _stamp(self, added: frozenset[str]) -> None:
        for tag in added:
            self._added_at[tag] = self._sequence


def succeeded(response: dict[str, Any]) -> bool:
    """Did the tool do its job? A complete result (not a JSON-RPC error) that is not ``isError``. Not a task,
    nor an ``input_required`` answer (2026-07-28): the tool has not run yet (a removal of a call run as a task
    is never applied)."""
    result = response.get("result")
    if "error" in response or type(result) is not dict or result.get("isError", False) is not False:
        return False
    return "task" not in result and result.get("resultType", "complete") == "complete"
