"""The ordered, fail-closed interceptor chain that decides client requests.

Each interceptor looks at a request and either passes (returns None) or decides (returns a Decision). The
first denial halts the chain. An interceptor that raises denies the message; it never skips its check.

One policy per request: the gate pins the live policy (``PolicySnapshot``) for the length of a check, so
every interceptor decides a request by the same policy even if a reload swaps it meanwhile, and what a
request changes in the session (taints) is worked out during its check, by that same policy, and only
committed once it is forwarded (a taint it removes: once it is answered successfully).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from lilith.core.interceptor import Interceptor, PolicySnapshot, PolicySource, tool_name
from lilith.core.message import Message
from lilith.core.ports import AuditSink, EventLog
from lilith.core.taint_tracking import TaintChange, TaintTracking
from lilith.errors import InvalidParams, ProtocolError
from lilith.policy.decision import Decision
from lilith.policy.loader import Policy

if TYPE_CHECKING:
    from lilith.policy.paths import Resolver
    from lilith.policy.rate_limits import RateWindows


class ToolCallPolicy(Interceptor):
    """Checks ``tools/call`` against the current policy (supplied by a getter so it can be swapped)."""

    name = "policy"

    def __init__(self, current_policy: PolicySource, resolver: Resolver) -> None:
        self._current_policy = current_policy
        self._resolver = resolver

    def check_request(self, message: Message) -> Decision | None:
        if message.method != "tools/call":
            return None
        tool = tool_name(message)
        arguments = message.body["params"].get("arguments", {})
        return self._current_policy().decide_tool_call(tool, arguments, self._resolver)

    def filter_result(self, method: str, result: dict[str, Any], *, plain: bool = False) -> dict[str, Any]:
        """A client never sees a tool it could not call: ``tools/list`` keeps only allowed tools."""
        if method != "tools/list":
            return result
        tools = result.get("tools")
        if not isinstance(tools, list):
            return result
        policy = self._current_policy()
        kept = [tool for tool in tools if isinstance(tool, dict) and _visible(policy, tool.get("name"))]
        if len(kept) == len(tools):
            return result
        return {**result, "tools": kept}


class ResourceAndPromptAccess(Interceptor):
    """``resource_rules`` for resources/read and resources/subscribe, ``prompt_rules`` for prompts/get; the
    matching list results show only what may be fetched."""

    name = "access_rules"

    def __init__(self, current_policy: PolicySource, resolver: Resolver) -> None:
        self._current_policy = current_policy
        self._resolver = resolver
        self._resolved: tuple[Message, Decision, frozenset[str]] | None = None

    def check_request(self, message: Message) -> Decision | None:
        method = message.method
        policy = self._current_policy()
        self._resolved = None
        if method in ("resources/read", "resources/subscribe"):
            uri = _text_param(message, "uri")
            if policy.resource_rules is None:
                return None
            decision, taints = policy.resource_rules.decide_uri_with_taints(uri, self._resolver)
            self._resolved = (message, decision, taints)
            return policy.present(decision)
        if method == "prompts/get":
            name = _text_param(message, "name")
            if policy.prompt_rules is None:
                return None
            return policy.present(policy.prompt_rules.decide(name))
        return None

    def resource_taints(self, message: Message) -> tuple[Decision, frozenset[str]] | None:
        """The rule decision and taints for ``message``'s URI as this check resolved it, if it did: taint
        tracking uses them rather than resolving the URI (symlinks and all) a second time."""
        resolved = self._resolved
        if resolved is None or resolved[0] is not message:
            return None
        return resolved[1], resolved[2]

    def filter_result(self, method: str, result: dict[str, Any], *, plain: bool = False) -> dict[str, Any]:
        policy = self._current_policy()
        if policy.mode == "audit":
            return result
        if method == "resources/list" and policy.resource_rules is not None:
            rules, resolver = policy.resource_rules, self._resolver
            return _kept(result, "resources", lambda item: rules.decide_uri(_text(item.get("uri")), resolver).allowed)
        if method == "prompts/list" and policy.prompt_rules is not None:
            prompts = policy.prompt_rules
            return _kept(result, "prompts", lambda item: prompts.decide(_text(item.get("name"))).allowed)
        return result


def _text(value: Any) -> str:
    return value if isinstance(value, str) else "\x00"  # never a valid name or URI: denied


def _kept(result: dict[str, Any], field: str, allowed: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    items = result.get(field)
    if not isinstance(items, list):
        return result
    kept = [item for item in items if isinstance(item, dict) and allowed(item)]
    return result if len(kept) == len(items) else {**result, field: kept}


def _text_param(message: Message, key: str) -> str:
    params = message.body.get("params")
    value: Any = params.get(key) if isinstance(params, dict) else None
    if not isinstance(value, str) or not value:
        raise InvalidParams(f"Invalid params: {message.method} needs a string '{key}'", request_id=message.id)
    if "\x00" in value:
        raise InvalidParams(f"Invalid params: '{key}' contains a NUL character", request_id=message.id)
    return value


class RateLimit(Interceptor):
    """The policy's ``rate_limits`` over this session's calls; runs after the policy allowed a call."""

    name = "rate_limits"

    def __init__(self, current_policy: PolicySource, clock: Callable[[], float]) -> None:
        self._current_policy = current_policy
        self._clock = clock
        self._windows: RateWindows | None = None  # made on first use: most policies have no rate limits
        self._planned: tuple[Message, list[Any], float] | None = None  # counted when that call is forwarded

    def check_request(self, message: Message) -> Decision | None:
        self._planned = None
        if message.method != "tools/call":
            return None
        policy = self._current_policy()
        if not policy.rate_limits:
            return None
        windows = self._windows
        if windows is None:
            from lilith.policy.rate_limits import RateWindows

            windows = self._windows = RateWindows()
        now = self._clock()
        decision, counted = windows.check(policy.rate_limits, tool_name(message), now)
        if decision is None:
            self._planned = (message, counted, now)
            return None
        return policy.present(decision)

    def on_forwarded(self, message: Message) -> None:
        planned, self._planned = self._planned, None
        if planned is not None and planned[0] is message:
            from lilith.policy.rate_limits import count

            count(planned[1], planned[2])


class ReplayWindow(Interceptor):
    """lilith-zero's ``replay_window_secs``: a request id may not come back within that many seconds of its
    last use (the session already refuses ids in flight, cancelled or timed out)."""

    name = "replay_window_secs"
    _MAX_REMEMBERED = 100_000

    def __init__(self, current_policy: PolicySource, clock: Callable[[], float]) -> None:
        self._current_policy = current_policy
        self._clock = clock
        self._used: dict[Any, float] = {}  # id key -> when it was last forwarded (insertion = time order)

    def check_request(self, message: Message) -> Decision | None:
        policy = self._current_policy()
        window = policy.replay_window
        if window <= 0 or not self._used:
            return None
        now = self._clock()
        used = self._used
        while used:  # forget what is older than the window
            oldest = next(iter(used))
            if used[oldest] > now - window:
                break
            del used[oldest]
        if message.id_key in used:  # a policy key like the rate limits: mode: audit forwards it as would-deny
            reason = f"request id {message.id!r} was used less than {window:g} s ago"
            return policy.present(Decision(False, self.name, reason))
        return None

    def on_forwarded(self, message: Message) -> None:
        if self._current_policy().replay_window <= 0 or message.id_key is None:
            return
        used = self._used
        used.pop(message.id_key, None)
        used[message.id_key] = self._clock()
        if len(used) > self._MAX_REMEMBERED:
            del used[next(iter(used))]


def _visible(policy: Policy, name: Any) -> bool:
    return isinstance(name, str) and "\x00" not in name and policy.tool_visible(name)


class Gate:
    def __init__(self, interceptors: Sequence[Interceptor], snapshot: PolicySnapshot | None = None) -> None:
        self._interceptors = tuple(interceptors)
        self._snapshot = snapshot
        self._tracking = next((i for i in self._interceptors if isinstance(i, TaintTracking)), None)

    def check(self, message: Message) -> Decision | None:
        """Run the chain; the first denial, else the first audit-mode would-be denial, else the last allowing
        decision, or None if nobody had an opinion. The whole chain sees one policy."""
        if self._snapshot is None:
            return self._check(message)
        self._snapshot.pin()
        try:
            return self._check(message)
        finally:
            self._snapshot.release()

    def _check(self, message: Message) -> Decision | None:
        verdict: Decision | None = None
        for interceptor in self._interceptors:
            try:
                decision = interceptor.check_request(message)
            except ProtocolError:
                raise
            except Exception as exc:
                return Decision(False, f"{interceptor.name}.error", f"check failed: {type(exc).__name__}: {exc}")
            if decision is None:
                continue
            if not decision.allowed:
                return decision
            if verdict is None or not verdict.would_deny:  # a would-be denial is what the audit log must show
                verdict = decision
        return verdict

    def taints(self, message: Message) -> tuple[frozenset[str], frozenset[str]] | None:
        """The session's taints before ``message`` (just checked) and after it if it is forwarded; None when
        the chain tracks no taints."""
        tracking = self._tracking
        return None if tracking is None else (tracking.taints, tracking.taints_after(message))

    def answered(self, tool: str, response: dict[str, Any]) -> TaintChange | None:
        """The session's taints before and after this answer of a ``tools/call`` of ``tool`` (the call's own
        removals if it succeeded, ``result_matches`` rules), if it changes them; nothing is applied until
        ``commit_taints``. Raises if the check fails: the answer is withheld."""
        tracking = self._tracking
        if tracking is None:
            return None
        changed = tracking.answer_taints(tool, response)
        return None if changed is None else TaintChange(tracking.taints, changed[0], changed[1])

    def commit_taints(self, taints: frozenset[str]) -> None:
        if self._tracking is not None:
            self._tracking.commit(taints)

    def forwarded(self, message: Message) -> None:
        """Tell every interceptor that the request goes out (after its audit record was written)."""
        for interceptor in self._interceptors:
            interceptor.on_forwarded(message)

    def filter_server_message(self, method: str, value: Any, *, plain: bool = False) -> Any:
        """Every interceptor's view of a server's params or error, in order. Raises if one fails."""
        for interceptor in self._interceptors:
            value = interceptor.filter_server_message(method, value, plain=plain)
        return value

    def filter_result(self, method: str, result: dict[str, Any], *, plain: bool = False) -> dict[str, Any]:
        """Every interceptor's view of a result, in order. Raises if one fails: the caller fails closed."""
        for interceptor in self._interceptors:
            result = interceptor.filter_result(method, result, plain=plain)
        return result


def build_gate(
    current_policy: PolicySource,
    resolver: Resolver,
    clock: Callable[[], float],
    pinning: Callable[[PolicySource], Interceptor] | None = None,
    *,
    audit: AuditSink | None = None,
    log: EventLog | None = None,
) -> Gate:
    """The standard chain, in its order, over one policy snapshot: tool pinning (if given), tool policy,
    resource and prompt rules, sanitising (after the filters, so it judges only what the client may see;
    its findings go to ``audit`` and ``log`` when given), taints, rate limits. Used by the proxy and by
    ``lilith policy test``."""
    from lilith.core.sanitize import Sanitize  # imports this module

    snapshot = PolicySnapshot(current_policy)
    chain: list[Interceptor] = [] if pinning is None else [pinning(snapshot)]
    access = ResourceAndPromptAccess(snapshot, resolver)
    chain += [
        ToolCallPolicy(snapshot, resolver),
        access,
        Sanitize(snapshot, audit, log),
        TaintTracking(snapshot, resolver, access),
        ReplayWindow(snapshot, clock),
        RateLimit(snapshot, clock),  # last: the cheapest to skip; it counts a call only once it is forwarded
    ]
    return Gate(chain, snapshot)
