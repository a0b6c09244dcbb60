"""Redaction of audit records before they reach the disk.

Every value that looks like personal data or a credential is replaced by ``<kind:hash>``, where ``hash`` is
the first ``hash_chars`` hex digits of HMAC-SHA256(key, value). The same value always gets the same tag
under one key, so records can be correlated without revealing it; a different key gives unrelated tags.
The hash covers the value only, not the kind, so a token seen once as ``token=…`` (``<secret:…>``) and once
bare (``<github_token:…>``) still correlates.

Structure says more than text: a value under a secret-looking key (``password``, ``DB_PASS``, ``apiKey``),
the ``value`` next to ``"name": "Authorization"`` and the item after ``--api-key`` on a command line are
secrets whatever they look like. So JSON that was serialised for a preview travels as ``JsonText`` (the
text plus the value it came from) and is redacted as a value, then serialised again; values nested deeper
than ``MAX_DEPTH`` are redacted without recursion before they are turned into text. Text detectors accept
JSON-escaped quotes (``\\"token\\": \\"…\\"``) for JSON that a server put inside a string.

This module walks values and command lines; strings go to ``text_redactor`` (detectors in
``redact_patterns``, their checks in ``redact_checks``, configured patterns in ``custom_patterns``) and
keys to ``secret_names``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import orjson

from lilith.audit.redact_checks import is_card
from lilith.audit.redact_patterns import SSN_VALUE_RE
from lilith.audit.secret_names import PLAIN, SECRET, SETTING_NAME_RE, SSN, is_secret_setting, key_kind, names_a_secret
from lilith.audit.text_redactor import TextRedactor
from lilith.core.clipped import Clipped

__all__ = ["MAX_DEPTH", "JsonText", "Masker", "Redactor"]

MAX_DEPTH = 64  # deeper values are redacted without recursion, then serialised to JSON text
_DEEP_LIMIT = 192  # levels below MAX_DEPTH redacted that way; anything deeper (or cyclic) is <too_deep>
_KEY_CACHE_MAX = 4096
# A longer key is no name: never memoised (the cache would keep it), and the value under it is tagged whole as
# a secret instead of reading the key for secret words (which costs up to a microsecond per character).
_LONG_KEY = 256
# ``-p`` is a password for sshpass, mongosh and mysql, but a port for most tools (ssh, psql, redis-cli, docker's
# host:container mapping), a profile or project for others, and ``--package`` for the npm runners. Its value
# is a secret unless it has the shape of a port or port mapping, or of a name (lower-case letters, ``.``,
# ``_``, ``-``: passwords rarely are), or the command line runs one of these:
_PACKAGE_RUNNERS = frozenset({"npx", "npm", "pnpm", "pnpx", "yarn", "bunx", "bun"})
_NOT_A_PASSWORD_RE = re.compile(
    r"(?:\[[0-9A-Fa-f:.]+\]:)?[0-9][0-9.:-]*(?:/(?:tcp|udp|sctp))?|[a-z][a-z._-]*", re.ASCII
)


def _compact_json(value: Any) -> str:
    try:
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS, default=str).decode()
    except TypeError:  # orjson refuses integers beyond 64 bits even with default=; the stdlib writes them
        pass
    try:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
    except (TypeError, ValueError, RecursionError):
        return "<unserialisable>"


class JsonText(str):
    """Compact JSON text of ``value`` (for a preview), which the redactor redacts as ``value``.

    As a string it is the unredacted text, so code that does not know this type sees an ordinary string.
    ``Redactor.redact_value`` redacts ``value`` and serialises the result again: keys say which values are
    secrets (``{"pw": "x"}``), the text alone does not.
    """

    value: Any

    def __new__(cls, text: str, value: Any) -> JsonText:
        self = super().__new__(cls, text)
        self.value = value
        return self

    def __reduce__(self) -> tuple[type[JsonText], tuple[str, Any]]:  # copy and deepcopy keep both parts
        return JsonText, (str(self), self.value)


class Redactor(TextRedactor):
    """Replaces personal data and credentials in strings and JSON-like values with ``<kind:hash>`` tags.

    Takes the arguments of ``TextRedactor``. Keys of mappings and option names on command lines say which
    values are secrets; everything else is redacted as text.
    """

    def __init__(self, key: bytes, custom: Sequence[tuple[str, str]] = (), hash_chars: int = 6) -> None:
        super().__init__(key, custom, hash_chars)
        self._key_cache: dict[str, int] = {}  # keys that need no redaction -> PLAIN, SECRET or SSN

    def redact_command(self, argv: Sequence[str]) -> list[str]:
        """A command line, redacted: each item as text, and also the value of a secret-looking long option
        (``--api-key X``, ``--token=X``), of a secret-looking ``NAME=value`` (``DB_PASS=…``, as given to
        ``env``) and of ``-p`` (unless it is a port, a name or an npm runner's package: see
        ``_NOT_A_PASSWORD_RE``), whatever that value looks like."""
        out: list[str] = []
        value_next = False
        password_next = False
        package_runner = False
        for item in argv:
            text = item if isinstance(item, str) else str(item)
            if value_next and not text.startswith("--"):
                out.append(self.tag("secret", text))
                value_next = False
                continue
            value_next = False
            if password_next:
                password_next = False
                if not text.startswith("-") and _NOT_A_PASSWORD_RE.fullmatch(text) is None:
                    out.append(self.tag("secret", text))
                    continue
            if text == "-p":
                password_next = not package_runner
            elif text.rpartition("/")[2] in _PACKAGE_RUNNERS:
                package_runner = True
            name, sep, value = text.partition("=")
            if sep and value and SETTING_NAME_RE.fullmatch(name):  # the name says what the value is
                secret = is_secret_setting(name)
                out.append(f"{name}={self.tag('secret', value) if secret else self.redact_text(value)}")
                continue
            if not sep and text.startswith("--") and is_secret_setting(text):
                value_next = True
            out.append(self.redact_text(text))
        return out

    # --- values -------------------------------------------------------------------------------------------
    def redact_value(self, v: Any) -> Any:
        """A redacted copy of a JSON-like value; the input is never modified. A ``JsonText`` becomes the
        JSON text of its redacted value."""
        return self._value(v, 0)

    def _secret(self, v: Any) -> Any:
        if v is None or type(v) is bool:  # a flag is not a secret
            return v
        if isinstance(v, str):
            return self.tag("secret", v)
        try:
            text = orjson.dumps(v, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS, default=str).decode()
        except (TypeError, orjson.JSONEncodeError):
            try:
                text = repr(v)
            except RecursionError:
                text = f"<{type(v).__name__}>"
        return self.tag("secret", text)

    def _ssn_tag(self, v: Any) -> str | None:
        """The ``ssn`` tag of a value under an ssn-like key, if it has the shape of one (separators optional)."""
        if type(v) is int:
            return self.tag("ssn", str(v))
        if type(v) is str and SSN_VALUE_RE.fullmatch(v.strip()):
            return self.tag("ssn", v.strip())
        return None

    def _value(self, v: Any, depth: int) -> Any:
        t = type(v)
        if t is str:
            return self.redact_text(v)
        if t is int or (t is not bool and isinstance(v, int)):
            return self._int(v)
        if t is bool or t is float or v is None:
            return v
        if depth >= MAX_DEPTH:
            return self._too_deep(v)
        if t is dict or isinstance(v, Mapping):
            return self._mapping(v, depth + 1)
        if t is list or isinstance(v, list | tuple):
            return [self._value(item, depth + 1) for item in v]
        if isinstance(v, JsonText):
            return _compact_json(self._value(v.value, depth))
        if isinstance(v, Clipped):
            return self.clip(str(v), v.keep)
        if isinstance(v, str):
            return self.redact_text(v)
        if isinstance(v, bool | float):
            return v
        return self.redact_text(str(v))

    def _int(self, v: int) -> Any:
        if 100_000_000_000 <= abs(v) < 10_000_000_000_000_000_000:
            digits = str(abs(v))
            if is_card(digits):
                return self.tag("card", digits)
        return v

    def _key(self, k: Any, out: Mapping[Any, Any], v: Mapping[Any, Any]) -> tuple[Any, int]:
        """A key as written (redacted if it needs to be, never colliding) and what it says of its value."""
        if type(k) is not str:
            return k, PLAIN
        cache = self._key_cache
        kind = key_kind(k) if len(k) <= _LONG_KEY else SECRET
        new_key = self.redact_text(k)
        if new_key == k:
            if len(k) <= _LONG_KEY:
                if len(cache) >= _KEY_CACHE_MAX:
                    cache.clear()
                cache[k] = kind
            return k, kind
        while new_key in out or new_key in v:  # a tag collision must not drop a value
            new_key += "'"
        return new_key, kind

    def _mapping(self, v: Mapping[Any, Any], depth: int) -> dict[Any, Any]:
        out: dict[Any, Any] = {}
        cache = self._key_cache
        redact_text = self.redact_text
        pair_secret = "value" in v and names_a_secret(v)
        for k, item in v.items():
            kind = cache.get(k) if type(k) is str else PLAIN
            if kind is None:
                k, kind = self._key(k, out, v)  # noqa: PLW2901
            if kind:
                tagged = self._secret(item) if kind == SECRET else self._ssn_tag(item)
                if tagged is not None or item is None:
                    out[k] = tagged
                    continue
            elif pair_secret and k == "value":
                out[k] = self._secret(item)
                continue
            t = type(item)
            if t is str:
                out[k] = redact_text(item)
            elif t is bool or t is float or item is None:
                out[k] = item
            else:
                out[k] = self._value(item, depth)
        return out

    def _too_deep(self, v: Any) -> str:
        """A value below ``MAX_DEPTH``: redacted as a value without recursion, returned as JSON text."""
        root: list[Any] = [None]
        stack: list[tuple[Any, Any, Any, int]] = [(v, root, 0, 0)]
        while stack:
            value, parent, slot, depth = stack.pop()
            is_mapping = isinstance(value, Mapping)
            if is_mapping or isinstance(value, list | tuple):
                if depth >= _DEEP_LIMIT:  # also ends a cycle
                    return "<too_deep>"
                if is_mapping:
                    parent[slot] = self._deep_mapping(value, stack, depth + 1)
                else:
                    items: list[Any] = [None] * len(value)
                    parent[slot] = items
                    stack.extend((item, items, i, depth + 1) for i, item in enumerate(value))
            elif isinstance(value, JsonText):
                parent[slot] = self.redact_text(str(value))
            else:
                parent[slot] = self._value(value, 0)  # a scalar: no recursion
        return _compact_json(root[0])

    def _deep_mapping(self, v: Mapping[Any, Any], stack: list[tuple[Any, Any, Any, int]], depth: int) -> dict[Any, Any]:
        """``_mapping`` for ``_too_deep``: the values that need a look of their own go on ``stack``."""
        out: dict[Any, Any] = {}
        pair_secret = "value" in v and names_a_secret(v)
        for k, item in v.items():
            kind = self._key_cache.get(k) if type(k) is str else PLAIN
            if kind is None:
                k, kind = self._key(k, out, v)  # noqa: PLW2901
            tagged: Any = None
            if kind == SECRET or (pair_secret and k == "value"):
                tagged = self._secret(item)
            elif kind == SSN:
                tagged = self._ssn_tag(item)
            out[k] = tagged
            if tagged is None and item is not None:
                stack.append((item, out, k, depth))
        return out


class Masker(Redactor):
    """The detectors of ``Redactor`` for operational logs: a value becomes ``<kind>`` (``<email>``,
    ``<github_token>``), with no hash. Stderr needs no correlation, and a keyed hash there would need the key."""

    _OWN_TAG: ClassVar[re.Pattern[str]] = re.compile(r"<[a-z][a-z0-9_]{0,31}>", re.ASCII)

    def __init__(self) -> None:
        super().__init__(b"no key: masks carry no hash")

    def tag(self, kind: str, value: str) -> str:
        return f"<{kind}>"

    def truncated_tag(self, value: str) -> str:
        return f"<truncated:{len(value)}>"
