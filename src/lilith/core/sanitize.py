"""What servers show the client, made safe to show: lists of tools, prompts and resources, and results.

Governed by the policy's ``sanitize`` section (``lilith.policy.sanitize_rules``; all on by default):

- ``strip_control``: ANSI escapes, control, bidi, zero-width and tag characters (``lilith.core.invisible``)
  are removed from list entries and from every result (tool results, resources, prompts, the handshake).
  An entry whose *name* (a resource's URI) carries them is hidden instead: renaming it would make the
  client call a name the server does not know.
- ``hide_poisoned_tools``: a tool, prompt or resource whose metadata (description, schemas, annotations,
  anywhere in the entry) carries a hidden-instruction marker (``lilith.core.poison``), or is too long to
  scan (``poison.SCAN_LIMIT``), is hidden, and calls to it are denied (``sanitize.poisoned_description``);
  such server ``instructions`` are removed from the handshake.
- ``strict_listings``: a list result whose items are not a list is refused (the client gets an error, never
  the unchecked list); entries that are not objects or have no string name are dropped; a name listed
  twice identically is shown once, and a name listed twice with *different* definitions is hidden in every
  copy and calls to it are denied (``sanitize.duplicate_name``): which definition the server acts on is
  unknowable, so neither is trusted, while the rest of the list stays usable.

Calls are judged by the latest list that named the entry: hidden there, denied; shown there (a later,
clean definition), allowed again, because the client now sees that definition and may act on it. Changes
of definition after approval are what tool pinning (``pin_mode``) is for. With ``mode: audit`` nothing is
hidden or refused: each would-be hiding is recorded and calls come back as would-deny; stripping
characters is not a denial and happens in both modes. Every finding is written to the audit log
(``sanitize`` records) and stderr, once per item and reason. A result with nothing to remove is returned
as the very same object, so its bytes are untouched and the cost is one scan of its strings.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

import orjson

from lilith.core.interceptor import Interceptor, PolicySource
from lilith.core.invisible import clean_text, clean_value, is_clean, strings, tag_text
from lilith.core.message import Message
from lilith.errors import ProtocolError
from lilith.policy.decision import Decision

if TYPE_CHECKING:
    from lilith.core.ports import AuditSink, EventLog
    from lilith.policy.loader import Policy
    from lilith.policy.sanitize_rules import SanitizeSettings

RULE_CHARACTERS = "sanitize.hidden_characters"
RULE_POISONED = "sanitize.poisoned_description"
RULE_DUPLICATE = "sanitize.duplicate_name"
_SETTING_OF_RULE = {
    RULE_CHARACTERS: "strip_control",
    RULE_POISONED: "hide_poisoned_tools",
    RULE_DUPLICATE: "strict_listings",
}
# method -> (the list's field, the field that names an entry, what an entry is)
_LISTINGS = {
    "tools/list": ("tools", "name", "tool"),
    "prompts/list": ("prompts", "name", "prompt"),
    "resources/list": ("resources", "uri", "resource"),
    "resources/templates/list": ("resourceTemplates", "uriTemplate", "resource template"),
}
# request method -> (the param that names its target, the kind of entry it names)
_TARGETS = {
    "tools/call": ("name", "tool"),
    "prompts/get": ("name", "prompt"),
    "resources/read": ("uri", "resource"),
    "resources/subscribe": ("uri", "resource"),
}
_HANDSHAKES = frozenset({"initialize", "server/discover"})
_HIDDEN_LIMIT = 65536  # beyond this many hidden names, lists are refused rather than state growing
_REPORTED_LIMIT = 4096
_NAME_KEPT = 256  # characters of a name kept as it is in that state; a longer one is kept as its digest
_SHOWN_LIMIT = 200


class Sanitize(Interceptor):
    """Cleans lists and results on their way to the client and denies calls to what it hid."""

    name = "sanitize"

    def __init__(self, current_policy: PolicySource, audit: AuditSink | None = None, log: EventLog | None = None):
        self._current_policy = current_policy
        self._audit = audit
        self._log = log
        self._hidden: dict[tuple[str, str | bytes], tuple[str, str]] = {}  # (kind, _kept(name)) -> (rule, reason)
        self._reported: set[tuple[str | bytes, ...]] = set()

    # ------------------------------------------------------------------------------------------ requests
    def check_request(self, message: Message) -> Decision | None:
        if not self._hidden:
            return None
        target = _TARGETS.get(message.method or "")
        if target is None:
            return None
        params = message.body.get("params")
        named = params.get(target[0]) if isinstance(params, dict) else None
        if not isinstance(named, str):
            return None  # the policy's own checks refuse a missing or mistyped name
        hidden = self._hidden.get((target[1], _kept(named)))
        if hidden is None:
            return None
        rule, reason = hidden
        policy = self._current_policy()
        if not getattr(policy.sanitize, _SETTING_OF_RULE[rule]):
            return None
        return policy.present(Decision(False, rule, f"{target[1]} {_shown(named)} is hidden: {reason}"))

    # ------------------------------------------------------------------------------------------- results
    def filter_result(self, method: str, result: dict[str, Any], *, plain: bool = False) -> dict[str, Any]:
        policy = self._current_policy()
        settings = policy.sanitize
        if method in _LISTINGS:
            return _Listing(self, policy, method).filter(result)
        original = result
        if settings.strip_control and not plain:
            result = self.cleaned(method, result)
        if method in _HANDSHAKES and settings.hide_poisoned_tools:
            # Judged on what the server sent: tag characters spell out text that cleaning removes.
            result = self._checked_instructions(method, result, policy.mode == "enforce", original)
        return result

    def filter_server_message(self, method: str, value: Any, *, plain: bool = False) -> Any:
        if plain or not self._current_policy().sanitize.strip_control:
            return value
        return self.cleaned(method, value)

    def cleaned(self, method: str, value: Any, item: str | None = None) -> Any:
        """``value`` with invisible and control characters removed (the same object if there were none)."""
        if _plainly_clean(value):
            return value
        removed: dict[str, int] = {}
        shown = clean_value(value, removed)
        self.report_strip(method, item, removed)
        return shown

    def report_strip(self, method: str, item: str | None, removed: dict[str, int]) -> None:
        if removed:
            kinds = ", ".join(sorted(removed))
            reason = f"removed {sum(removed.values())} invisible or control characters ({kinds})"
            self.report(method, "strip", item, reason, applied=True, removed=removed, key=kinds)

    def _checked_instructions(
        self, method: str, result: dict[str, Any], enforce: bool, original: dict[str, Any]
    ) -> dict[str, Any]:
        instructions = original.get("instructions")
        if not isinstance(instructions, str):
            return result
        from lilith.core.poison import find_marker  # compiled on first need, not at start-up

        marker = find_marker(_scanned_text(clean_text(instructions, {}), instructions))
        if marker is None:
            return result
        reason = f"the server's instructions carry a hidden-instruction marker ({marker.label}: {marker.snippet!r})"
        self.report(method, "hide", "instructions", reason, applied=enforce)
        return {key: value for key, value in result.items() if key != "instructions"} if enforce else result

    # ------------------------------------------------------------------------------------------ findings
    def hide(
        self, method: str, kind: str, name: str, rule: str, reason: str, *, detail: str = "", enforce: bool
    ) -> None:
        """Remember ``name`` as hidden (calls to it are denied, saying ``reason``) and report it, with
        ``detail`` (the words that were found) for the audit log only: a denial goes back to the model,
        which must not be handed the injected words after all."""
        key = (kind, _kept(name))
        if key not in self._hidden and len(self._hidden) >= _HIDDEN_LIMIT:
            raise ProtocolError(f"the server's {method} result hides more names than Lilith keeps track of")
        self._hidden[key] = (rule, reason)
        said = f"{kind} {_shown(name)} hidden: {reason}{detail}"
        self.report(method, "hide", name, said, applied=enforce, rule=rule)

    def shown(self, kind: str, name: str) -> None:
        """``name`` was shown to the client as it is now listed: calls to it are no longer refused here."""
        if self._hidden:
            self._hidden.pop((kind, _kept(name)), None)

    def report(
        self,
        method: str,
        action: str,
        item: str | None,
        reason: str,
        *,
        applied: bool,
        rule: str | None = None,
        removed: dict[str, int] | None = None,
        key: str = "",
    ) -> None:
        """Write a ``sanitize`` audit record and a log line, once per method, action, item and reason."""
        seen = (method, action, _kept(item or ""), key or rule or reason, str(applied))
        if seen in self._reported:
            return
        record: dict[str, Any] = {"event": "sanitize", "method": method, "action": action}
        record |= {"reason": reason, "applied": applied}
        if item is not None:
            record["item"] = _shown(item, quoted=False)
        if rule is not None:
            record["rule"] = rule
        if removed:
            record["removed"] = dict(removed)
        if self._audit is not None:
            self._audit.record(record)  # raises if it cannot be written: the result is then withheld
        if len(self._reported) < _REPORTED_LIMIT:  # only once written, so a failed write is retried
            self._reported.add(seen)
        if self._log is not None:
            self._log.log("warning", "sanitize", method=method, action=action, reason=reason, applied=applied)


class _Listing:
    """One list result on its way through ``Sanitize``."""

    __slots__ = ("enforce", "field", "key", "kind", "method", "owner", "settings")

    def __init__(self, owner: Sanitize, policy: Policy, method: str) -> None:
        self.owner = owner
        self.method = method
        self.settings: SanitizeSettings = policy.sanitize
        self.enforce = policy.mode == "enforce"
        self.field, self.key, self.kind = _LISTINGS[method]

    def filter(self, result: dict[str, Any]) -> dict[str, Any]:
        items = result.get(self.field)
        settings = self.settings
        if not isinstance(items, list):
            if settings.strict_listings:
                reason = f"'{self.field}' is not a list"
                self.owner.report(self.method, "refuse", None, reason, applied=self.enforce)
                if self.enforce:
                    raise ProtocolError(f"the server's {self.method} result was refused: {reason}")
            return self.owner.cleaned(self.method, result) if settings.strip_control else result
        conflicting, repeated = self._duplicates(items) if settings.strict_listings else (set(), set())
        kept: list[Any] = []
        shown_once: set[str] = set()
        for item in items:
            shown = self._entry(item, conflicting, repeated, shown_once)
            if shown is not None:
                kept.append(shown)
        field = self.field
        rest = {key: value for key, value in result.items() if key != field}  # nextCursor, _meta, extensions
        shown_rest = self.owner.cleaned(self.method, rest) if settings.strip_control and rest else rest
        same_items = len(kept) == len(items) and all(new is old for new, old in zip(kept, items, strict=True))
        if same_items and shown_rest is rest:
            return result
        return {key: kept if key == field else shown_rest[key] for key in result}

    def _entry(self, item: Any, conflicting: set[str], repeated: set[str], shown_once: set[str]) -> Any:
        """The entry as the client sees it, or None when it is hidden or dropped."""
        name = item.get(self.key) if isinstance(item, dict) else None
        settings, owner, method = self.settings, self.owner, self.method
        if not isinstance(name, str):
            if settings.strict_listings:
                what = (
                    f"an entry without a string '{self.key}'"
                    if isinstance(item, dict)
                    else "an entry that is not an object"
                )
                owner.report(method, "drop", None, f"{what} was dropped", applied=self.enforce)
                if self.enforce:
                    return None
            return owner.cleaned(method, item) if settings.strip_control else item
        if name in conflicting:
            reason = "its name is listed more than once with different definitions"
            return self._hidden(item, name, RULE_DUPLICATE, reason)
        if name in repeated:
            if name in shown_once:
                owner.report(method, "drop", name, "a repeated identical entry was dropped", applied=self.enforce)
                if self.enforce:
                    return None
            shown_once.add(name)
        removed: dict[str, int] = {}
        clean = clean_value(item, removed)
        shown = clean if settings.strip_control else item
        if settings.strip_control and clean_text(name, {}) is not name:
            reason = "its name contains invisible or control characters"
            return self._hidden(shown, name, RULE_CHARACTERS, reason)
        if settings.hide_poisoned_tools:
            from lilith.core.poison import find_marker  # compiled on first need, not at start-up

            marker = find_marker(_scanned_text(clean, item), name)
            if marker is not None:
                reason = f"its metadata {marker.finding}"
                return self._hidden(shown, name, RULE_POISONED, reason, f": {marker.snippet!r}")
        if settings.strip_control:
            owner.report_strip(method, name, removed)  # first: if it cannot be recorded, nothing is un-hidden
        owner.shown(self.kind, name)
        return shown

    def _hidden(self, shown: Any, name: str, rule: str, reason: str, detail: str = "") -> Any:
        self.owner.hide(self.method, self.kind, name, rule, reason, detail=detail, enforce=self.enforce)
        return None if self.enforce else shown

    def _duplicates(self, items: list[Any]) -> tuple[set[str], set[str]]:
        """Names listed more than once: with different definitions, and (only) identically."""
        first: dict[str, Any] = {}
        conflicting: set[str] = set()
        repeated: set[str] = set()
        for item in items:
            name = item.get(self.key) if isinstance(item, dict) else None
            if not isinstance(name, str):
                continue
            if name not in first:
                first[name] = item
            elif name not in conflicting:
                from lilith.policy.pins import canonical_json  # only lists that repeat a name get here

                repeated.add(name)
                if canonical_json(first[name]) != canonical_json(item):  # 1 is not true: the same JSON only
                    conflicting.add(name)
        return conflicting, repeated - conflicting


def _scanned_text(clean: Any, original: Any) -> str:
    """What the poison scan reads: every string of the entry once invisible characters are gone (``clean``),
    one per line, and the ASCII that tag characters spelled out in the ``original`` (which the client never
    sees, but the server meant)."""
    visible = "\n".join(strings(clean))
    if clean is original:
        return visible  # nothing was removed, so no tag characters either
    hidden = [spelled for spelled in (tag_text(text) for text in strings(original)) if spelled]
    return visible if not hidden else visible + "\n" + "\n".join(hidden)


def _kept(name: str) -> str | bytes:
    """How a name is remembered: itself, or when longer than ``_NAME_KEPT`` its digest (bytes, so never
    equal to a name), so a server that hides a new megabyte-long name in every list cannot grow our memory
    by megabytes each time (the number of names is capped by ``_HIDDEN_LIMIT`` and ``_REPORTED_LIMIT``)."""
    if len(name) <= _NAME_KEPT:
        return name
    return hashlib.blake2b(name.encode("utf-8", "surrogatepass"), digest_size=32).digest()


def _shown(name: str, quoted: bool = True) -> str:
    """A server-chosen name, safe to put in a message: escaped if it holds invisible characters, and cut."""
    text = name if is_clean(name) else ascii(name)[1:-1]
    if len(text) > _SHOWN_LIMIT:
        text = text[: _SHOWN_LIMIT - 3] + "..."
    return f"'{text}'" if quoted else text


def _plainly_clean(value: Any) -> bool:
    """A cheap proof that ``value`` holds nothing to remove: serialised by orjson (in C) it is ASCII and has
    no escape for a control character (orjson writes those as \\uXXXX, \\r, \\b, \\f) and no DEL. Most tool
    results pass, and skip the walk over every string."""
    try:
        raw = orjson.dumps(value)
    except TypeError:  # an integer beyond 64 bits: let the walk decide
        return False
    if not raw.isascii() or b"\x7f" in raw:
        return False
    return b"\\" not in raw or not (b"\\u" in raw or b"\\r" in raw or b"\\b" in raw or b"\\f" in raw)
