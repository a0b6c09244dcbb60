"""``argument_rules``: constraints on the *arguments* of a tool call, not just on its name.

.. code-block:: yaml

    argument_rules:
      - tool: run_command                 # exact name, or a glob (``*``, ``?``, ``[...]``, ``\\``)
        arg: command                      # dotted path into the arguments; "**" = every string in them
        match: '^ls( -[al]+)? /tmp(/[\\w.-]+)*$'
      - tool: read_file
        arg: path
        path_within: [/tmp, ~/projects]

Every rule whose ``tool`` matches the call must pass; the first one that fails denies the call. When all
of them pass (or none applies) the answer is ``None``, "no opinion", and the static rules decide.

Fail closed, always:

* A missing argument, or one of the wrong type for a check (``match`` on a number, ``path_within`` on a
  list), fails the rule. So does text holding lone surrogates, which no pattern can inspect: treating it
  as "does not match the deny pattern" would fail open.
* ``arg`` is a dotted path: ``a.b.0.c`` walks mapping keys and list indices (a segment addresses a list
  only when it is a plain decimal index such as ``0`` or ``12``). Keys containing ``.`` cannot be
  addressed.
* ``arg: "**"`` applies the rule's checks to every string *value* anywhere in the arguments (at any
  depth, inside lists too); non-string scalars are skipped and with no strings at all the rule passes.
  Mapping *keys* are also checked by the deny-list style checks (``not_match``, ``path_not_within``,
  ``url_host_not_in``, ``no_leading_dash``) and by ``max_length``, because a server may treat keys as
  data; the allow-list checks (``match``, ``one_of``, ``path_within``, ``url_host_in``) look at values
  only, since keys are field names that an allow-list for values would never describe. The URL checks
  under ``**`` look only at URL-shaped strings (containing ``//``, ``:/`` or a backslash variant of
  them); prose such as "see evil.com" is not a URL to them. Any key or value that is not valid Unicode
  text fails any ``**`` rule.

Checks (a rule carries at least one; all must pass):

``match``
    RE2 full match (``lilith.policy.patterns``: ``.`` matches newline, ``$`` only at the very end).
``not_match``
    Fails if the RE2 pattern is found anywhere in the value (search, not full match).
``path_within`` / ``path_not_within``
    Lists of roots. The value is read with ``path_readings`` (``~``, server cwd, symlinks, ``..`` after a
    symlink); ``path_within`` needs *every* reading inside some root, ``path_not_within`` fails if *any*
    reading is inside a root. Roots are normalised with ``normalise_path`` at check time, with the
    resolver of the server being called, because home, cwd and symlinks differ between servers; a
    relative root is relative to that server's cwd. A value that cannot be read as a path (empty, NUL,
    ``~user``) fails, and so does any value a URL parser reads as a ``file:`` URL (also after leading
    spaces or with a tab inside ``file:``, which it drops): a ``file:`` URI is not a path and a server that
    treats it as one reads something else than a server that decodes it.
``one_of``
    Allowed scalar values, compared with exact type: ``1`` is not ``"1"``, ``true`` is not ``1`` and
    ``1.0`` is not ``1``. Lists and objects never pass.
``max_length``
    Strings: length in code points (an emoji is one); lists: number of items. Anything else fails.
``url_host_in`` / ``url_host_not_in``
    Host names, exact (``example.com``) or by suffix (``*.example.com``: any subdomain, not the domain
    itself). The value must be an absolute URL with an authority (``scheme://host``) that
    ``urllib.parse`` reads; anything ambiguous fails *both* checks: backslashes, whitespace or control
    characters, ``%`` in the authority, more than one ``@``, an invalid port, empty labels, and numeric
    hosts other than a canonical dotted-quad IPv4 address (``2130706433``, ``0x7f.1``, ``0177.0.0.1``
    are ``127.0.0.1`` to a browser). The host comes after the last ``@`` (``http://ok.com@evil.com`` is
    ``evil.com``), is lower-cased and loses one trailing dot. A host is compared in every reading: as
    written, IDNA-encoded (so fullwidth or other compatibility forms map to ASCII) and punycode-decoded.
    ``url_host_in`` needs every reading to be listed, so a non-ASCII look-alike of an ASCII entry never
    passes; ``url_host_not_in`` fails if any reading is listed.
``no_leading_dash: true``
    The string must not start with ``-``, so it cannot be taken as an option (``--upload-pack=...``).

A denial names the rule (``id``, default ``argument_rules[N]``), the argument and the check, never the
argument's value, which may be a secret.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from lilith.policy.arg_paths import MISSING, lookup
from lilith.policy.decision import Decision
from lilith.policy.paths import NoFilesystem, Resolver, is_within, normalise_path, path_readings
from lilith.policy.patterns import Glob, Regex, compile_glob, compile_regex, is_glob, is_scalar_text
from lilith.policy.whatwg import reads_as_file_uri
from lilith.policy.yaml_source import Path, YamlDocument

__all__ = ["ArgumentRules", "compile_argument_rules"]

ANY_STRING = "**"
_CACHE_LIMIT = 4096
_WHERE_LIMIT = 80
_DIGITS = frozenset("0123456789")
_HEX_DIGITS = frozenset("0123456789abcdef")
# Under "**", a string is taken for a URL (and must then name a host unambiguously) when it contains one of
# these, or starts with a special scheme (``_SPECIAL_SCHEMES``). The backslash forms are there because
# WHATWG parsers read "http:" + 2 backslashes + "evil.com" as "http://evil.com".
_URL_MARKERS = ("//", ":/", "\\\\", ":\\")
# WHATWG's special schemes: for them a parser reads a host even without slashes ("http:evil.com/x" is
# http://evil.com/x). Matched as the parser does: ASCII case-insensitively, after leading C0 controls and
# spaces are trimmed and tabs and newlines anywhere are removed.
_SPECIAL_SCHEMES = ("http:", "https:", "ws:", "wss:", "ftp:", "file:")
_TAB_AND_NEWLINES = frozenset("\t\n\r")
_BAD_HOST_ENTRY_CHARS = frozenset("/\\@?#%*[] \t\r\n")


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return f"a {type(value).__name__}"


def _text_problem(value: Any) -> str | None:
    """Why ``value`` cannot be inspected as text, or None when it can."""
    if not isinstance(value, str):
        return f"is {_kind(value)}, not a string"
    if not is_scalar_text(value):
        return "is not valid Unicode text (it contains a lone surrogate)"
    return None


# --- checks --------------------------------------------------------------------------------------


class _Check:
    """One check of a rule. ``failure`` returns a phrase completing "argument 'x' ...", or None."""

    __slots__ = ()
    name = ""
    covers_keys = False  # under "**", also applied to mapping keys

    def failure(self, value: Any, resolver: Resolver) -> str | None:
        raise NotImplementedError

    def inspects(self, text: str) -> bool:
        """Under "**": does this check look at ``text`` at all? (URL checks only look at URL-shaped text.)"""
        return True


class _Match(_Check):
    __slots__ = ("regex",)
    name = "match"

    def __init__(self, regex: Regex) -> None:
        self.regex = regex

    def failure(self, value: Any, resolver: Resolver) -> str | None:
        problem = _text_problem(value)
        if problem is not None:
            return problem
        if self.regex.fullmatch(value):
            return None
        return f"does not match the required pattern {self.regex.pattern!r}"


class _NotMatch(_Check):
    __slots__ = ("regex",)
    name = "not_match"
    covers_keys = True

    def __init__(self, regex: Regex) -> None:
        self.regex = regex

    def failure(self, value: Any, resolver: Resolver) -> str | None:
        problem = _text_problem(value)
        if problem is not None:
            return problem
        if self.regex.search(value):
            return f"contains the forbidden pattern {self.regex.pattern!r}"
        return None


class _PathCheck(_Check):
    __slots__ = ("roots",)
    covers_keys = True
    within = True

    def __init__(self, roots: tuple[str, ...]) -> None:
        self.roots = roots

    def _shown_roots(self) -> str:
        return "[" + ", ".join(self.roots) + "]"

    def failure(self, value: Any, resolver: Resolver) -> str | None:
        problem = _text_problem(value)
        if problem is not None:
            return problem
        if reads_as_file_uri(value):  # also " file:" and "fi\tle:": URL parsers trim and drop those
            return "is a file: URI, not a path"
        try:
            readings = path_readings(value, resolver)
        except ValueError:
            return "cannot be read as a path (empty, NUL, ~user, a symlink loop, or a /proc or /dev/fd link)"
        try:
            roots = [normalise_path(root, resolver) for root in self.roots]
            inside = [is_within(reading, roots) for reading in readings]
        except ValueError:
            return f"cannot be compared with the roots {self._shown_roots()} on this server"
        return self._verdict(inside)

    def _verdict(self, inside: list[bool]) -> str | None:
        raise NotImplementedError


class _PathWithin(_PathCheck):
    __slots__ = ()
    name = "path_within"
    covers_keys = False

    def _verdict(self, inside: list[bool]) -> str | None:
        return None if all(inside) else f"is not within {self._shown_roots()}"


class _PathNotWithin(_PathCheck):
    __slots__ = ()
    name = "path_not_within"

    def _verdict(self, inside: list[bool]) -> str | None:
        return f"is within the forbidden {self._shown_roots()}" if any(inside) else None


class _OneOf(_Check):
    __slots__ = ("allowed",)
    name = "one_of"

    def __init__(self, allowed: tuple[Any, ...]) -> None:
        self.allowed = allowed

    def failure(self, value: Any, resolver: Resolver) -> str | None:
        if isinstance(value, list | dict):
            return f"is {_kind(value)}, not a single value"
        if isinstance(value, str) and not is_scalar_text(value):
            return _text_problem(value)
        # Exact type: 1 is not "1", True is not 1 and 1.0 is not 1 (bool is a subclass of int).
        if any(type(value) is type(option) and value == option for option in self.allowed):
            return None
        return "is not one of the allowed values"


class _MaxLength(_Check):
    __slots__ = ("limit",)
    name = "max_length"
    covers_keys = True

    def __init__(self, limit: int) -> None:
        self.limit = limit

    def failure(self, value: Any, resolver: Resolver) -> str | None:
        if isinstance(value, str):
            problem = _text_problem(value)
            if problem is not None:
                return problem
            unit = "characters"
        elif isinstance(value, list):
            unit = "items"
        else:
            return f"is {_kind(value)}, not a string or a list"
        if len(value) > self.limit:
            return f"is longer than {self.limit} {unit}"
        return None


class _HostEntry(NamedTuple):
    readings: frozenset[str]
    suffix: bool  # "*.example.com": strictly below example.com

    def matches(self, host: str) -> bool:
        if self.suffix:
            return any(host.endswith("." + reading) for reading in self.readings)
        return host in self.readings


class _UrlHost(_Check):
    __slots__ = ("entries", "shown")
    allow = True

    def __init__(self, entries: tuple[_HostEntry, ...], shown: tuple[str, ...]) -> None:
        self.entries = entries
        self.shown = shown

    def inspects(self, text: str) -> bool:
        return any(marker in text for marker in _URL_MARKERS) or _starts_with_special_scheme(text)

    def failure(self, value: Any, resolver: Resolver) -> str | None:
        problem = _text_problem(value)
        if problem is not None:
            return problem
        readings = _url_host_readings(value)
        if readings is None:
            return "is not a URL whose host can be determined unambiguously"
        listed = [any(entry.matches(reading) for entry in self.entries) for reading in readings]
        return self._verdict(listed)

    def _verdict(self, listed: list[bool]) -> str | None:
        raise NotImplementedError


class _UrlHostIn(_UrlHost):
    __slots__ = ()
    name = "url_host_in"

    def _verdict(self, listed: list[bool]) -> str | None:
        return None if all(listed) else f"is a URL whose host is not in [{', '.join(self.shown)}]"


class _UrlHostNotIn(_UrlHost):
    __slots__ = ()
    name = "url_host_not_in"
    covers_keys = True

    def _verdict(self, listed: list[bool]) -> str | None:
        return f"is a URL whose host is in the forbidden [{', '.join(self.shown)}]" if any(listed) else None


class _NoLeadingDash(_Check):
    __slots__ = ()
    name = "no_leading_dash"
    covers_keys = True

    def failure(self, value: Any, resolver: Resolver) -> str | None:
        problem = _text_problem(value)
        if problem is not None:
            return problem
        return "starts with '-' (it could be taken as an option)" if value.startswith("-") else None


def _starts_with_special_scheme(text: str) -> bool:
    """Would a WHATWG URL parser read ``text`` as a URL of a special scheme (one that always has a host)?"""
    head: list[str] = []
    for char in text:
        if (not head and char <= " ") or char in _TAB_AND_NEWLINES:
            continue
        if len(head) == 6 or not char.isascii():  # "https:" is the longest; schemes are ASCII
            break
        head.append(char)
    return "".join(head).lower().startswith(_SPECIAL_SCHEMES)


# --- hosts ---------------------------------------------------------------------------------------


def _is_numeric_label(label: str) -> bool:
    """WHATWG's "ends in a number": a decimal or 0x-hex label makes the whole host an IPv4 address."""
    if label and all(ch in _DIGITS for ch in label):
        return True
    return label[:2] == "0x" and all(ch in _HEX_DIGITS for ch in label[2:])


