"""Resource URI patterns (``resource_rules[].uri_pattern``), read the way requested URIs are checked.

A requested ``file:`` URI is checked in canonical form (``lilith.policy.paths.uri_readings``:
percent-decoded, dot segments collapsed, symlinks followed). A pattern compared as written would miss it
even when it names that very URI: ``file:///var/run/secrets/*`` never meets ``/run/secrets/token`` where
``/var/run`` is a link to ``/run``, and ``file:///srv/My%20Docs/*`` never meets the decoded space. So a
``file:///`` pattern is read the same way:

* Percent-escapes are decoded when the policy loads, as in a URI (``%20`` is a space, ``%2A`` a literal
  ``*``, ``%25`` a literal ``%``); escapes inside a bracket expression are not.
* Its literal leading directories (those before the first segment with a wildcard, or the whole path
  when it has none) are resolved with the server's resolver when a URI is checked, as ``path_within``
  roots are; so on that server ``file:///var/run/secrets/*`` means ``file:///run/secrets/*``.
* A pattern no canonical URI can match is refused when the policy loads: ``.``, ``..`` or empty
  segments (``//``), a trailing ``/``, a host (``file://localhost/x``: canonical URIs have none), a
  relative or host-less form (``file:/x``), an upper-case scheme (schemes are compared in lower case), and
  a backslash or a Windows drive-letter segment (``C:``), which requested ``file:`` URIs may not contain.

Symlinks *below* the first wildcard cannot be resolved in advance (``file:///home/*/keys/*`` does not
know where each home links to). For those, a BLOCK also meets the path as the client wrote it
(``UriReadings.written``): a BLOCK matching any reading blocks, while an ALLOW must match every reading
the server can reach (``UriReadings.canonical``).

A pattern written the original lilith-zero's way, as a bare path (``/etc/*``), is read as ``file://`` + that
path; ``~/...`` as a file pattern under the home of the user the server runs as. Any other pattern without a
scheme (``etc/*``, ``.env``, ``~user/x``) can never match a checked URI, and is refused.

Other patterns (``https://...``, or ones starting with a wildcard such as ``*`` or ``*secret*``) are
globs over the URI strings (``file://`` + path for ``file:`` URIs).
"""

from __future__ import annotations

from typing import NamedTuple

from lilith.policy.globs import literal_glob
from lilith.policy.names import NameMatcher, parse_name
from lilith.policy.paths import Resolver, UriReadings, normalise_path, unresolved_reading
from lilith.policy.whatwg import is_drive_letter

_WILDCARDS = frozenset("*?[")
_SCHEME_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+-.")
_FILE = "file://"


class _Token(NamedTuple):
    text: str  # one literal character, or a wildcard's glob text (``*``, ``?``, ``[...]``)
    literal: bool


class UriPattern:
    """A compiled ``uri_pattern``. ``directory`` (file patterns) is the literal leading path as written;
    ``rest`` the glob for what follows it, or None when the pattern is that path exactly."""

    __slots__ = ("directory", "glob", "rest", "text")

    def __init__(
        self, text: str, glob: NameMatcher | None, directory: str | None = None, rest: NameMatcher | None = None
    ) -> None:
        self.text = text
        self.glob = glob  # set: a pattern over whole URI strings
        self.directory = directory
        self.rest = rest

    def blocks(self, readings: UriReadings, resolver: Resolver, resolved: dict[str, str]) -> bool:
        """Does a BLOCK rule with this pattern cover any reading of the URI? ``ValueError`` when the
        pattern's directory cannot be resolved on this server."""
        uris = {readings.written, *readings.canonical}
        if self.glob is not None:
            return any(self.glob.matches(uri) for uri in uris)
        written = self._directory()
        if written.startswith("~"):  # as written, but with the home it names
            written = unresolved_reading(written, resolver)
        directories = {written, self._resolved(resolver, resolved)}
        return any(self._covers(directory, uri) for directory in directories for uri in uris)

    def allows(self, readings: UriReadings, resolver: Resolver, resolved: dict[str, str]) -> bool:
        """Does an ALLOW rule with this pattern cover every reading the server can reach?"""
        if self.glob is not None:
            return all(self.glob.matches(uri) for uri in readings.canonical)
        directory = self._resolved(resolver, resolved)
        return all(self._covers(directory, uri) for uri in readings.canonical)

    def _directory(self) -> str:
        if self.directory is None:  # pragma: no cover - only file patterns get here
            raise ValueError(f"{self.text!r} is not a file pattern")
        return self.directory

    def _resolved(self, resolver: Resolver, resolved: dict[str, str]) -> str:
        """The directory with its symlinks followed on the server being called (once per decision)."""
        directory = self._directory()
        found = resolved.get(directory)
        if found is None:
            found = resolved[directory] = normalise_path(directory, resolver)
        return found

    def _covers(self, directory: str, uri: str) -> bool:
        if not uri.startswith(_FILE):
            return False
        path = uri[len(_FILE) :]
        if self.rest is None:
            return path == directory
        prefix = directory if directory.endswith("/") else directory + "/"
        return path.startswith(prefix) and self.rest.matches(path[len(prefix) :])


