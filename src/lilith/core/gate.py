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
from typing import TYPE_CHECKING, Any, NamedTuple

from lilith.core.answer_text import answer_text
from lilith.core.message import IdKey, Message, id_key
from lilith.core.ports import AuditSink, EventLog
from lilith.errors import InvalidParams, ProtocolError
from lilith.policy.decision import Decision
from lilith.policy.loader import Policy

if TYPE_CHECKING:
    from lilith.policy.paths import Resolver
    from lilith.policy.pins import Finding, PinReview
    from lilith.policy.rate_limits import RateWindows

PolicySource = Callable[[], Policy]
_REPORTED_LIMIT = 4096


class TaintChange(NamedTuple):
    """What one answer does to the session's taints, and why (``remove_taint``, ``result_matches`` or both)."""

    before: frozenset[str]
    after: frozenset[str]
    cause: str


class PolicySnapshot:
    """Reads the live policy, except while the gate has pinned one for the request being checked."""

    __slots__ = ("_current", "_pinned")

    def __init__(self, current: PolicySource) -> None:
        self._current = current
        self._pinned: Policy | None = None

    def __call__(self) -> Policy:
        pinned = self._pinned
        return pinned if pinned is not None else self._current()

    def pin(self) -> None:
        self._pinned = self._current()

    def release(self) -> None:
        self._pinned = None


class Interceptor:
    """Base of the chain's links; each hook's default is "no opinion"."""

    name = "interceptor"

    def check_request(self, message: Message) -> Decision | None:
        """None: no opinion; a Decision: allowed or denied, with the rule that said so."""
        return None

    def filter_result(self, method: str, result: dict[str, Any], *, plain: bool = False) -> dict[str, Any]:
        """The result of a request of ``method`` as the client may see it (return it unchanged if no opinion).
        ``plain``: the line it came in was plain ASCII with no control escapes (nothing in it to strip)."""
        return result

    def on_forwarded(self, message: Message) -> None:
        """The request was allowed, audited and is being forwarded: commit any session state it changes."""
        return

    def filter_server_message(self, method: str, value: Any, *, plain: bool = False) -> Any:
        """What the client may see of the rest of what a server says: a notification's or a request's
        ``params`` (``method`` is theirs), or an error answer's ``error`` (``method`` is the request's)."""
        return value


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
    """Did the tool do its job? A result (not a JSON-RPC error) that is not ``isError`` and not a task (whose
    outcome is not known yet: a removal of a call run as a task is never applied)."""
    result = response.get("result")
    if "error" in response or type(result) is not dict or result.get("isError", False) is not False:
        return False
    return "task" not in result and result.get("resultType") != "task"


class ToolPinning(Interceptor):
    """Rug pulls (``lilith.policy.pins``): every tools/list result is compared with the pinned tools. With
    ``pin_mode: enforce`` a changed or new tool is hidden and calls to it are denied (rule ``pin``); with
    ``audit`` both are only reported. Each change is written to the audit log and stderr once."""

    name = "pin"

    def __init__(
        self,
        current_policy: PolicySource,
        open_pins: Callable[[], PinReview],
        audit: AuditSink,
        log: EventLog,
        default_mode: str = "off",
    ) -> None:
        self._current_policy = current_policy
        self._open_pins = open_pins
        self._audit = audit
        self._log = log
        self._default_mode = default_mode
        self._pins: PinReview | None = None
        self._reported: set[tuple[str, str]] = set()

    def _mode(self) -> tuple[Policy, str]:
        policy = self._current_policy()
        return policy, policy.pin_mode or self._default_mode

    def _review(self) -> PinReview:
        if self._pins is None:  # loaded on first need, so a reload can turn pinning on
            self._pins = self._open_pins()
        return self._pins

    def check_request(self, message: Message) -> Decision | None:
        if message.method != "tools/call":
            return None
        policy, mode = self._mode()
        if mode == "off":
            return None
        finding = self._review().finding_for_call(tool_name(message))
        if finding is None:
            return None
        if mode == "audit":
            return Decision(True, "pin", finding.reason, would_deny=True)
        return policy.present(Decision(False, "pin", finding.reason))

    def filter_result(self, method: str, result: dict[str, Any], *, plain: bool = False) -> dict[str, Any]:
        if method != "tools/list":
            return result
        policy, mode = self._mode()
        tools = result.get("tools")
        if mode == "off" or not isinstance(tools, list):
            return result
        review = self._review()
        pinned_now, findings = review.review(tools, last_page=not result.get("nextCursor"), save=False)
        hide = mode == "enforce" and policy.mode == "enforce"
        try:
            self._record_pins(pinned_now, findings, mode, hide)
            review.save_pending()  # only what was recorded becomes trusted on disk
        except Exception:
            self._pins = None  # forget this review: the store on disk is what is trusted next time
            raise
        if not hide or not findings:
            return result
        flagged = {finding.tool for finding in findings}
        kept = [tool for tool in tools if not (isinstance(tool, dict) and tool.get("name") in flagged)]
        return {**result, "tools": kept}

    def _record_pins(self, pinned_now: list[str], findings: list[Finding], mode: str, hide: bool) -> None:
        if pinned_now:
            self._audit.record({"event": "tools_pinned", "tools": pinned_now})
            self._log.log("info", "tools_pinned", count=len(pinned_now))
        for finding in findings:
            key = (finding.tool, finding.digest)
            if key in self._reported:
                continue
            record: dict[str, Any] = {"event": "pin_mismatch", "tool": finding.tool, "change": finding.change}
            record |= {"fields": list(finding.fields), "mode": mode, "hidden": hide, "reason": finding.reason}
            self._audit.record(record)
            if len(self._reported) < _REPORTED_LIMIT:  # only once recorded: a failed write is tried again
                self._reported.add(key)
            self._log.log("warning", "pin_mismatch", tool=finding.tool, change=finding.change, hidden=hide)


def _visible(policy: Policy, name: Any) -> bool:
    return isinstance(name, str) and "\x00" not in name and policy.tool_visible(name)


def tool_name(message: Message) -> str:
    params = message.body.get("params")
    name: Any = params.get("name") if isinstance(params, dict) else None
    if not isinstance(name, str) or not name:
        raise InvalidParams("Invalid params: tools/call needs a string 'name'", request_id=message.id)
    if "\x00" in name:
        raise InvalidParams("Invalid params: tool name contains a NUL character", request_id=message.id)
    return name


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
