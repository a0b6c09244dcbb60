"""``lilith pin show|accept|reset``: review and manage the tool pins that rug-pull detection relies on.

A server is named by its command line exactly as Lilith ran it (``lilith pin show`` lists them). ``accept``
trusts the changed and new tools that a session saw and refused (the store keeps them as "pending");
``reset`` forgets a server's pins, so its next listing is pinned afresh. Changes apply to later sessions.
"""

from __future__ import annotations

import argparse
import sys

from lilith.errors import LilithError

# Every `lilith` command imports this module, `lilith run` on its start-up path; `typing` alone costs
# several milliseconds there, so the names below exist for the type checker only.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable

    from lilith.policy.pins import ToolPin
    from lilith.runtime.pin_store import PinStore

EXIT_USAGE = 2


def add_pin_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    pin = commands.add_parser("pin", help="review tool pins (rug-pull detection)")
    pin_commands = pin.add_subparsers(dest="pin_command", required=True)
    helps = {
        "show": "list pinned servers and tools, and changes waiting to be accepted",
        "accept": "trust the changed or new tools a session refused (all of a server's, or --tool NAME ...)",
        "reset": "forget the pins of a server (or of every server): the next listing is pinned afresh",
    }
    for name, text in helps.items():
        command = pin_commands.add_parser(name, help=text)
        command.add_argument("--pin-store", metavar="FILE", help="the pin store (default: as `lilith run` finds it)")
        command.add_argument(
            "--server", metavar="KEY", help="the server's command line, as `lilith pin show` prints it"
        )
        if name == "show":
            command.add_argument("--json", action="store_true", help="print the store as JSON")
        if name == "accept":
            command.add_argument("--tool", nargs="+", metavar="NAME", help="accept only these tools")


def run_pin_command(args: argparse.Namespace) -> int:
    from lilith.runtime.pin_store import PinStore, choose_pin_store

    store = PinStore(choose_pin_store(args.pin_store))
    try:
        if args.pin_command == "show":
            return _show(store, args.server, args.json)
        if args.pin_command == "accept":
            return _accept(store, args.server, args.tool)
        return _reset(store, args.server)
    except LilithError as exc:
        print(f"lilith pin: {_printable(str(exc))}", file=sys.stderr)
        return EXIT_USAGE


def _show(store: PinStore, server: str | None, as_json: bool) -> int:
    servers = store.servers()
    if server is not None:
        if server not in servers:
            return _unknown(store, server, servers)
        servers = {server: servers[server]}
    if as_json:
        import json

        print(json.dumps(servers, indent=2, sort_keys=True))  # ASCII only: every other character escaped
        return 0
    if not servers:
        print(f"{_printable(store.path)}: no pinned servers")
    for key, entry in sorted(servers.items()):
        table = store.load(key)
        if table is None:
            continue
        updated = entry.get("updated", "?")
        print(f"{_printable(key)}\n  {len(table.pinned)} tools pinned (updated {_printable(str(updated))})")
        for name, pin in sorted(table.pinned.items()):
            print(f"    {_name(name)}  {pin.digest[:16]}")
        for name, pin in sorted(table.pending.items()):
            old = table.pinned.get(name)
            what = "new" if old is None else "changed: " + ", ".join(_changed(old, pin))
            print(f"  pending  {_name(name)} ({what})")
    return 0


def _accept(store: PinStore, server: str | None, tools: list[str] | None) -> int:
    with store.locked():  # a session that saves meanwhile waits, and what it saved is not lost
        servers = store.servers()
        if server is None:
            waiting = [key for key in servers if (table := store.load(key)) is not None and table.pending]
            if len(waiting) != 1:
                print("lilith pin accept: name the server with --server KEY; changes wait for:", file=sys.stderr)
                for key in waiting or ["(none)"]:
                    print(f"  {_printable(key)}", file=sys.stderr)
                return EXIT_USAGE
            server = waiting[0]
        table = store.load(server)
        if table is None:
            return _unknown(store, server, servers)
        chosen = sorted(table.pending if tools is None else set(tools))
        missing = [name for name in chosen if name not in table.pending]
        if missing:
            print(f"lilith pin accept: no pending change for {', '.join(map(_name, missing))}", file=sys.stderr)
            return EXIT_USAGE
        for name in chosen:
            table.pinned[name] = table.pending.pop(name)
        store.save(server, table)
    for name in chosen:
        print(f"accepted {_name(name)}")
    return 0


def _reset(store: PinStore, server: str | None) -> int:
    with store.locked():
        keys = list(store.servers()) if server is None else [server]
        for key in keys:
            if not store.remove(key):
                return _unknown(store, key, store.servers())
    for key in keys:
        print(f"reset {_printable(key)}")
    return 0


def _unknown(store: PinStore, server: str, servers: Iterable[str]) -> int:
    print(f"lilith pin: {_printable(store.path)} has no server {server!r}; it has:", file=sys.stderr)
    for key in sorted(servers) or ["(none)"]:
        print(f"  {_printable(key)}", file=sys.stderr)
    return EXIT_USAGE


def _printable(text: str) -> str:
    """Text as the terminal may show it: what is not printable (escape sequences, controls, bidi
    overrides) as JSON escapes, as ``lilith audit tail`` shows it, so it cannot move the cursor, erase
    lines, retitle the window or pass for another line of the listing."""
    from lilith.audit.render import _safe

    return _safe(text)


def _name(name: str) -> str:
    """A tool name the server chose: as it is when it is printable ASCII without spaces, quotes or
    backslashes (every name the specification allows), else as a JSON string with ASCII escapes, so a
    look-alike (Cyrillic ``е``) or a name made to look like more of the listing stands out."""
    if name.isascii() and name.isprintable() and name and not any(ch in name for ch in ' "\\'):
        return name
    import json

    return json.dumps(name)


def _changed(old: ToolPin, new: ToolPin) -> list[str]:
    from lilith.policy.pins import changed_fields

    return list(changed_fields(old, new)) or ["content"]
