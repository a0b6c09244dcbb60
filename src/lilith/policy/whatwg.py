"""Where a WHATWG URL parser reads a URI differently from ``lilith.policy.paths``, so the URI is refused.

Servers parse resource URIs with WHATWG parsers: Node's ``URL`` (the TypeScript SDK's ``McpServer`` runs
``new URL(uri)`` on every ``resources/read``; ``fileURLToPath`` opens the result) and Rust's ``url`` crate
(behind pydantic's ``AnyUrl``, the Python SDK's resource URIs). Reading the URI two ways, as ``uri_readings``
does for ``..`` after a symlink, would not do: these parsers *rewrite* it, so the rules would be compared with
a name the client never sent. Refused instead:

* a backslash in a special scheme (``file``, ``http(s)``, ``ws(s)``, ``ftp``): it is ``/`` to the parser, so
  ``file:///tmp/pub/x\\..\\..\\secret`` is ``/tmp/secret`` to it and one odd file name in ``/tmp/pub`` to a
  path normaliser;
* a leading or trailing space: trimmed (``file:///tmp/secret `` is ``/tmp/secret``);
* a Windows drive-letter segment (``C:``, ``C|``) in a ``file:`` URI: ``..`` never removes it
  (``file:///C:/../etc`` is ``/C:/etc``), on POSIX too;
* a special URI other than ``file:`` whose host is not right after ``//`` (``https:evil.example/x``,
  ``https:///evil.example/x``): the parser finds the host anyway.

Tabs, newlines and the other controls that the parser drops are refused by ``paths`` with every control
character, and its ``%2e`` dot segments are the decoded dot segments ``paths`` collapses anyway.
"""

from __future__ import annotations

# The special schemes: a backslash is '/' in them and they always have a host (file: an empty one).
_SPECIAL_SCHEMES = frozenset({"file", "http", "https", "ws", "wss", "ftp"})
_ASCII_LETTERS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
# What the parser trims from both ends of its input (C0 controls and space) and removes anywhere.
_TRIMMED = frozenset(chr(code) for code in range(0x21))
_REMOVED = frozenset("\t\n\r")


def check_whatwg_reading(scheme: str, rest: str, uri: str) -> None:
    """Raise ``ValueError`` when a WHATWG parser reads ``uri`` (``scheme`` in lower case, then ``:`` and
    ``rest``) as another URI. Drive letters are checked on the decoded path (``is_drive_letter``)."""
    if uri[:1] == " " or uri[-1:] == " ":
        raise ValueError(f"URI {uri!r} starts or ends with a space, which URL parsers trim (another name)")
    if scheme not in _SPECIAL_SCHEMES:
        return
    if "\\" in rest:
        raise ValueError(f"URI {uri!r} contains a backslash, which URL parsers read as '/' in {scheme}: URIs")
    if scheme != "file" and (not rest.startswith("//") or rest[2:3] in ("", "/", "?", "#")):
        raise ValueError(f"{scheme}: URI {uri!r} does not name its host after '//' (URL parsers find one anyway)")


def is_drive_letter(segment: str) -> bool:
    """A Windows drive letter (``C:`` or ``C|``), which a ``file:`` URL parser keeps when ``..`` follows."""
    return len(segment) == 2 and segment[0] in _ASCII_LETTERS and segment[1] in ":|"


def reads_as_file_uri(text: str) -> bool:
    """Would a WHATWG parser read ``text`` as a ``file:`` URL? It trims leading C0 controls and spaces, drops
    tabs and newlines anywhere and ignores the scheme's case, so a leading space, a tab inside ``file`` or
    ``FILE:`` still make one."""
    head: list[str] = []
    for char in text:
        if (not head and char in _TRIMMED) or char in _REMOVED:
            continue
        head.append(char)
        if len(head) == 5:
            break
    return "".join(head).lower() == "file:"