def _host_readings(host: str) -> frozenset[str] | None:
    """Every form ``host`` can be compared in, or None when it is not an unambiguous host name."""
    host = host.lower()
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if ":" in host:
        try:
            return frozenset({ipaddress.IPv6Address(host).compressed})
        except ValueError:
            return None
    if host.endswith("."):
        host = host[:-1]
    forms = {host}
    try:
        if host.isascii():
            forms.add(host.encode("ascii").decode("idna").lower())  # punycode labels decoded
        else:
            forms.add(host.encode("idna").decode("ascii"))  # nameprep + punycode, as a resolver would
    except UnicodeError:
        if not host.isascii():
            return None  # cannot tell which ASCII name this is
    for form in forms:
        labels = form.split(".")
        if not form or any(not label for label in labels):
            return None
        if _is_numeric_label(labels[-1]):
            try:
                if str(ipaddress.IPv4Address(form)) != form:
                    return None
            except ValueError:
                return None  # decimal, octal, hex or short forms of an IPv4 address
    return frozenset(forms)


def _url_host_readings(url: str) -> frozenset[str] | None:
    if any(ch <= " " or ch in {"\x7f", "\\"} for ch in url):
        return None
    try:
        parts = urlsplit(url)
        host = parts.hostname
        _ = parts.port  # raises ValueError for a port that is not a number in range
    except ValueError:
        return None
    if not parts.scheme or not host or "%" in parts.netloc or parts.netloc.count("@") > 1:
        return None
    return _host_readings(host)


