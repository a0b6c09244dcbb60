"""Tool pinning: trust on first use, then every tool must stay exactly as it was first seen (rug pulls).

A tool's pin is the SHA-256 of the canonical JSON (sorted keys, no spaces, UTF-8) of its ``name``,
``title``, ``description``, ``inputSchema``, ``outputSchema`` and ``annotations``, plus one digest per field
so a change can be named. The first complete ``tools/list`` of a server that has no pins yet pins every
tool in it (all pages, until a page without ``nextCursor``). From then on a tool whose pin differs is
*changed* and a tool without a pin is *new*; both are reported, and in ``enforce`` mode hidden from
``tools/list`` and refused on ``tools/call`` until someone accepts them (``lilith pin accept``).

Pure: the table is loaded and saved by the shell (``lilith.runtime.pin_store``), which hands a ``save``
callable in.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any, NamedTuple

PIN_FIELDS = ("name", "title", "description", "inputSchema", "outputSchema", "annotations")


class ToolPin(NamedTuple):
    digest: str
    fields: dict[str, str]  # field -> digest of that field alone (absent fields are absent)


class PinTable(NamedTuple):
    """One server's pins, and the changes seen but not accepted (so ``lilith pin accept`` can take them)."""

    pinned: dict[str, ToolPin]
    pending: dict[str, ToolPin]


class Finding(NamedTuple):
    tool: str
    change: str  # "changed" | "new"
    fields: tuple[str, ...]
    digest: str

    @property
    def reason(self) -> str:
        if self.change == "new":
            return f"tool '{self.tool}' appeared after this server's tools were pinned; it is not trusted yet"
        return f"tool '{self.tool}' changed since it was pinned ({', '.join(self.fields) or 'content'})"


def canonical_json(value: Any) -> bytes:
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return text.encode("utf-8", "surrogatepass")


def _digest(value: Any) -> str:
    return hashlib.sha256(canonical_json(value)).hexdigest()


def pin_tool(tool: dict[str, Any]) -> ToolPin:
    pinned = {field: tool[field] for field in PIN_FIELDS if field in tool}
    return ToolPin(_digest(pinned), {field: _digest(value) for field, value in pinned.items()})


def changed_fields(old: ToolPin, new: ToolPin) -> tuple[str, ...]:
    return tuple(field for field in PIN_FIELDS if old.fields.get(field) != new.fields.get(field))


# Changed or new tools waiting for `lilith pin accept`, per server: a server that lists more fails its listing
# (a flood of names must not grow the store and the session without bound).
MAX_PENDING = 4096


class PinReview:
    """One session's view of one server's pins. ``table`` is None when the server was never pinned."""

    __slots__ = ("_first_listing", "_flagged", "_save", "_unsaved", "table")

    def __init__(self, table: PinTable | None, save: Callable[[PinTable], None]) -> None:
        self.table = table if table is not None else PinTable({}, {})
        self._first_listing = table is None
        self._flagged: dict[str, Finding] = {}
        self._save = save
        self._unsaved = False  # a save failed: try again on the next listing rather than lose the pins

    def review(self, tools: list[Any], last_page: bool, *, save: bool = True) -> tuple[list[str], list[Finding]]:
        """Compare one page of a tools/list result with the pins: (names pinned now, findings). With
        ``save=False`` the caller saves (``save_pending``) once it has recorded what changed."""
        pinned_now: list[str] = []
        findings: list[Finding] = []
        dirty = False
        for tool in tools:
            name = tool.get("name") if isinstance(tool, dict) else None
            if not isinstance(name, str):
                continue  # not a tool a client could call; the name filter drops it
            pin = pin_tool(tool)
            old = self.table.pinned.get(name)
            if old is None and self._first_listing:
                self.table.pinned[name] = pin
                pinned_now.append(name)
                dirty = True
            elif old is None or old.digest != pin.digest:
                change = "new" if old is None else "changed"
                finding = Finding(name, change, () if old is None else changed_fields(old, pin), pin.digest)
                if name not in self.table.pending and len(self.table.pending) >= MAX_PENDING:
                    raise ValueError(f"more than {MAX_PENDING} tools wait for review: the listing is refused")
                findings.append(finding)
                self._flagged[name] = finding
                if self.table.pending.get(name) != pin:
                    self.table.pending[name] = pin
                    dirty = True
            else:
                self._flagged.pop(name, None)
                if self.table.pending.pop(name, None) is not None:
                    dirty = True  # it is back to what was pinned: nothing left to accept
        if last_page:
            self._first_listing = False
        if dirty or self._unsaved:
            self._unsaved = True
            if save:
                self.save_pending()
        return pinned_now, findings

    def save_pending(self) -> None:
        """Write the store if anything changed; raises if it cannot be written (the listing fails closed)."""
        if self._unsaved:
            self._save(self.table)
            self._unsaved = False

    def finding_for_call(self, tool: str) -> Finding | None:
        """Why a call to ``tool`` is not trusted, or None. A tool never listed yet is judged by the pins."""
        finding = self._flagged.get(tool)
        if finding is not None or self._first_listing or tool in self.table.pinned:
            return finding
        return Finding(tool, "new", (), "")
