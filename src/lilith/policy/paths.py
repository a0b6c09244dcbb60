"""Path and URI normalisation and containment for rules such as ``path_within: [/tmp, ~/projects]``.

A path rule is only as good as the agreement between what the policy *thinks* a path names and what
the server's ``open()`` will actually touch. Every step here exists to close a gap between the two:

* NUL is rejected outright: C-level APIs truncate at it, so ``"/tmp/ok\\x00/../../etc"`` can mean
  two different files to two different layers.
* ``~`` and ``~/...`` expand to the home directory of the user the server runs as (from the injected
  ``Resolver``). ``~other`` is rejected: whose home it means depends on the account database of the
  machine the server runs on, and guessing wrong silently widens a rule.
* Relative paths are made absolute against the *server's* working directory (``Resolver.cwd``),
  because that is what the server will resolve them against, not the proxy's.
* Symlinks are followed (``Resolver.realpath``) so a link inside an allowed directory that points at
  ``/etc`` is judged by where it leads. ``..`` is handed to ``realpath`` *unresolved*, in order,
  because the kernel resolves ``link/..`` to the parent of the link's *target*; collapsing ``..``
  lexically first would let ``/allowed/link/../secret`` pass as ``/allowed/secret`` while the server
  opens ``<target's parent>/secret``. Servers that normalise lexically before opening (``abspath``)
  see the other reading, so ``path_readings`` returns both and strict rules should hold for each.
* Links whose target depends on the process that follows them (``/proc/self``, ``/dev/fd``) name the
  proxy when it checks and the server when it opens; the resolver refuses paths through them
  (``lilith.runtime.resolver``), and a refused path fails every check.
* Containment is by whole path components: ``/tmp/root-evil`` is not inside ``/tmp/root``.
* Comparison is exact and case-sensitive, code point for code point, with no Unicode normalisation.
  On a case-insensitive or normalising filesystem (macOS APFS/HFS+ by default, Windows, some CIFS
  mounts) ``/ETC/passwd`` and ``/etc/passwd`` are one file but compare different here. That is safe
  for ``path_within`` (a case variant of an allowed path is denied, never the reverse) but *not* for
  ``path_not_within``: there, deploy only on case-sensitive filesystems or prefer allow-lists.
* The result of a normalisation is a comparison key, not a wire value: the proxy forwards the
  client's original argument unchanged, so this module never has to round-trip exactly.

Filesystem access happens only through the ``Resolver`` protocol so the policy package stays pure and
testable with a fake filesystem; the shell supplies a real resolver built on ``os.path``. A resolver
can only follow symlinks that exist at check time: a link created between the check and the server's
``open()`` (TOCTOU) is outside what any proxy can see.

URIs: ``file:`` URIs are decoded exactly once and then treated as paths (``%2e%2e`` is ``..`` and is
collapsed like any other; ``%00`` is a NUL and rejected; a host other than empty/``localhost`` names
another machine and is rejected). A raw ``?`` or ``#`` in a ``file:`` URI is rejected because
clients disagree on whether it is part of the file name. A URI that a WHATWG URL parser would read as
another one is refused rather than read two ways (``lilith.policy.whatwg``); a backslash in a ``file:`` URI
is refused escaped (``%5C``) too, and a Windows drive-letter segment however it is spelled. Other schemes
get RFC 3986 section 6.2.2 syntax-based normalisation only (case of scheme and host, decoding of unreserved
characters, upper-case hex in the remaining escapes, dot-segment removal); scheme-specific rules such as
default ports are not applied. Malformed percent-escapes, ASCII control characters and lone surrogates make a URI
invalid everywhere. ``uri_readings`` gives every form of a URI that resource rules consider: the canonical
ones (as ``path_readings``) and, for a BLOCK, the path as the client wrote it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple, Protocol
from urllib.parse import unquote_to_bytes

from lilith.policy.whatwg import check_whatwg_reading, is_drive_letter

__all__ = [
    "Resolver",
    "UriReadings",
    "check_path_syntax",
    "is_within",
    "normalise_file_uri",
    "normalise_path",
    "path_readings",
    "readings_within",
    "unresolved_reading",
    "uri_readings",
]

_HEX = frozenset("0123456789abcdefABCDEF")
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
_SCHEME_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+-.")


class Resolver(Protocol):
    """The only window onto the filesystem of the machine the MCP server runs on."""

    def home(self) -> str:
        """Absolute home directory of the user the server runs as."""
        ...

    def cwd(self) -> str:
        """Absolute working directory of the server process."""
        ...

    def realpath(self, path: str) -> str:
        """Follow existing symlinks in an absolute path, like ``os.path.realpath(path, strict=False)``.

        Must accept ``.``, ``..`` and repeated slashes and resolve them in order, as the kernel does.
        Raises ``ValueError`` for a path whose target it cannot know: one that passes through a link whose
        meaning depends on the process that opens it (``/proc/self``, ``/dev/fd``: the proxy's own process
        at check time, the server's at open time), or a symlink loop.
        """
        ...


def _lexical(path: str) -> str:
    """Collapse ``.``, ``..`` and repeated slashes of an absolute path purely as text.

    Unlike ``posixpath.normpath`` a leading ``//`` is collapsed too (Linux treats it as ``/``), and
    ``..`` at the root stays at the root.
    """
    out: list[str] = []
    for segment in path.split("/"):
        if segment in ("", "."):
            continue
        if segment == "..":
            if out:
                out.pop()
        else:
            out.append(segment)
    return "/" + "/".join(out)


def _absolute_dir(value: str, what: str) -> str:
    if not value.startswith("/") or "\x00" in value:
        raise ValueError(f"resolver returned a {what} that is not an absolute path: {value!r}")
    return value


def _absolute(raw: str, resolver: Resolver) -> str:
    """Validate ``raw``, expand ``~`` and anchor relative paths; ``..`` is left in place."""
    if not raw:
        raise ValueError("empty path")
    if "\x00" in raw:
        raise ValueError(f"path {raw!r} contains a NUL character")
    if raw == "~" or raw.startswith("~/"):
        raw = _absolute_dir(resolver.home(), "home directory") + "/" + raw[1:]
    elif raw.startswith("~"):
        user = raw[1:].split("/", 1)[0]
        raise ValueError(f"path {raw!r}: '~{user}' (another user's home) is ambiguous; write an absolute path")
    if not raw.startswith("/"):
        raw = _absolute_dir(resolver.cwd(), "working directory") + "/" + raw
    # Dropping empty and '.' segments never changes what the kernel resolves; '..' must stay in order.
    return "/" + "/".join(segment for segment in raw.split("/") if segment not in ("", "."))


def _resolve(path: str, resolver: Resolver) -> str:
    resolved = resolver.realpath(path)
    if not resolved.startswith("/") or "\x00" in resolved:
        raise ValueError(f"resolver returned a non-absolute path for {path!r}: {resolved!r}")
    return _lexical(resolved)


def normalise_path(raw: str, resolver: Resolver) -> str:
    """The absolute, symlink-free, normal-form path that ``open(raw)`` in the server would reach.

    Raises ``ValueError`` for an empty path, a NUL, or ``~user``.
    """
    return _resolve(_absolute(raw, resolver), resolver)


def path_readings(raw: str, resolver: Resolver) -> frozenset[str]:
    """Every path ``raw`` can plausibly name: the kernel's reading (``normalise_path``) and the
    reading of a server that collapses ``..`` lexically before opening. They differ only when ``..``
    follows a symlink. A ``path_within`` rule should hold for all readings; ``path_not_within``
    should deny if any reading is inside.
    """
    return frozenset(_resolved_readings(_absolute(raw, resolver), resolver))


def _resolved_readings(absolute: str, resolver: Resolver) -> tuple[str, ...]:
    """The kernel's reading first; the lexical one only when there is a ``..`` to read two ways (so a path
    without one is resolved once: one look at the filesystem, one answer)."""
    kernel = _resolve(absolute, resolver)
    lexical = _lexical(absolute)
    return (kernel,) if lexical == absolute else (kernel, _resolve(lexical, resolver))


def unresolved_reading(raw: str, resolver: Resolver) -> str:
    """``raw`` as written: ``~`` expanded, anchored at the server's cwd, dot segments collapsed as text, and no
    symlink followed. Not what ``open()`` reaches, but what the writer named; rules that restrict also hold it
    to account (a BLOCK on ``/secrets/*`` covers ``/secrets/link`` wherever the link points)."""
    return _lexical(_absolute(raw, resolver))


class NoFilesystem:
    """A resolver for checking the syntax of a policy's paths at load time (no filesystem is touched)."""

    def home(self) -> str:
        return "/home"

    def cwd(self) -> str:
        return "/"

    def realpath(self, path: str) -> str:
        return path


def check_path_syntax(raw: str) -> None:
    """Raise ``ValueError`` when ``raw`` can never be read as a path (empty, NUL, ``~user``)."""
    _absolute(raw, NoFilesystem())


def readings_within(raw: str, roots: Sequence[str], resolver: Resolver) -> tuple[bool, ...]:
    """For each reading of ``raw`` (``unresolved_reading`` and every ``path_readings`` one), whether it lies
    within one of ``roots``. A root counts both as written and with its symlinks resolved, so each reading
    meets the root in its own terms. Raises ``ValueError`` when ``raw`` or a root cannot be read as a path."""
    forms: list[str] = []
    for root in roots:
        forms += (unresolved_reading(root, resolver), normalise_path(root, resolver))
    readings = path_readings(raw, resolver) | {unresolved_reading(raw, resolver)}
    return tuple(is_within(reading, forms) for reading in sorted(readings))


def _check_normal(path: str, what: str) -> None:
    if not path.startswith("/") or _lexical(path) != path:
        raise ValueError(f"{what} {path!r} is not a normalised absolute path (normalise it first)")


def is_within(path: str, roots: Sequence[str]) -> bool:
    """True when ``path`` equals one of ``roots`` or lies below it, by whole path components.

    Both sides must already be normalised absolute paths (``normalise_path`` with the same resolver,
    so a root that is itself a symlink, such as ``/tmp`` on macOS, compares correctly); anything else
    raises ``ValueError`` rather than giving an answer that depends on spelling.
    """
    _check_normal(path, "path")
    for root in roots:
        _check_normal(root, "root")
        if path == root or path.startswith(root.rstrip("/") + "/"):  # rstrip: the root "/" itself
            return True
    return False


def _reject_controls(uri: str) -> None:
    for ch in uri:
        if ch < " " or ch == "\x7f":
            raise ValueError(f"URI {uri!r} contains a control character")
        if "\ud800" <= ch <= "\udfff":
            raise ValueError(f"URI {uri!r} contains a lone surrogate and is not valid Unicode text")


def _check_escapes(text: str, uri: str) -> None:
    i = text.find("%")
    while i != -1:
        if i + 2 >= len(text) or text[i + 1] not in _HEX or text[i + 2] not in _HEX:
            raise ValueError(f"URI {uri!r} has a malformed percent-escape")
        i = text.find("%", i + 3)


def _decode_once(text: str, uri: str) -> str:
    _check_escapes(text, uri)
    try:
        return unquote_to_bytes(text).decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"URI {uri!r} percent-decodes to bytes that are not UTF-8") from None


def _normalise_escapes(text: str, uri: str) -> str:
    """RFC 3986 6.2.2.1/6.2.2.2: decode escaped unreserved characters, upper-case the other escapes."""
    _check_escapes(text, uri)
    out: list[str] = []
    i = 0
    while i < len(text):
        if text[i] == "%":
            decoded = chr(int(text[i + 1 : i + 3], 16))
            out.append(decoded if decoded in _UNRESERVED else text[i : i + 3].upper())
            i += 3
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def _remove_dot_segments(path: str) -> str:
    """RFC 3986 section 5.2.4, on index positions rather than repeated slicing (linear time)."""
    out: list[str] = []
    i = 0
    n = len(path)
    while i < n:
        if path.startswith("../", i):
            i += 3
        elif path.startswith("./", i) or path.startswith("/./", i):
            i += 2
        elif path.startswith("/..", i) and (i + 3 == n or path[i + 3] == "/"):
            i += 3
            if out:
                out.pop()
            if i == n:
                out.append("/")
        elif path.startswith("/.", i) and i + 2 == n:
            out.append("/")
            i = n
        elif path[i:] in (".", ".."):
            i = n
        else:
            end = path.find("/", i + 1)
            end = n if end == -1 else end
            out.append(path[i:end])
            i = end
    return "".join(out)


def _file_uri_path(uri: str, rest: str) -> str:
    """The decoded absolute path of a ``file:`` URI (``rest`` follows ``file:``), not yet normalised."""
    if "?" in rest or "#" in rest:
        raise ValueError(f"file URI {uri!r} contains a raw '?' or '#'; percent-encode it as part of the name")
    if rest.startswith("//"):
        authority, slash, tail = rest[2:].partition("/")
        host = _decode_once(authority, uri).lower()
        if host not in ("", "localhost"):
            raise ValueError(
                f"file URI {uri!r} names host {host!r}; only local files (no host or localhost) are allowed"
            )
        if not slash:
            raise ValueError(f"file URI {uri!r} has no path")
        path = "/" + tail
    elif rest.startswith("/"):
        path = rest
    else:
        raise ValueError(f"file URI {uri!r} is not absolute")
    decoded = _decode_once(path, uri)
    if "\x00" in decoded:
        raise ValueError(f"file URI {uri!r} decodes to a path containing NUL")
    if "\\" in decoded:  # raw: refused already; '%5C' is a name character to fileURLToPath, '/' to a re-parse
        raise ValueError(f"file URI {uri!r} decodes to a path containing a backslash ('\\' or '%5C')")
    if any(is_drive_letter(segment) for segment in decoded.split("/")):
        raise ValueError(
            f"file URI {uri!r} has a Windows drive-letter segment, which URL parsers never remove with '..'"
        )
    return decoded


def _generic_uri(scheme: str, rest: str, uri: str) -> str:
    rest, hash_mark, fragment = rest.partition("#")
    rest, question, query = rest.partition("?")
    authority: str | None = None
    path = rest
    if rest.startswith("//"):
        end = rest.find("/", 2)
        end = len(rest) if end == -1 else end
        authority, path = rest[2:end], rest[end:]
    out = [scheme, ":"]
    if authority is not None:
        userinfo, at, hostport = authority.rpartition("@")
        out += ["//", _normalise_escapes(userinfo, uri), at, _normalise_escapes(hostport, uri).lower()]
    path = _normalise_escapes(path, uri)
    out.append(_remove_dot_segments(path) if path.startswith("/") else path)
    if question:
        out += ["?", _normalise_escapes(query, uri)]
    if hash_mark:
        out += ["#", _normalise_escapes(fragment, uri)]
    return "".join(out)


def _split_scheme(uri: str) -> tuple[str, str]:
    _reject_controls(uri)
    scheme, colon, rest = uri.partition(":")
    if not colon or not scheme or not scheme[0].isascii() or not scheme[0].isalpha():
        raise ValueError(f"{uri!r} is not an absolute URI (no scheme)")
    if any(ch not in _SCHEME_CHARS for ch in scheme):
        raise ValueError(f"{uri!r} has an invalid scheme {scheme!r}")
    check_whatwg_reading(scheme.lower(), rest, uri)
    return scheme.lower(), rest


class UriReadings(NamedTuple):
    """The forms of one resource URI that rules meet (``uri_readings``)."""

    shown: str  # the canonical URI (``normalise_file_uri``), for messages
    written: str  # a file: URI's path as written (``unresolved_reading``); other schemes: ``shown``
    canonical: frozenset[str]  # what the server can reach: every ``path_readings`` one; other schemes: {shown}


def uri_readings(uri: str, resolver: Resolver) -> UriReadings:
    """Every form of ``uri`` a resource rule must consider, as ``file://`` + path for ``file:`` URIs.

    ``canonical`` holds what opening it can reach (the kernel's reading and the one of a server that
    collapses ``..`` before following symlinks, as WHATWG URL parsers do); ``written`` holds the path the
    client named. Raises ``ValueError`` like ``normalise_file_uri``.
    """
    scheme, rest = _split_scheme(uri)
    if scheme != "file":
        generic = _generic_uri(scheme, rest, uri)
        return UriReadings(generic, generic, frozenset({generic}))
    decoded = _file_uri_path(uri, rest)
    absolute = _absolute(decoded, resolver)
    readings = ["file://" + reading for reading in _resolved_readings(absolute, resolver)]
    return UriReadings(readings[0], "file://" + _lexical(absolute), frozenset(readings))


def normalise_file_uri(uri: str, resolver: Resolver) -> str:
    """Canonical form of a resource URI for comparison against policy rules.

    ``file:`` URIs become ``"file://" + normalise_path(decoded path)`` (so ``file:///%65tc/passwd``
    becomes ``file:///etc/passwd``); other schemes get RFC 3986 syntax-based normalisation. Raises
    ``ValueError`` for anything that is not an absolute URI or that cannot be read unambiguously.
    """
    scheme, rest = _split_scheme(uri)
    if scheme == "file":
        return "file://" + normalise_path(_file_uri_path(uri, rest), resolver)
    return _generic_uri(scheme, rest, uri)
