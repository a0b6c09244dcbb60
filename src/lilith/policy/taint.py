"""Taint tracking and the lethal trifecta: session state that earlier calls leave for later ones.

.. code-block:: yaml

    tool_classes:
      send_email: [EXFILTRATION]
      "http_*": [EXFILTRATION, UNTRUSTED_SOURCE]
    taint_rules:
      - tool: read_file                 # or tool_class: SOME_CLASS
        action: ADD_TAINT               # ADD_TAINT | REMOVE_TAINT | CHECK_TAINT | BLOCK | ALLOW
        tag: ACCESS_PRIVATE
      - tool_class: EXFILTRATION
        action: CHECK_TAINT
        forbidden_tags: [SECRET]        # any of these held -> blocked
        required_taints: [REVIEWED]     # all of these held, or blocked
        when: {arg: to, op: not_in, value: [me@example.com]}      # optional (lilith.policy.conditions)
        exceptions:                     # optional: the rule does not apply when any of these holds
          - when: {arg: dry_run, op: eq, value: true}
            reason: a dry run sends nothing
    protect_lethal_trifecta: true       # EXFILTRATION-class tools blocked once ACCESS_PRIVATE and
                                        # UNTRUSTED_SOURCE are both held

Rules are evaluated in file order for the tools (or classes) they name. CHECK_TAINT and BLOCK can deny;
ALLOW ends the checking for that call (later CHECK_TAINT/BLOCK rules for it are skipped) but never grants
what ``static_rules`` did not; ADD_TAINT takes effect only once the call has really been forwarded, and
REMOVE_TAINT only once the server answered it successfully (``lilith.core.gate.TaintTracking``). A
``tool_class`` no tool has, or a trifecta guard without an EXFILTRATION tool, is refused
(``lilith.policy.taint_checks``). The lethal-trifecta guard is checked last and cannot be skipped by
ALLOW. Tags are opaque strings compared exactly (``-`` and any other character work). ``forbidden_tags`` blocks if ANY is held;
``required_taints`` blocks unless ALL are held (the original lilith-zero got the first one backwards).

A rule with ``when`` (or ``conditions``: a list that must all hold, or lilith-zero's ``pattern``) applies
only when its condition holds, and a rule with ``exceptions`` does not apply when any exception's ``when``
holds; this goes for every action. An unknown outcome (a missing or mistyped argument, see
``lilith.policy.conditions``) is settled in the direction that denies: for a rule that restricts
(ADD_TAINT, CHECK_TAINT, BLOCK) the condition counts as met and the exceptions as not met; for a rule that
relaxes (REMOVE_TAINT, ALLOW) the other way round.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple

from lilith.policy.conditions import CallContext, Condition, compile_condition, compile_condition_list, settle
from lilith.policy.decision import Decision
from lilith.policy.globs import is_scalar_text
from lilith.policy.names import NameMatcher, compile_name
from lilith.policy.spellings import RULE_KEY_SPELLINGS, refuse_two_spellings, spelled
from lilith.policy.yaml_source import Path, YamlDocument

if TYPE_CHECKING:
    from lilith.policy.paths import Resolver
    from lilith.policy.patterns import Regex

ACTIONS = ("ADD_TAINT", "REMOVE_TAINT", "CHECK_TAINT", "BLOCK", "ALLOW")
EXFILTRATION = "EXFILTRATION"
TRIFECTA = frozenset({"ACCESS_PRIVATE", "UNTRUSTED_SOURCE"})
RESTRICTING = frozenset({"ADD_TAINT", "CHECK_TAINT", "BLOCK"})
_CONDITION_KEYS = ("when", "conditions", "pattern")
_RULE_KEYS = frozenset(
    {"tool", "tool_class", "toolClass", "action", "tag", "forbidden_tags", "forbiddenTags", "required_taints"}
    | {"requiredTaints", "error", "id", "description", "exceptions", *_CONDITION_KEYS}
    | {"result_matches", "resultMatches"}
)
# How much of a result's text a ``result_matches`` pattern reads (RE2 is linear, so this bounds the cost).
RESULT_TEXT_LIMIT = 1024 * 1024
_EXCEPTION_KEYS = frozenset({"when", "reason", "description"})


class TaintRule(NamedTuple):
    rule_id: str
    tool: NameMatcher | None
    tool_class: str | None
    action: str
    tag: str | None
    forbidden: frozenset[str]
    required: frozenset[str]
    message: str | None
    when: Condition | None = None
    exceptions: tuple[Condition, ...] = ()
    result: Regex | None = None  # set: the rule acts when the tool's answer arrives, if its text matches

    def active(self, context: CallContext) -> bool:
        """Does this rule apply to this call (its condition holds and no exception does)?"""
        restricting = self.action in RESTRICTING
        if self.when is not None and not settle(self.when.evaluate(context), restricting):
            return False
        return not any(settle(exception.evaluate(context), not restricting) for exception in self.exceptions)


class TaintEvaluation(NamedTuple):
    denial: Decision | None
    add: frozenset[str]
    remove: frozenset[str]


class TaintPolicy:
    """Compiled ``tool_classes``, ``taint_rules`` and ``protect_lethal_trifecta``."""

    __slots__ = ("_classes", "protect_trifecta", "reads_results", "rules", "warnings")

    def __init__(
        self,
        classes: tuple[tuple[NameMatcher, frozenset[str]], ...],
        rules: tuple[TaintRule, ...],
        protect: bool,
        warnings: tuple[str, ...] = (),
    ) -> None:
        self._classes = classes
        self.rules = rules
        self.protect_trifecta = protect
        self.reads_results = any(rule.result is not None for rule in rules)  # asked on every answer
        self.warnings = warnings  # checks nothing in the policy can set off (``lilith.policy.taint_checks``)

    @property
    def classes(self) -> tuple[tuple[NameMatcher, frozenset[str]], ...]:
        """The ``tool_classes`` entries (name or glob, classes), in file order."""
        return self._classes

    def classes_of(self, tool: str) -> frozenset[str]:
        found: set[str] = set()
        for matcher, classes in self._classes:
            if matcher.matches(tool):
                found |= classes
        return frozenset(found)

    def evaluate(
        self,
        tool: str,
        taints: frozenset[str],
        arguments: Any = None,
        call_count: int = 0,
        resolver: Resolver | None = None,
    ) -> TaintEvaluation:
        """The denial (if any) and the taint changes of calling ``tool`` with ``arguments`` in a session that
        holds ``taints`` and has forwarded ``call_count`` tool calls before this one. ``resolver`` reads paths
        as the server will, for ``path_within`` conditions (without one they are unknown)."""
        classes = self.classes_of(tool)
        add: set[str] = set()
        remove: set[str] = set()
        checking = True
        denial: Decision | None = None
        context: CallContext | None = None
        for rule in self.rules:
            if rule.result is not None or not _applies(rule, tool, classes):
                continue
            if rule.when is not None or rule.exceptions:
                context = context or CallContext(arguments, taints, call_count, resolver)
                if not rule.active(context):
                    continue
            if rule.action == "ADD_TAINT" and rule.tag is not None:
                add.add(rule.tag)
            elif rule.action == "REMOVE_TAINT" and rule.tag is not None:
                remove.add(rule.tag)
            elif not checking or denial is not None:
                continue
            elif rule.action == "ALLOW":
                checking = False
            elif rule.action == "BLOCK":
                denial = Decision(False, rule.rule_id, rule.message or f"tool '{tool}' is blocked by a taint rule")
            elif rule.action == "CHECK_TAINT":
                denial = _check(rule, tool, taints)
        if denial is None and self.protect_trifecta and EXFILTRATION in classes and taints >= TRIFECTA:
            denial = Decision(
                False,
                "protect_lethal_trifecta",
                f"'{tool}' can send data out, and this session holds private data and untrusted content",
            )
        return TaintEvaluation(denial, frozenset(add), frozenset(remove))

    def evaluate_result(self, tool: str, text: str) -> tuple[frozenset[str], frozenset[str]]:
        """The taints to add and to remove because ``tool`` answered with ``text`` (``result_matches`` rules)."""
        classes = self.classes_of(tool)
        add: set[str] = set()
        remove: set[str] = set()
        for rule in self.rules:
            if rule.result is None or rule.tag is None or not _applies(rule, tool, classes):
                continue
            if rule.result.search(text):
                (add if rule.action == "ADD_TAINT" else remove).add(rule.tag)
        return frozenset(add), frozenset(remove)


def _applies(rule: TaintRule, tool: str, classes: frozenset[str]) -> bool:
    if rule.tool is not None:
        return rule.tool.matches(tool)
    return rule.tool_class in classes


def _check(rule: TaintRule, tool: str, taints: frozenset[str]) -> Decision | None:
    held = sorted(rule.forbidden & taints)
    if held:
        reason = rule.message or f"'{tool}' is not allowed while the session holds {', '.join(held)}"
        return Decision(False, rule.rule_id, reason)
    missing = sorted(rule.required - taints)
    if missing:
        reason = rule.message or f"'{tool}' needs the session to hold {', '.join(missing)}"
        return Decision(False, rule.rule_id, reason)
    return None


def compile_taint_policy(
    doc: YamlDocument,
    classes: tuple[Path, Any] | None,
    rules: tuple[Path, Any] | None,
    protect: Path | None,
    resource_taints: frozenset[str] = frozenset(),
) -> TaintPolicy:
    """``protect``: where ``protect_lethal_trifecta: true`` is, if it is; ``resource_taints``: the tags that
    ``resource_rules`` add (with the ADD_TAINT rules, what can set off checks)."""
    from lilith.policy.taint_checks import check_taint_sections

    compiled_classes = _compile_classes(doc, *classes) if classes is not None else ()
    compiled_rules = _compile_rules(doc, *rules) if rules is not None else ()
    warnings = check_taint_sections(
        doc, classes, rules, compiled_rules, protect=protect, resource_taints=resource_taints
    )
    return TaintPolicy(compiled_classes, compiled_rules, protect is not None, warnings)


def _tags(doc: YamlDocument, path: Path, value: Any, what: str) -> frozenset[str]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items:
        raise doc.error(path, f"{what} must be a tag or a non-empty list of tags")
    for index, item in enumerate(items):
        if not isinstance(item, str) or not item or not is_scalar_text(item):
            raise doc.error((*path, index), f"{what} must be non-empty strings")
    return frozenset(items)


def _compile_classes(doc: YamlDocument, path: Path, value: Any) -> tuple[tuple[NameMatcher, frozenset[str]], ...]:
    if not isinstance(value, dict):
        raise doc.error(path, "tool_classes must map tool names (or globs) to lists of classes")
    compiled = []
    for tool, classes in value.items():
        where = (*path, str(tool))
        matcher = compile_name(doc, where, tool, "a tool name")
        # An empty list (lilith-zero writes `ping: []`) means "no classes".
        compiled.append((matcher, frozenset() if classes == [] else _tags(doc, where, classes, "classes")))
    return tuple(compiled)


def _compile_rules(doc: YamlDocument, path: Path, value: Any) -> tuple[TaintRule, ...]:
    if not isinstance(value, list):
        raise doc.error(path, "taint_rules must be a list of rules")
    rules: list[TaintRule] = []
    for index, item in enumerate(value):
        rules.append(_compile_rule(doc, (*path, index), index, item))
        if sum(rule.rule_id == rules[-1].rule_id for rule in rules) > 1:
            raise doc.error((*path, index), f"duplicate rule id {rules[-1].rule_id!r}")
    return tuple(rules)


def _compile_rule(doc: YamlDocument, path: Path, index: int, item: Any) -> TaintRule:
    if not isinstance(item, dict):
        raise doc.error(path, "a taint rule must be a mapping with 'tool' (or 'tool_class') and 'action'")
    for key in item:
        if key not in _RULE_KEYS:
            hint = " (conditions are written 'when: ...')" if key == "condition" else ""
            raise doc.error((*path, str(key)), f"unknown key '{key}' in a taint rule{hint}")
    refuse_two_spellings(doc, path, item, RULE_KEY_SPELLINGS, "key")
    tool_key = spelled(item, "tool_class")
    if ("tool" in item) == (tool_key is not None):
        raise doc.error(path, "a taint rule needs exactly one of 'tool' and 'tool_class'")
    tool = compile_name(doc, (*path, "tool"), item["tool"], "tool") if "tool" in item else None
    tool_class = None
    if tool_key is not None:
        tool_class = item[tool_key]
        if not isinstance(tool_class, str) or not tool_class:
            raise doc.error((*path, tool_key), "tool_class must be a non-empty string")
    action = item.get("action")
    if action not in ACTIONS:
        raise doc.error((*path, "action") if "action" in item else path, f"action must be one of {', '.join(ACTIONS)}")
    tag = None
    if action in ("ADD_TAINT", "REMOVE_TAINT"):
        if "tag" not in item:
            raise doc.error(path, f"{action} needs a 'tag'")
        tag = item["tag"]
        if not isinstance(tag, str) or not tag or not is_scalar_text(tag):
            raise doc.error((*path, "tag"), "tag must be a single non-empty string")
    forbidden = _optional_tags(doc, path, item, "forbidden_tags")
    required = _optional_tags(doc, path, item, "required_taints")
    if action == "CHECK_TAINT" and not forbidden and not required:
        raise doc.error(path, "CHECK_TAINT needs forbidden_tags or required_taints")
    if action != "CHECK_TAINT" and (forbidden or required):
        raise doc.error(path, "forbidden_tags and required_taints belong to CHECK_TAINT rules")
    message = item.get("error")
    if message is not None and not isinstance(message, str):
        raise doc.error((*path, "error"), "error must be a string")
    rule_id = item.get("id", f"taint_rules[{index}]")
    if not isinstance(rule_id, str) or not rule_id:
        raise doc.error((*path, "id"), "id must be a non-empty string")
    when = _rule_condition(doc, path, item)
    exceptions = _exceptions(doc, (*path, "exceptions"), item["exceptions"]) if "exceptions" in item else ()
    result = _result_pattern(doc, path, item, action, when is not None or bool(exceptions))
    return TaintRule(rule_id, tool, tool_class, action, tag, forbidden, required, message, when, exceptions, result)


def _result_pattern(
    doc: YamlDocument, path: Path, item: dict[str, Any], action: str, conditional: bool
) -> Regex | None:
    key = spelled(item, "result_matches")
    if key is None:
        return None
    if action not in ("ADD_TAINT", "REMOVE_TAINT"):
        raise doc.error((*path, key), f"{key} belongs to ADD_TAINT and REMOVE_TAINT rules (it acts on answers)")
    if conditional:
        raise doc.error((*path, key), f"{key} cannot be combined with conditions or exceptions (they read the call)")
    value = item[key]
    if not isinstance(value, str) or not value:
        raise doc.error((*path, key), f"{key} must be a non-empty RE2 pattern")
    from lilith.policy.patterns import compile_regex

    try:
        return compile_regex(value)
    except ValueError as exc:
        raise doc.error((*path, key), str(exc)) from None


def _rule_condition(doc: YamlDocument, path: Path, item: dict[str, Any]) -> Condition | None:
    keys = [key for key in _CONDITION_KEYS if key in item]
    if len(keys) > 1:
        raise doc.error((*path, keys[1]), f"a taint rule takes one of {', '.join(_CONDITION_KEYS)}, not several")
    if not keys:
        return None
    key = keys[0]
    if key == "conditions":
        return compile_condition_list(doc, (*path, key), item[key])
    return compile_condition(doc, (*path, key), item[key])


def _exceptions(doc: YamlDocument, path: Path, value: Any) -> tuple[Condition, ...]:
    """``exceptions: [{when: CONDITION, reason: TEXT}, ...]`` (lilith-zero's shape)."""
    if not isinstance(value, list):
        raise doc.error(path, "exceptions must be a list of {when: CONDITION, reason: TEXT}")
    compiled = []
    for index, item in enumerate(value):
        where = (*path, index)
        if not isinstance(item, dict) or "when" not in item:
            raise doc.error(where, "an exception is a mapping with 'when' (a condition) and optionally 'reason'")
        for key in item:
            if key not in _EXCEPTION_KEYS:
                raise doc.error((*where, str(key)), f"unknown key '{key}' in an exception (expected when, reason)")
        if not isinstance(item.get("reason", ""), str):
            raise doc.error((*where, "reason"), "reason must be a string")
        compiled.append(compile_condition(doc, (*where, "when"), item["when"]))
    return tuple(compiled)


def _optional_tags(doc: YamlDocument, path: Path, item: dict[str, Any], name: str) -> frozenset[str]:
    key = spelled(item, name)
    return frozenset() if key is None else _tags(doc, (*path, key), item[key], key)
