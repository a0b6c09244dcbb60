"""``lilith policy test POLICY CASES``: table-driven policy tests, run through the real decision chain.

.. code-block:: yaml

    cases:
      - name: reading /tmp is fine, exfiltration after reading secrets is not
        cwd: /srv                      # optional: the server's working directory, for relative paths
        calls:                         # one session: taints and rate-limit windows carry over
          - tool: read_file
            args: {path: /tmp/a}
            expect: allow              # allow | deny | would-deny (audit mode)
          - tool: send_email
            args: {to: x@example.com}
            at: 5                      # optional: seconds since the session began (for rate limits)
            expect: deny
            rule: protect_lethal_trifecta   # optional: the rule that must have decided
          - tool: clear_context
            expect: allow
            answer: error              # optional, for a forwarded tool call: ok (default) | error | none
          - resource: file:///etc/passwd    # or prompt: NAME
            expect: deny

A file must test something: at least one case, each with at least one call, and every call says what it
expects. A value of the wrong type (a ``cwd`` that is not an absolute path, a ``name`` or ``rule`` that is not
text, ``args`` that are not a mapping, an ``at`` that is not a time since the session began or goes back in
time) is an error in the file, named by ``file:line:col`` (exit 2), never a failed or a passing case.

Each call goes through the same interceptor chain as a live session (static and argument rules, resource
and prompt rules, taint tracking with its conditions and resource taints, rate limits), so a passing table
means what it says. A forwarded tool call is then answered as ``answer`` says: ``ok`` (an empty successful
result), ``error`` (``isError: true``) or ``none`` (never answered): taints a call removes are removed only
once it succeeded. Tool pinning needs a live server's tool list and is not part of these tables.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Any

from lilith.core.gate import Gate, build_gate
from lilith.core.message import Kind, Message, id_key
from lilith.errors import PolicyError, ProtocolError
from lilith.policy.loader import Policy
from lilith.policy.yaml_source import YamlDocument, load_yaml
from lilith.runtime.resolver import ServerPathResolver

EXPECTATIONS = ("allow", "deny", "would-deny")
ANSWERS = ("ok", "error", "none")
_CALL_KEYS = frozenset({"tool", "args", "resource", "prompt", "expect", "rule", "at", "answer"})


@dataclass
class CaseResult:
    name: str
    failures: list[str]


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def run_cases(policy: Policy, cases_file: str) -> list[CaseResult]:
    try:
        with open(cases_file, encoding="utf-8") as handle:
            text = handle.read()
    except OSError as exc:
        raise PolicyError(f"cannot read test cases: {exc.strerror}", file=cases_file) from None
    except UnicodeDecodeError as exc:
        raise PolicyError(f"cannot read test cases: not UTF-8 text ({exc.reason})", file=cases_file) from None
    doc = load_yaml(text, cases_file)
    root = doc.value
    if not isinstance(root, dict) or not isinstance(root.get("cases"), list) or set(root) != {"cases"}:
        raise doc.error((), "a test file is a mapping with one key, 'cases', holding a list")
    if not root["cases"]:  # a file that tests nothing must not pass
        raise doc.error(("cases",), "'cases' is empty: a test file needs at least one case")
    return [_run_case(policy, doc, index, case) for index, case in enumerate(root["cases"])]


def _run_case(policy: Policy, doc: YamlDocument, index: int, case: Any) -> CaseResult:
    where: tuple[str | int, ...] = ("cases", index)
    name, cwd = _parse_case(doc, where, case, index)
    resolver = ServerPathResolver(os.environ, cwd)
    clock = _Clock()
    gate = build_gate(lambda: policy, resolver, clock)
    failures: list[str] = []
    for number, call in enumerate(case["calls"]):
        place = (*where, "calls", number)
        message, expect, rule, at = _parse_call(doc, place, call, number)
        if at is not None and at < clock.now:
            raise doc.error((*place, "at"), f"at goes back in time ({at} after {clock.now}): the clock is monotonic")
        clock.now = at if at is not None else clock.now
        try:
            decision = gate.check(message)
        except ProtocolError as exc:
            failures.append(f"call {number + 1}: invalid call: {exc.message}")
            continue
        verdict = (
            "allow"
            if decision is None or (decision.allowed and not decision.would_deny)
            else ("would-deny" if decision.would_deny else "deny")
        )
        if verdict != "deny":
            gate.forwarded(message)
            _answer(gate, message, call)
        line, _ = doc.positions.get(place, (0, 0))
        shown_rule = decision.rule if decision is not None else "(no rule)"
        if verdict != expect:
            failures.append(f"line {line}: expected {expect}, got {verdict} by {shown_rule}")
        elif rule is not None and (decision is None or decision.rule != rule):
            failures.append(f"line {line}: expected rule {rule}, got {shown_rule}")
    return CaseResult(name, failures)


def _parse_case(doc: YamlDocument, where: tuple[str | int, ...], case: Any, index: int) -> tuple[str, str | None]:
    """(name, cwd) of a case, once it is known to be one that tests something."""
    if (
        not isinstance(case, dict)
        or not isinstance(case.get("calls"), list)
        or not set(case) <= {"name", "cwd", "calls"}
    ):
        raise doc.error(where, "a case is a mapping with 'calls' (a list) and optionally 'name' and 'cwd'")
    if not case["calls"]:
        raise doc.error((*where, "calls"), "'calls' is empty: a case needs at least one call")
    name = case.get("name", f"case {index + 1}")
    if not isinstance(name, str) or not name.strip():
        raise doc.error((*where, "name"), "name must be text, not empty")
    cwd = case.get("cwd")
    if cwd is not None and not (isinstance(cwd, str) and os.path.isabs(cwd)):  # else it depends on where tests run
        raise doc.error((*where, "cwd"), "cwd must be an absolute path (the server's working directory)")
    return name, cwd


def _answer(gate: Gate, message: Message, call: dict[str, Any]) -> None:
    """The server's answer to a forwarded tool call, as the call's ``answer`` says (taints change with it)."""
    answer = call.get("answer", "ok")  # checked by _parse_call
    if message.method != "tools/call" or answer == "none":
        return
    result: dict[str, Any] = {"content": []} if answer == "ok" else {"content": [], "isError": True}
    changed = gate.answered(str(call["tool"]), {"jsonrpc": "2.0", "id": message.id, "result": result})
    if changed is not None:
        gate.commit_taints(changed[1])


def _parse_call(
    doc: YamlDocument, place: tuple[str | int, ...], call: Any, number: int
) -> tuple[Message, str, str | None, float | None]:
    if not isinstance(call, dict) or not set(call) <= _CALL_KEYS:
        raise doc.error(place, f"a call has keys among {', '.join(sorted(_CALL_KEYS))}")
    kinds = [key for key in ("tool", "resource", "prompt") if key in call]
    if len(kinds) != 1:
        raise doc.error(place, "a call names exactly one of tool, resource or prompt")
    expect = call.get("expect")
    if expect not in EXPECTATIONS:
        raise doc.error(place, f"expect must be one of {', '.join(EXPECTATIONS)}")
    if call.get("answer", "ok") not in ANSWERS:
        raise doc.error((*place, "answer"), f"answer must be one of {', '.join(ANSWERS)}")
    at = call.get("at")
    if at is not None and (not isinstance(at, int | float) or isinstance(at, bool) or not 0 <= at < math.inf):
        raise doc.error((*place, "at"), "at must be a number of seconds since the session began")
    kind = kinds[0]
    if not isinstance(call[kind], str):
        raise doc.error((*place, kind), f"{kind} must be text (a {'URI' if kind == 'resource' else 'name'})")
    if kind != "tool" and ("args" in call or "answer" in call):
        raise doc.error(place, "args and answer belong to a tool call")
    if not isinstance(call.get("args", {}), dict):
        raise doc.error((*place, "args"), "args must be a mapping of argument names to values")
    rule = call.get("rule")
    if rule is not None and not isinstance(rule, str):
        raise doc.error((*place, "rule"), "rule must be text (a rule id, as `lilith policy explain` shows it)")
    if kind == "tool":
        method, params = "tools/call", {"name": call["tool"], "arguments": call.get("args", {})}
    elif kind == "resource":
        method, params = "resources/read", {"uri": call["resource"]}
    else:
        method, params = "prompts/get", {"name": call["prompt"]}
    request_id = f"case-call-{number}"
    body = {"jsonrpc": "2.0", "id": request_id, "method": method, "params": params}
    return Message(Kind.REQUEST, body, method, id_key(request_id)), str(expect), rule, at
