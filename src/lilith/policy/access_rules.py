"""``resource_rules`` and ``prompt_rules``: which resources may be read and which prompts fetched.

.. code-block:: yaml

    resource_rules:                    # resources/read and resources/subscribe, after URI normalisation
      - uri_pattern: "file:///srv/customers/*"
        action: ALLOW
        taints_to_add: [ACCESS_PRIVATE]   # reading one (once forwarded) adds these taints to the session
      - uri_pattern: "file:///tmp/*"
        action: ALLOW
      - uri_pattern: "file:///etc/*"
        action: BLOCK
    prompt_rules:                      # prompts/get, by prompt name
      - prompt: "review_*"
        action: ALLOW

Rules are read in order and the first that matches decides, as in a firewall (so lilith-zero's
``ALLOW file:///allowed/*`` followed by ``BLOCK *`` means "only /allowed"); once a section is present, what
no rule matches is denied; without the section, that kind of access is not restricted. URIs are compared after normalisation
(``lilith.policy.paths.uri_readings``: percent-decoding, dot segments, ``~``, symlinks for ``file:``), so
``file:///tmp/../etc/passwd`` and ``file:///%65tc/passwd`` are both ``file:///etc/passwd``. A URI that
cannot be read unambiguously is denied. Patterns are globs (``*`` crosses ``/``), and ``file:///``
patterns are read the same way as the URIs (``lilith.policy.uri_patterns``: escapes decoded, the literal
leading directories resolved on the server being called), so a rule meets the URI it names however it is
spelled. A BLOCK blocks when it matches any reading of the URI (also the path as the client wrote it); an
ALLOW decides only when it matches every reading the server can reach. A rule whose directory cannot be
resolved on this server (a ``/proc/self`` link, a symlink loop) denies the URIs that reach it.

Prompt names are treated like tool names (``lilith.policy.static_rules``): an ALLOW glob's wildcards stand
only for the MCP tool-name characters, so ``review_*`` does not allow ``review_code\u200b``, and a prompt
that only a glob allows is denied (``prompt_rules.confusable``) when it is a look-alike of a name a BLOCK
rule names (``lilith.policy.lookalikes``). URI patterns are not names: their wildcards stand for anything.

``taints_to_add`` (resource rules with ALLOW only) names taints that a ``resources/read`` decided by that
rule adds to the session once it is forwarded, like a tool's ADD_TAINT (``lilith.policy.taint``).
"""

from __future__ import annotations

from typing import Any, NamedTuple

from lilith.policy.decision import Decision
from lilith.policy.globs import is_scalar_text
from lilith.policy.lookalikes import LookalikeGuard, Protected
from lilith.policy.names import NameMatcher, compile_name
from lilith.policy.paths import Resolver, UriReadings, uri_readings
from lilith.policy.spellings import RULE_KEY_SPELLINGS, refuse_two_spellings, spelled
from lilith.policy.uri_patterns import UriPattern, parse_uri_pattern
from lilith.policy.yaml_source import Path, YamlDocument

ALLOW, BLOCK = "ALLOW", "BLOCK"
_CACHE_LIMIT = 4096


class _Rule(NamedTuple):
    rule_id: str
    pattern: NameMatcher
    verdict: str
    taints: frozenset[str] = frozenset()
    uri: UriPattern | None = None  # resource rules: the pattern read as URIs are


