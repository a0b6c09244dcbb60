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
    refusal: str = ""  # set when the listing is refused for this tool (a store limit): why

    @property
    def reason(self) -> str:
        if self.refusal:
            return self.refusal
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


# What one server may keep in the store every server shares, so that a hostile listing cannot make every
# other server's sessions slow to start or to save: a listing that would go beyond a limit is refused whole
# (the client gets an error for it, the refusal is audited as a pin finding) and nothing of it is stored.
MAX_PENDING = 4096  # changed or new tools waiting for `lilith pin accept`
MAX_PINNED_TOOLS = 10_000  # pinned tools
MAX_PIN_NAME_LENGTH = 512  # code points of a stored name: four times the MCP guidance's 128
MAX_STORED_BYTES = 4 << 20  # about what the server's pins and pending changes take in the store file
_PIN_BYTES = 100  # a stored pin beside its name and fields: {"fields":{..},"sha256":"<64 hex>"} and separators
_FIELD_BYTES = 90  # one field's digest: "inputSchema":"<64 hex>",


def stored_size(name: str, pin: ToolPin) -> int:
    """About how many bytes ``pin`` takes in the store (names are written with non-ASCII escaped)."""
    return len(json.dumps(name)) + _PIN_BYTES + _FIELD_BYTES * len(pin.fields)


class PinReview:
    """One session's view of one server's pins. ``table`` is None when the server was never pinned."""

    __slots__ = ("_first_listing", "_flagged", "_refused", "_save", "_stored", "_unsaved", "table")

    def __init__(self, table: PinTable | None, save: Callable[[PinTable], None]) -> None:
        self.table = table if table is not None else PinTable({}, {})
        self._first_listing = table is None
        self._flagged: dict[str, Finding] = {}
        self._save = save
        self._unsaved = False  # a save failed: try again on the next listing rather than lose the pins
        self._refused: str | None = None  # a listing went beyond a store limit: the next save raises this
        self._stored = sum(stored_size(name, pin) for pins in self.table for name, pin in pins.items())

    def review(self, tools: list[Any], last_page: bool, *, save: bool = True) -> tuple[list[str], list[Finding]]:
        """Compare one page of a tools/list result with the pins: (names pinned now, findings). With
        ``save=False`` the caller saves (``save_pending``) once it has recorded what changed. A page that
        would take the server beyond a store limit changes nothing and yields one finding, the refusal; the
        save then raises, so the listing fails closed."""
        pinned_now: list[str] = []
        findings: list[Finding] = []
        to_pin: dict[str, ToolPin] = {}
        to_flag: dict[str, ToolPin] = {}
        back: set[str] = set()  # listed as pinned again: a pending change of theirs is void
        pinned = self.table.pinned
        for tool in tools:
            name = tool.get("name") if isinstance(tool, dict) else None
            if not isinstance(name, str):
                continue  # not a tool a client could call; the name filter drops it
            pin = pin_tool(tool)
            old = pinned.get(name, to_pin.get(name))  # a name listed twice is judged against its first
            if old is None and self._first_listing:
                to_pin[name] = pin
            elif old is None or old.digest != pin.digest:
                change = "new" if old is None else "changed"
                findings.append(Finding(name, change, () if old is None else changed_fields(old, pin), pin.digest))
                to_flag[name] = pin
            else:
                back.add(name)
        refusal = self._over_limit(to_pin, to_flag, back)
        if refusal is not None:
            self._refused = refusal.refusal
            if save:
                self.save_pending()
            return [], [refusal]
        dirty = self._apply(to_pin, to_flag, back)
        pinned_now = list(to_pin)
        for finding in findings:
            self._flagged[finding.tool] = finding
        if last_page:
            self._first_listing = False
        if dirty or self._unsaved:
            self._unsaved = True
            if save:
                self.save_pending()
        return pinned_now, findings

    def _over_limit(self, to_pin: dict[str, ToolPin], to_flag: dict[str, ToolPin], back: set[str]) -> Finding | None:
        """The refusal, if storing this page would take the server beyond a limit; None if it fits. Only a
        page that adds to the store is refused (a store written before these limits stays usable)."""
        pinned, pending = self.table
        for name, pin in (*to_pin.items(), *to_flag.items()):
            if len(name) > MAX_PIN_NAME_LENGTH:
                return _refusal(
                    name, pin, f"a tool name of {len(name)} characters (at most {MAX_PIN_NAME_LENGTH} are pinned)"
                )
        if to_pin and len(pinned) + len(to_pin) > MAX_PINNED_TOOLS:
            name, pin = next(reversed(to_pin.items()))
            return _refusal(
                name, pin, f"the server lists more than {MAX_PINNED_TOOLS} tools (at most that many are pinned)"
            )
        waiting = len(pending.keys() - back | to_flag.keys())
        if waiting > MAX_PENDING and waiting > len(pending):
            name, pin = next(reversed(to_flag.items()))
            return _refusal(name, pin, f"more than {MAX_PENDING} tools wait for review")
        size = self._stored + sum(stored_size(name, pin) for name, pin in to_pin.items())
        size += sum(stored_size(name, pin) - _size_of(name, pending.get(name)) for name, pin in to_flag.items())
        size -= sum(_size_of(name, pending.get(name)) for name in back)
        if size > MAX_STORED_BYTES and size > self._stored:
            name, pin = next(reversed((to_pin | to_flag).items()))
            return _refusal(
                name, pin, f"the server's pins would take more than {MAX_STORED_BYTES >> 20} MiB of the store"
            )
        return None

    def _apply(self, to_pin: dict[str, ToolPin], to_flag: dict[str, ToolPin], back: set[str]) -> bool:
        """Store what one page changed; whether anything did."""
        pinned, pending = self.table
        dirty = False
        for name, pin in to_pin.items():
            self._stored += stored_size(name, pin) - _size_of(name, pinned.get(name))
            pinned[name] = pin
            dirty = True
        for name, pin in to_flag.items():
            if pending.get(name) != pin:
                self._stored += stored_size(name, pin) - _size_of(name, pending.get(name))
                pending[name] = pin
                dirty = True
        for name in back:
            self._flagged.pop(name, None)
            old = pending.pop(name, None)
            if old is not None:
                self._stored -= stored_size(name, old)
                dirty = True  # it is back to what was pinned: nothing left to accept
        return dirty

    def save_pending(self) -> None:
        """Write the store if anything changed; raises if it cannot be written, or if the listing was refused
        (the listing fails closed)."""
        if self._refused is not None:
            refused, self._refused = self._refused, None
            raise ValueError(refused)
        if self._unsaved:
            self._save(self.table)
            self._unsaved = False

    def finding_for_call(self, tool: str) -> Finding | None:
        """Why a call to ``tool`` is not trusted, or None. A tool never listed yet is judged by the pins."""
        finding = self._flagged.get(tool)
        if finding is not None or self._first_listing or tool in self.table.pinned:
            return finding
        return Finding(tool, "new", (), "")


def _size_of(name: str, pin: ToolPin | None) -> int:
    return 0 if pin is None else stored_size(name, pin)


def _refusal(name: str, pin: ToolPin, why: str) -> Finding:
    return Finding(name, "new", (), pin.digest, f"{why}: the listing is refused, nothing of it is pinned")
