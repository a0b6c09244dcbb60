"""Taint sections that could never act. A slip of spelling is refused with ``file:line:col``: a
``tool_class`` no ``tool_classes`` entry gives any tool, a class or tag written in another case than where it
is defined (classes and tags are compared exactly), a lethal-trifecta guard with no EXFILTRATION tool. A
check that nothing in the policy can set off (a forbidden tag, or a trifecta taint, that no rule adds) is
only warned about, since the rules that add it may still be coming; ``lilith policy check`` and ``lilith
run`` print the warnings."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from lilith.policy.taint import EXFILTRATION, TRIFECTA
from lilith.policy.yaml_source import Path, YamlDocument

if TYPE_CHECKING:
    from lilith.policy.taint import TaintRule

_TAG_KEYS = (("forbidden_tags", "forbiddenTags"), ("required_taints", "requiredTaints"))
_ADDED_BY = "an ADD_TAINT taint rule or a resource rule's taints_to_add"


def check_taint_sections(
    doc: YamlDocument,
    classes: tuple[Path, Any] | None,
    rules: tuple[Path, Any] | None,
    compiled: tuple[TaintRule, ...],
    *,
    protect: Path | None,
    resource_taints: frozenset[str],
) -> tuple[str, ...]:
    """Refuse (PolicyError) what can never act by a slip; return warnings (``file:line:col: warning: ...``)
    for checks nothing in the policy sets off. ``protect``: where the trifecta guard is turned on, if it is."""
    defined = _defined_classes(doc, classes)
    raw_rules: list[Any] = rules[1] if rules is not None else []
    rules_path: Path = rules[0] if rules is not None else ()
    for index, rule in enumerate(compiled):
        if rule.tool_class is not None and rule.tool_class not in defined:
            where = _key_path(rules_path, index, raw_rules[index], ("tool_class", "toolClass"))
            hint = _hint(_case_variant(rule.tool_class, defined), "classes")
            raise doc.error(
                where, f"no tool has the class '{rule.tool_class}' (tool_classes): the rule could never apply{hint}"
            )
    if protect is not None and EXFILTRATION not in defined:
        raise doc.error(
            protect,
            "the lethal-trifecta guard blocks tools of class EXFILTRATION, and no tool has it: give the tools that "
            "can send data out that class (tool_classes: {send_email: [EXFILTRATION]})",
        )
    added = frozenset(rule.tag for rule in compiled if rule.action == "ADD_TAINT" and rule.tag is not None)
    added |= resource_taints
    warnings: list[str] = []
    for index, rule in enumerate(compiled):
        for keys, tags in zip(_TAG_KEYS, (rule.forbidden, rule.required), strict=True):
            for tag in sorted(tags - added):
                where = _tag_path(_key_path(rules_path, index, raw_rules[index], keys), raw_rules[index], tag)
                variant = _case_variant(tag, added)
                if variant is not None:
                    raise doc.error(where, f"no rule adds the tag '{tag}'{_hint(variant, 'tags')}")
                if tags is rule.forbidden:
                    reason = f"no rule adds the forbidden tag '{tag}' ({_ADDED_BY}): this check cannot fire on it"
                    warnings.append(_warning(doc, where, reason))
    if protect is not None:
        for tag in sorted(TRIFECTA - added):
            variant = _case_variant(tag, added)
            if variant is not None:
                raise doc.error(protect, f"the lethal-trifecta guard looks for the tag '{tag}'{_hint(variant, 'tags')}")
            reason = f"protect_lethal_trifecta cannot fire: no rule adds {tag} ({_ADDED_BY})"
            warnings.append(_warning(doc, protect, reason))
    return tuple(warnings)


def _defined_classes(doc: YamlDocument, classes: tuple[Path, Any] | None) -> frozenset[str]:
    """The classes ``tool_classes`` gives; two spellings of one name in different cases are refused."""
    if classes is None:
        return frozenset()
    path, value = classes
    spelled = {EXFILTRATION.casefold(): EXFILTRATION}
    defined: set[str] = set()
    for tool, listed in value.items():  # shapes already checked by the compiler
        items = [listed] if isinstance(listed, str) else listed
        for index, name in enumerate(items):
            first = spelled.setdefault(name.casefold(), name)
            if first != name:
                where = (*path, str(tool)) if isinstance(listed, str) else (*path, str(tool), index)
                known = " (the class the lethal-trifecta guard looks for)" if first == EXFILTRATION else ""
                raise doc.error(
                    where, f"class '{name}' differs from '{first}'{known} only by case: classes are compared exactly"
                )
            defined.add(name)
    return frozenset(defined)


def _case_variant(name: str, known: Iterable[str]) -> str | None:
    folded = name.casefold()
    return next((other for other in sorted(known) if other.casefold() == folded and other != name), None)


def _hint(variant: str | None, what: str) -> str:
    return "" if variant is None else f" (did you mean '{variant}'? {what} are compared exactly)"


def _key_path(rules_path: Path, index: int, raw: Any, keys: tuple[str, str]) -> Path:
    key = next((k for k in keys if isinstance(raw, dict) and k in raw), keys[0])
    return (*rules_path, index, key)


def _tag_path(key_path: Path, raw: Any, tag: str) -> Path:
    """Where ``tag`` is written under the key at ``key_path`` (a list, or the key itself for one tag)."""
    listed = raw.get(str(key_path[-1])) if isinstance(raw, dict) else None
    return (*key_path, listed.index(tag)) if isinstance(listed, list) and tag in listed else key_path


def _warning(doc: YamlDocument, path: Path, message: str) -> str:
    return str(doc.error(path, f"warning: {message}"))