# --- rules ---------------------------------------------------------------------------------------


class _Rule(NamedTuple):
    order: int
    rule_id: str
    tool: str
    arg: str
    segments: tuple[str, ...] | None  # None for "**"
    checks: tuple[_Check, ...]

    def failure(self, arguments: Any, resolver: Resolver) -> str | None:
        if self.segments is None:
            return self._every_string(arguments, resolver)
        value = lookup(arguments, self.segments)
        if value is MISSING:
            return f"argument '{self.arg}' is missing (required by rule checks {self._names()})"
        for check in self.checks:
            problem = check.failure(value, resolver)
            if problem is not None:
                return f"argument '{self.arg}' {problem} ({check.name})"
        return None

    def _names(self) -> str:
        return ", ".join(check.name for check in self.checks)

    def _every_string(self, arguments: Any, resolver: Resolver) -> str | None:
        for where, text, is_key in _strings(arguments):
            shown = f"a key of {_shown_where(where)}" if is_key else f"the string at {_shown_where(where)}"
            if not is_scalar_text(text):  # no check can inspect it, so none may pass it
                return f"{shown} is not valid Unicode text (it contains a lone surrogate)"
            for check in self.checks:
                if (is_key and not check.covers_keys) or not check.inspects(text):
                    continue
                problem = check.failure(text, resolver)
                if problem is not None:
                    return f"{shown} {problem} ({check.name})"
        return None