class AccessRules:
    """An ordered allow/block list over one kind of name (resource URIs or prompt names)."""

    __slots__ = ("_kind", "_lookalikes", "_memo", "_rules", "added_taints", "adds_taints")

    def __init__(self, kind: str, rules: tuple[_Rule, ...]) -> None:
        self._kind = kind
        self._rules = rules
        self.added_taints: frozenset[str] = frozenset().union(*(rule.taints for rule in rules))
        self.adds_taints = bool(self.added_taints)
        # Prompt names are names, like tool names (resource URIs are not): ALLOW globs match only the MCP
        # tool-name characters, and a look-alike of a blocked prompt that only a glob allows is denied.
        self._lookalikes: LookalikeGuard | None = None
        if kind == "prompt":
            blocked = (
                Protected(rule.pattern.text, "blocked by prompt_rules") for rule in rules if rule.verdict == BLOCK
            )
            self._lookalikes = LookalikeGuard(blocked) or None
        self._memo: dict[str, tuple[Decision, frozenset[str]]] = {}

    def decide(self, value: str) -> Decision:
        """The first rule that matches decides, as in a firewall; no match is a denial. For prompt names: a
        requested URI is checked with ``decide_uri``, which reads it (and the patterns) as the server will."""
        return self._decide(value)[0]

    def _decide(self, value: str) -> tuple[Decision, frozenset[str]]:
        if self._kind != "prompt":
            return self._first_match(value)
        found = self._memo.get(value)  # pure in the name, like static rules; bounded (names come from peers)
        if found is None:
            found = self._first_match(value)
            if len(self._memo) < _CACHE_LIMIT:
                self._memo[value] = found
        return found

    def _first_match(self, value: str) -> tuple[Decision, frozenset[str]]:
        names = self._kind == "prompt"
        for rule in self._rules:
            if rule.verdict == BLOCK:
                if not rule.pattern.matches(value):
                    continue
                reason = f"{self._kind} '{_shown(value)}' is blocked by '{rule.pattern.text}'"
                return Decision(False, rule.rule_id, reason), frozenset()
            if not (rule.pattern.matches_for_allow(value) if names else rule.pattern.matches(value)):
                continue
            if rule.pattern.is_glob and self._lookalikes is not None:
                imitated = self._lookalikes.imitated(value)
                if imitated is not None:
                    reason = f"{self._kind} '{_shown(value)}' {imitated}"
                    return Decision(False, f"{self._kind}_rules.confusable", reason), frozenset()
            return Decision(True, rule.rule_id, "allowed by policy"), rule.taints
        reason = f"{self._kind} '{_shown(value)}' is not allowed by any rule"
        return Decision(False, f"{self._kind}-default-deny", reason), frozenset()

    def decide_uri(self, uri: str, resolver: Resolver) -> Decision:
        return self.decide_uri_with_taints(uri, resolver)[0]

    def decide_uri_with_taints(self, uri: str, resolver: Resolver) -> tuple[Decision, frozenset[str]]:
        """The decision, and the taints that reading the URI adds (those of the ALLOW rule that decided)."""
        try:
            readings = uri_readings(uri, resolver)
        except ValueError as exc:
            return Decision(False, f"{self._kind}-invalid", f"the URI cannot be checked: {exc}"), frozenset()
        return self._first_uri_match(readings, resolver)

    def _first_uri_match(self, readings: UriReadings, resolver: Resolver) -> tuple[Decision, frozenset[str]]:
        shown = _shown(readings.shown)
        resolved: dict[str, str] = {}  # each rule directory resolved once per decision, never across them
        for rule in self._rules:
            pattern = rule.uri or UriPattern(rule.pattern.text, rule.pattern)
            try:
                if rule.verdict == BLOCK:
                    if pattern.blocks(readings, resolver, resolved):
                        reason = f"{self._kind} '{shown}' is blocked by '{rule.pattern.text}'"
                        return Decision(False, rule.rule_id, reason), frozenset()
                elif pattern.allows(readings, resolver, resolved):
                    return Decision(True, rule.rule_id, "allowed by policy"), rule.taints
            except ValueError as exc:  # fail closed: a rule that cannot be read here must not be skipped
                reason = f"the pattern '{rule.pattern.text}' cannot be resolved on this server: {exc}"
                return Decision(False, rule.rule_id, reason), frozenset()
        reason = f"{self._kind} '{shown}' is not allowed by any rule"
        return Decision(False, f"{self._kind}-default-deny", reason), frozenset()


def _shown(value: str) -> str:
    return value if len(value) <= 200 else value[:197] + "..."


def compile_access_rules(doc: YamlDocument, path: Path, value: Any, *, kind: str, key: str) -> AccessRules:
    """``kind`` names what is checked ("resource", "prompt"); ``key`` is the field naming it in a rule."""
    if not isinstance(value, list):
        raise doc.error(path, f"{path[-1]} must be a list of rules")
    rules: list[_Rule] = []
    allowed_keys = {key, "action", "id", "description"} | (
        {"taints_to_add", "taintsToAdd"} if kind == "resource" else set()
    )
    for index, item in enumerate(value):
        where = (*path, index)
        if not isinstance(item, dict):
            raise doc.error(where, f"a rule must be a mapping with '{key}' and 'action'")
        refuse_two_spellings(doc, where, item, RULE_KEY_SPELLINGS, "key")
        for name in item:
            if name == "exceptions":
                raise doc.error(
                    (*where, str(name)),
                    f"'exceptions' on {kind} rules is not supported (there are no arguments to test); put a more "
                    "specific rule first instead: the first matching rule decides",
                )
            if name not in allowed_keys:
                raise doc.error(
                    (*where, str(name)), f"unknown key '{name}' (expected {', '.join(sorted(allowed_keys))})"
                )
        pattern = compile_name(doc, (*where, key) if key in item else where, item.get(key), key)
        uri: UriPattern | None = None
        if kind == "resource":
            try:
                uri = parse_uri_pattern(pattern.text)
            except ValueError as exc:
                raise doc.error((*where, key), f"{key} {pattern.text!r} can never match: {exc}") from None
        action = item.get("action")
        if not isinstance(action, str) or action.upper() not in (ALLOW, BLOCK, "DENY"):
            raise doc.error((*where, "action") if "action" in item else where, "action must be ALLOW or BLOCK")
        verdict = ALLOW if action.upper() == ALLOW else BLOCK
        rule_id = item.get("id", f"{path[-1]}[{index}]")
        if not isinstance(rule_id, str) or not rule_id:
            raise doc.error((*where, "id"), "id must be a non-empty string")
        rules.append(_Rule(rule_id, pattern, verdict, _taints_to_add(doc, where, item, verdict), uri))
    return AccessRules(kind, tuple(rules))


def _taints_to_add(doc: YamlDocument, where: Path, item: dict[str, Any], verdict: str) -> frozenset[str]:
    key = spelled(item, "taints_to_add")
    if key is None:
        return frozenset()
    value = item[key]
    tags = [value] if isinstance(value, str) else value
    if not isinstance(tags, list) or not all(isinstance(t, str) and t and is_scalar_text(t) for t in tags):
        raise doc.error((*where, key), f"{key} must be a tag or a list of non-empty tags")
    if tags and verdict != ALLOW:
        raise doc.error((*where, key), f"{key} belongs to ALLOW rules (a blocked read adds nothing)")
    return frozenset(tags)
