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
clients disagree on whether it is part of the file name. Other schemes get RFC 3986 section 6.2.2
syntax-based normalisation only (case of scheme and host, decoding of unreserved characters,
upper-case hex in the remaining escapes, dot-segment removal); scheme-specific rules such as
default ports are not applied. Malformed percent-escapes, ASCII control characters and lone surrogates make a URI
invalid everywhere.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol
from urllib.parse import unquote_to_bytes

__all__ = ["Resolver", "is_within", "normalise_file_uri", "normalise_path", "path_readings"]

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
    absolute = _absolute(raw, resolver)
    return frozenset({_resolve(absolute, resolver), _resolve(_lexical(absolute), resolver)})


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


def _file_uri(uri: str, rest: str, resolver: Resolver) -> str:
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
    return "file://" + normalise_path(decoded, resolver)


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


def normalise_file_uri(uri: str, resolver: Resolver) -> str:
    """Canonical form of a resource URI for comparison against policy rules.

    ``file:`` URIs become ``"file://" + normalise_path(decoded path)`` (so ``file:///%65tc/passwd``
    becomes ``file:///etc/passwd``); other schemes get RFC 3986 syntax-based normalisation. Raises
    ``ValueError`` for anything that is not an absolute URI or that cannot be read unambiguously.
    """
    _reject_controls(uri)
    scheme, colon, rest = uri.partition(":")
    if not colon or not scheme or not scheme[0].isascii() or not scheme[0].isalpha():
        raise ValueError(f"{uri!r} is not an absolute URI (no scheme)")
    if any(ch not in _SCHEME_CHARS for ch in scheme):
        raise ValueError(f"{uri!r} has an invalid scheme {scheme!r}")
    scheme = scheme.lower()
    if scheme == "file":
        return _file_uri(uri, rest, resolver)
    return _generic_uri(scheme, rest, uri)
