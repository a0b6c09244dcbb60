"""Tool pinning, the chain's link against rug pulls (``lilith.policy.pins``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from lilith.core.interceptor import Interceptor, PolicySource, tool_name
from lilith.core.message import Message
from lilith.core.ports import AuditSink, EventLog
from lilith.policy.decision import Decision
from lilith.policy.loader import Policy

if TYPE_CHECKING:
    from lilith.policy.pins import Finding, PinReview

_REPORTED_LIMIT = 4096


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