def _shown_where(where: tuple[str, ...]) -> str:
    if not where:
        return "the top level of the arguments"
    text = ".".join(where)
    if len(text) > _WHERE_LIMIT:
        text = text[: _WHERE_LIMIT - 3] + "..."
    return f"'{text}'"


def _strings(arguments: Any) -> Iterator[tuple[tuple[str, ...], str, bool]]:
    """Every string in ``arguments``: (location, text, is_key). Iterative, so depth cannot overflow."""
    stack: list[tuple[tuple[str, ...], Any]] = [((), arguments)]
    seen: set[int] = set()
    while stack:
        where, value = stack.pop()
        if isinstance(value, str):
            yield where, value, False
        elif isinstance(value, dict | list):
            if id(value) in seen:  # shared or cyclic (programmatic callers): each container once
                continue
            seen.add(id(value))
            if isinstance(value, dict):
                children = []
                for key, child in value.items():
                    if isinstance(key, str):
                        yield where, key, True
                    children.append(((*where, str(key)), child))
            else:
                children = [((*where, str(index)), child) for index, child in enumerate(value)]
            stack.extend(reversed(children))


class ArgumentRules:
    """Compiled ``argument_rules``, indexed by exact tool name plus a list of tool globs."""

    __slots__ = ("_exact", "_globs", "_memo", "rules")

    def __init__(self, rules: tuple[_Rule, ...]) -> None:
        self.rules = rules
        exact: dict[str, list[_Rule]] = {}
        globs: list[tuple[Glob, _Rule]] = []
        for rule in rules:
            if is_glob(rule.tool):
                globs.append((compile_glob(rule.tool), rule))
            else:
                exact.setdefault(rule.tool, []).append(rule)
        self._exact = {tool: tuple(found) for tool, found in exact.items()}
        self._globs = tuple(globs)
        # Which rules apply is a pure function of the tool name: memoised, bounded (names come from peers).
        self._memo: dict[str, tuple[_Rule, ...]] = {}

    @classmethod
    def empty(cls) -> ArgumentRules:
        return cls(())

    def __len__(self) -> int:
        return len(self.rules)

    def rules_for(self, tool: str) -> tuple[_Rule, ...]:
        """The rules that apply to ``tool``, in policy order."""
        found = self._memo.get(tool)
        if found is None:
            exact = self._exact.get(tool, ())
            globbed = tuple(rule for glob, rule in self._globs if glob.match(tool))
            found = tuple(sorted(exact + globbed, key=lambda rule: rule.order)) if globbed else exact
            if len(self._memo) < _CACHE_LIMIT:
                self._memo[tool] = found
        return found

    def check(self, tool: str, arguments: Any, resolver: Resolver) -> Decision | None:
        """Deny with the first failing rule for ``tool``; None ("no opinion") when all pass or none applies."""
        if self._globs and not is_scalar_text(tool):
            # A glob cannot inspect such a name, so "no glob rule applies" would fail open.
            return Decision(False, "argument_rules", "tool name is not valid Unicode text")
        for rule in self.rules_for(tool):
            reason = rule.failure(arguments, resolver)
            if reason is not None:
                return Decision(False, rule.rule_id, reason)
        return None