def parse_uri_pattern(text: str) -> UriPattern:
    """Compile a ``uri_pattern`` (already a valid name or glob); ``ValueError`` says why no URI can match it."""
    if text.startswith("/"):  # lilith-zero's way: a bare path is a file: pattern
        return _file_pattern(text, text)
    if text == "~" or text.startswith("~/"):
        return _home_pattern(text)
    scheme, colon, after = text.partition(":")
    if colon and scheme and _SCHEME_CHARS.issuperset(scheme) and scheme != scheme.lower():
        raise ValueError(f"write the scheme in lower case ('{scheme.lower()}:'): URIs are compared that way")
    if not colon and text[:1] not in _WILDCARDS:
        raise ValueError(
            "a checked URI always has a scheme: write file:///absolute/path (or /absolute/path, ~/path), "
            "scheme://..., or start the pattern with a wildcard"
        )
    if scheme != "file" or not colon:
        return UriPattern(text, parse_name(text))
    if after.startswith("///"):
        return _file_pattern(text, after[2:])
    if after[:1] in _WILDCARDS or (after.startswith("//") and after[2:3] in _WILDCARDS):
        return UriPattern(text, parse_name(text))
    raise ValueError(
        "a file: pattern is written file:///absolute/path (a checked file URI has no host, not even localhost)"
    )


def _file_pattern(text: str, path: str) -> UriPattern:
    segments = _segments(_tokens(path))
    if segments == [[]]:  # "file:///" itself: the root
        return UriPattern(text, None, "/", None)
    literal: list[str] = []
    for index, segment in enumerate(segments):
        spelled = "".join(token.text for token in segment)
        if not segment:
            raise ValueError("an empty path segment ('//' or a trailing '/') never appears in a checked file URI")
        if any(token.literal and token.text == "\\" for token in segment):
            raise ValueError("a backslash never appears in a checked file URI (URL parsers read it as '/')")
        if all(token.literal for token in segment):
            if spelled in (".", ".."):
                raise ValueError(f"a '{spelled}' segment never appears in a checked file URI (write the path it means)")
            if "\x00" in spelled:
                raise ValueError("the pattern decodes to a path containing NUL")
            if is_drive_letter(spelled):
                raise ValueError(f"a Windows drive letter ('{spelled}') never appears in a checked file URI")
            if index == len(literal):
                literal.append(spelled)
    directory = "/" + "/".join(literal)
    remaining = segments[len(literal) :]
    if not remaining:
        return UriPattern(text, None, directory, None)
    rest = "/".join("".join(_glob_text(token) for token in segment) for segment in remaining)
    return UriPattern(text, None, directory, parse_name(rest))


def _home_pattern(text: str) -> UriPattern:
    """``~/path``: a file pattern under the home of the user the server runs as (as ``path_within`` reads
    ``~``), resolved when a URI is checked."""
    pattern = _file_pattern(text, text[1:] or "/")
    directory = pattern.directory or "/"
    pattern.directory = "~" if directory == "/" else "~" + directory
    return pattern


def _glob_text(token: _Token) -> str:
    return literal_glob(token.text) if token.literal else token.text


def _segments(tokens: list[_Token]) -> list[list[_Token]]:
    """Split at literal ``/`` (decoded ``%2F`` too: a requested URI's ``%2F`` separates as well); the
    leading ``/`` opens the first segment."""
    segments: list[list[_Token]] = []
    for token in tokens:
        if token.literal and token.text == "/":
            segments.append([])
        else:
            segments[-1].append(token)
    return segments


def _tokens(path: str) -> list[_Token]:
    """The path of a ``file:///`` pattern as literal characters (escapes decoded) and wildcards."""
    tokens: list[_Token] = []
    i = 0
    while i < len(path):
        ch = path[i]
        if ch == "\\":
            tokens.append(_Token(path[i + 1], True))  # the glob was validated: never a dangling '\'
            i += 2
        elif ch == "[":
            end = _class_end(path, i)
            tokens.append(_Token(path[i:end], False))
            i = end
        elif ch in "*?":
            tokens.append(_Token(ch, False))
            i += 1
        elif ch == "%":
            end = i
            while end < len(path) and path[end] == "%":
                end += 3
            tokens += [_Token(decoded, True) for decoded in _percent_decoded(path[i:end])]
            i = end
        else:
            tokens.append(_Token(ch, True))
            i += 1
    return tokens


def _class_end(path: str, start: int) -> int:
    """The index after the ``]`` closing the bracket expression at ``start`` (``]`` first is literal)."""
    i = start + 1
    if i < len(path) and path[i] == "!":
        i += 1
    first = True
    while i < len(path):
        if path[i] == "]" and not first:
            return i + 1
        first = False
        i += 2 if path[i] == "\\" else 1
    raise ValueError("unclosed '['")  # pragma: no cover - the glob was validated


def _percent_decoded(escapes: str) -> str:
    hex_digits = "0123456789abcdefABCDEF"
    if len(escapes) % 3 or any(
        escapes[k] != "%" or escapes[k + 1] not in hex_digits or escapes[k + 2] not in hex_digits
        for k in range(0, len(escapes), 3)
    ):
        raise ValueError("malformed percent-escape (write %XX with two hex digits, %25 for '%')")
    try:
        return bytes(int(escapes[k + 1 : k + 3], 16) for k in range(0, len(escapes), 3)).decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError("percent-escapes that do not decode to UTF-8 text") from None
