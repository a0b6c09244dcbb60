"""A look-alike must not escape a rule written for the name it imitates.

Under a broad allowance (``"*": ALLOW``), ``DELETE_FILE`` or ``Delete_File`` is a different name from the
denied ``delete_file`` and a glob allows it, yet a server that folds case, normalises Unicode or strips
invisible characters would run ``delete_file``; and a human reading a list cannot tell ``rеad_file``
(Cyrillic ``е``) from ``read_file``. The same holds for a look-alike of a tool that argument rules, taint
rules, tool classes or rate limits name: allowed by the glob, it would escape those rules.

So a name that only a *glob* allows is refused when its skeleton (``lilith.policy.confusables``) equals the
skeleton of a different name that a restricting rule names exactly, or when a restricting glob matches its
skeleton but not the name itself. An exact ALLOW rule for that very spelling is an explicit decision and
is not second-guessed. The skeletons of exact names, and the skeleton forms of globs, are computed once
when the policy loads; a name's own skeleton is computed once per name (the callers memoise decisions).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, NamedTuple

from lilith.policy.confusables import skeleton
from lilith.policy.names import NameMatcher, parse_name

if TYPE_CHECKING:
    from lilith.policy.argument_rules import ArgumentRules
    from lilith.policy.rate_limits import RateRule
    from lilith.policy.taint import TaintPolicy


class Protected(NamedTuple):
    """A name or glob that a restricting rule names, and what restricts it (shown in the denial)."""

    pattern: str
    restricted_by: str  # e.g. "denied by static_rules", "restricted by argument_rules"


class _ProtectedGlob(NamedTuple):
    written: NameMatcher
    folded: NameMatcher  # the glob in skeleton form, matched against a name's skeleton
    restricted_by: str


class LookalikeGuard:
    """Finds the protected name a given name imitates, if any."""

    __slots__ = ("_exact", "_globs")

    def __init__(self, protected: Iterable[Protected]) -> None:
        exact: dict[str, list[Protected]] = {}
        globs: list[_ProtectedGlob] = []
        for entry in dict.fromkeys(protected):  # first mention first, duplicates once
            written = NameMatcher(entry.pattern)
            if written.is_glob:
                globs.append(_ProtectedGlob(written, _folded_glob(written), entry.restricted_by))
            else:
                exact.setdefault(skeleton(entry.pattern), []).append(entry)
        self._exact = exact
        self._globs = tuple(globs)

    def __bool__(self) -> bool:
        return bool(self._exact or self._globs)

    def imitated(self, name: str) -> str | None:
        """Why ``name`` counts as a look-alike of a protected name or glob, or None when it does not."""
        folded = skeleton(name)
        for entry in self._exact.get(folded, ()):
            if entry.pattern != name:
                return f"imitates '{entry.pattern}' ({entry.restricted_by})"
        for glob in self._globs:
            if glob.folded.matches(folded) and not glob.written.matches(name):
                return f"imitates names matching '{glob.written.text}' ({glob.restricted_by})"
        return None


def _folded_glob(written: NameMatcher) -> NameMatcher:
    """The glob in skeleton form (``Delete_*`` becomes ``delete_*``); the glob as written when its skeleton
    is not a valid glob (e.g. an escaped space at the end, removed by the skeleton)."""
    try:
        return parse_name(skeleton(written.text))
    except ValueError:
        return written


def protected_tool_names(
    argument_rules: ArgumentRules | None, rate_limits: Iterable[RateRule], taint: TaintPolicy | None
) -> list[Protected]:
    """The tool names and globs that restricting sections other than ``static_rules`` name."""
    found: list[Protected] = []
    if argument_rules is not None:
        found += (Protected(rule.tool, "restricted by argument_rules") for rule in argument_rules.rules)
    if taint is not None:
        from lilith.policy.taint import RESTRICTING

        found += (
            Protected(rule.tool.text, "restricted by taint_rules")
            for rule in taint.rules
            if rule.tool is not None and rule.action in RESTRICTING
        )
        found += (Protected(matcher.text, "classified by tool_classes") for matcher, _ in taint.classes)
    found += (Protected(rule.tool, "restricted by rate_limits") for rule in rate_limits)
    return found