# --- compiling -----------------------------------------------------------------------------------

_CHECK_KEYS = (
    "match",
    "not_match",
    "path_within",
    "path_not_within",
    "one_of",
    "max_length",
    "url_host_in",
    "url_host_not_in",
    "no_leading_dash",
)
_RULE_KEYS = frozenset({"tool", "arg", "id", "description", *_CHECK_KEYS})


def compile_argument_rules(doc: YamlDocument, path: Path, value: Any) -> ArgumentRules:
    """Validate and compile the ``argument_rules`` list found at ``path`` in ``doc``."""
    if not isinstance(value, list):
        raise doc.error(path, f"argument_rules must be a list of rules, not {_kind(value)}")
    rules: list[_Rule] = []
    ids: set[str] = set()
    for index, item in enumerate(value):
        rule = _compile_rule(doc, (*path, index), index, item)
        if rule.rule_id in ids:
            raise doc.error((*path, index, "id"), f"duplicate rule id {rule.rule_id!r}")
        ids.add(rule.rule_id)
        rules.append(rule)
    return ArgumentRules(tuple(rules))


def _text_setting(doc: YamlDocument, path: Path, value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise doc.error(path, f"{what} must be a string, not {_kind(value)}")
    if not value:
        raise doc.error(path, f"{what} must not be empty")
    if not is_scalar_text(value):
        raise doc.error(path, f"{what} is not valid Unicode text (it contains a lone surrogate)")
    return value


def _compile_rule(doc: YamlDocument, path: Path, index: int, item: Any) -> _Rule:
    if not isinstance(item, dict):
        raise doc.error(path, f"an argument rule must be a mapping with 'tool', 'arg' and a check, not {_kind(item)}")
    for key in item:
        if key not in _RULE_KEYS:
            raise doc.error(
                (*path, str(key)),
                f"unknown key '{key}' in an argument rule (expected tool, arg, id, description, {', '.join(_CHECK_KEYS)})",
            )
    for required in ("tool", "arg"):
        if required not in item:
            raise doc.error(path, f"an argument rule needs '{required}'")
    tool = _text_setting(doc, (*path, "tool"), item["tool"], "tool")
    if is_glob(tool):
        try:
            compile_glob(tool)
        except ValueError as exc:
            raise doc.error((*path, "tool"), str(exc)) from None
    arg = _text_setting(doc, (*path, "arg"), item["arg"], "arg")
    segments: tuple[str, ...] | None = None
    if arg != ANY_STRING:
        segments = tuple(arg.split("."))
        if any(not segment for segment in segments):
            raise doc.error((*path, "arg"), f"arg {arg!r} has an empty segment (write a dotted path such as 'a.b.0')")
        if any("*" in segment for segment in segments):
            raise doc.error(
                (*path, "arg"), f"arg {arg!r}: '**' must be the whole of arg (every string in the arguments)"
            )
    rule_id = f"argument_rules[{index}]"
    if "id" in item:
        rule_id = _text_setting(doc, (*path, "id"), item["id"], "id")
    if "description" in item and not isinstance(item["description"], str):
        raise doc.error((*path, "description"), f"description must be a string, not {_kind(item['description'])}")
    checks = tuple(_compile_check(doc, (*path, key), key, item[key]) for key in _CHECK_KEYS if key in item)
    if not checks:
        raise doc.error(path, f"an argument rule needs at least one check ({', '.join(_CHECK_KEYS)})")
    return _Rule(index, rule_id, tool, arg, segments, checks)


def _compile_check(doc: YamlDocument, path: Path, key: str, value: Any) -> _Check:
    if key in ("match", "not_match"):
        pattern = _text_setting(doc, path, value, key)
        try:
            regex = compile_regex(pattern)
        except ValueError as exc:
            raise doc.error(path, str(exc)) from None
        return _Match(regex) if key == "match" else _NotMatch(regex)
    if key in ("path_within", "path_not_within"):
        roots = _text_list(doc, path, value, key)
        for offset, root in enumerate(roots):
            try:
                normalise_path(root, NoFilesystem())
            except ValueError as exc:
                raise doc.error((*path, offset), f"{key}: {exc}") from None
        return _PathWithin(roots) if key == "path_within" else _PathNotWithin(roots)
    if key == "one_of":
        return _OneOf(_scalar_list(doc, path, value))
    if key == "max_length":
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise doc.error(path, f"max_length must be a whole number >= 0, not {value!r}")
        return _MaxLength(value)
    if key in ("url_host_in", "url_host_not_in"):
        hosts = _text_list(doc, path, value, key)
        entries = tuple(_host_entry(doc, (*path, offset), host) for offset, host in enumerate(hosts))
        return _UrlHostIn(entries, hosts) if key == "url_host_in" else _UrlHostNotIn(entries, hosts)
    if key == "no_leading_dash":
        if value is not True:
            raise doc.error(path, f"no_leading_dash must be true (leave it out otherwise), not {value!r}")
        return _NoLeadingDash()
    raise doc.error(path, f"unknown check '{key}'")  # unreachable: keys are validated first


def _text_list(doc: YamlDocument, path: Path, value: Any, key: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not value:
        raise doc.error(path, f"{key} must be a non-empty list of strings")
    return tuple(_text_setting(doc, (*path, offset), item, f"each entry of {key}") for offset, item in enumerate(value))


def _scalar_list(doc: YamlDocument, path: Path, value: Any) -> tuple[Any, ...]:
    if not isinstance(value, list) or not value:
        raise doc.error(path, "one_of must be a non-empty list of values")
    for offset, item in enumerate(value):
        if item is not None and not isinstance(item, str | int | float | bool):
            raise doc.error((*path, offset), f"one_of entries must be single values, not {_kind(item)}")
        if isinstance(item, str) and not is_scalar_text(item):
            raise doc.error((*path, offset), "one_of entry is not valid Unicode text (it contains a lone surrogate)")
    return tuple(value)


def _host_entry(doc: YamlDocument, path: Path, entry: str) -> _HostEntry:
    suffix = entry.startswith("*.")
    host = entry[2:] if suffix else entry
    bracketed = host.startswith("[") and host.endswith("]") and not suffix
    if not host or any(ch in _BAD_HOST_ENTRY_CHARS for ch in (host[1:-1] if bracketed else host)):
        raise doc.error(path, f"{entry!r} is not a host name (write 'example.com' or '*.example.com')")
    readings = _host_readings(host)
    if readings is None:
        raise doc.error(path, f"{entry!r} is not an unambiguous host name")
    if suffix and any(":" in reading or _is_numeric_label(reading.rsplit(".", 1)[-1]) for reading in readings):
        raise doc.error(path, f"{entry!r}: a '*.' suffix entry cannot name an IP address")
    return _HostEntry(readings, suffix)
