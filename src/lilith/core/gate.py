"""The ordered, fail-closed interceptor chain that decides client requests.

Each interceptor looks at a request and either passes (returns None) or decides (returns a Decision). The
first denial halts the chain. An interceptor that raises denies the message; it never skips its check.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from lilith.core.message import Message
from lilith.errors import InvalidParams, ProtocolError
from lilith.policy.decision import Decision
from lilith.policy.loader import Policy

if TYPE_CHECKING:
    from lilith.policy.paths import Resolver


class Interceptor:
    """Base of the chain's links; each hook's default is "no opinion"."""

    name = "interceptor"

    def check_request(self, message: Message) -> Decision | None:
        """None: no opinion; a Decision: allowed or denied, with the rule that said so."""
        return None

    def filter_result(self, method: str, result: dict[str, Any]) -> dict[str, Any]:
        """The result of a request of ``method`` as the client may see it (return it unchanged if no opinion)."""
        return result

    def on_forwarded(self, message: Message) -> None:
        """The request was allowed, audited and is being forwarded: commit any session state it changes."""
        return


class ToolCallPolicy(Interceptor):
    """Checks ``tools/call`` against the current policy (supplied by a getter so it can be swapped)."""

    name = "policy"

    def __init__(self, current_policy: Callable[[], Policy], resolver: Resolver) -> None:
        self._current_policy = current_policy
        self._resolver = resolver

    def check_request(self, message: Message) -> Decision | None:
        if message.method != "tools/call":
            return None
        tool = tool_name(message)
        arguments = message.body["params"].get("arguments", {})
        return self._current_policy().decide_tool_call(tool, arguments, self._resolver)

    def filter_result(self, method: str, result: dict[str, Any]) -> dict[str, Any]:
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

    def __init__(self, current_policy: Callable[[], Policy], resolver: Resolver) -> None:
        self._current_policy = current_policy
        self._resolver = resolver

    def check_request(self, message: Message) -> Decision | None:
        method = message.method
        policy = self._current_policy()
        if method in ("resources/read", "resources/subscribe"):
            uri = _text_param(message, "uri")
            if policy.resource_rules is None:
                return None
            return policy.present(policy.resource_rules.decide_uri(uri, self._resolver))
        if method == "prompts/get":
            name = _text_param(message, "name")
            if policy.prompt_rules is None:
                return None
            return policy.present(policy.prompt_rules.decide(name))
        return None

    def filter_result(self, method: str, result: dict[str, Any]) -> dict[str, Any]:
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

    def __init__(self, current_policy: Callable[[], Policy], clock: Callable[[], float]) -> None:
        from lilith.policy.rate_limits import RateWindows

        self._current_policy = current_policy
        self._clock = clock
        self._windows = RateWindows()

    def check_request(self, message: Message) -> Decision | None:
        if message.method != "tools/call":
            return None
        policy = self._current_policy()
        if not policy.rate_limits:
            return None
        decision = self._windows.admit(policy.rate_limits, tool_name(message), self._clock())
        return None if decision is None else policy.present(decision)


class TaintTracking(Interceptor):
    """This session's taints: checked before a call, changed once the call is really forwarded."""

    name = "taint_rules"

    def __init__(self, current_policy: Callable[[], Policy]) -> None:
        self._current_policy = current_policy
        self.taints: frozenset[str] = frozenset()

    def check_request(self, message: Message) -> Decision | None:
        if message.method != "tools/call":
            return None
        policy = self._current_policy()
        if policy.taint is None:
            return None
        denial = policy.taint.evaluate(tool_name(message), self.taints).denial
        return None if denial is None else policy.present(denial)

    def on_forwarded(self, message: Message) -> None:
        if message.method != "tools/call":
            return
        taint = self._current_policy().taint
        if taint is None:
            return
        effects = taint.evaluate(tool_name(message), self.taints)
        self.taints = (self.taints - effects.remove) | effects.add


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
    def __init__(self, interceptors: Sequence[Interceptor]) -> None:
        self._interceptors = tuple(interceptors)

    def check(self, message: Message) -> Decision | None:
        """Run the chain; the last allowing decision, the first denial, or None if nobody had an opinion."""
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
            verdict = decision
        return verdict

    def forwarded(self, message: Message) -> None:
        """Tell every interceptor that the request goes out (after its audit record was written)."""
        for interceptor in self._interceptors:
            interceptor.on_forwarded(message)

    def filter_result(self, method: str, result: dict[str, Any]) -> dict[str, Any]:
        """Every interceptor's view of a result, in order. Raises if one fails: the caller fails closed."""
        for interceptor in self._interceptors:
            result = interceptor.filter_result(method, result)
        return result
