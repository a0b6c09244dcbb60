"""Tool poisoning and rug pulls: instructions hidden in definitions, and definitions that change after
they were approved."""

from __future__ import annotations

import json
from typing import Any

from tests.redteam.attack_classes import reference
from tests.redteam.catalogue.listings import (
    INVARIANT,
    POISON,
    SPEC_LIST_CHANGED,
    listing,
    original,
    scripted_list,
    tool,
)
from tests.redteam.model import (
    MODERN,
    Answered,
    AwaitAnswer,
    Case,
    Denied,
    Listed,
    Ref,
    Send,
    call,
    emit,
    notification,
    request,
    script,
    sends,
    server_line,
)
from tests.servers.hostile_server import TOOLS

POISONING_CASES = [
    Case(
        "RT-TPO-001",
        "tool-poisoning",
        "a poisoned description on a denied tool never reaches the client",
        scripted_list([tool("delete_file", POISON), original("echo")]),
        (Listed("tools", present=("echo",), absent=("delete_file",), ref=Ref(2)),),
        f"{reference('tool-poisoning')}; {INVARIANT}",
        client_must_not_see=("<IMPORTANT>",),
    ),
    Case(
        "RT-TPO-002",
        "tool-poisoning",
        "a poisoned tool that no rule mentions never reaches the client",
        scripted_list([tool("sidenote_helper", POISON), original("echo")]),
        (Listed("tools", present=("echo",), absent=("sidenote_helper",), ref=Ref(2)),),
        f"{reference('tool-poisoning')}; {INVARIANT}",
        client_must_not_see=("<IMPORTANT>",),
    ),
    Case(
        "RT-TPO-003",
        "tool-poisoning",
        "hidden instructions in an ALLOWED tool's description are caught",
        scripted_list([{**original("add"), "description": "Adds two numbers. " + POISON}]),
        (Answered(Ref(2)),),
        f"{reference('tool-poisoning')}; {INVARIANT}",
        isolated=True,  # leaves the poisoned entry hidden and denied: a fresh Lilith spares later cases
        client_must_not_see=("<IMPORTANT>",),
    ),
    Case(
        "RT-TPO-004",
        "tool-poisoning",
        "hidden instructions in an allowed tool's input schema are caught",
        scripted_list(
            [
                {
                    **original("add"),
                    "inputSchema": {
                        "type": "object",
                        "properties": {"a": {"type": "number"}, "sidenote": {"type": "string", "description": POISON}},
                    },
                }
            ]
        ),
        (Answered(Ref(2)),),
        f"{reference('tool-poisoning')}; CyberArk, Full-Schema Poisoning (2025)",
        isolated=True,  # leaves add hidden and denied: a fresh Lilith spares later cases
        client_must_not_see=("<IMPORTANT>",),
    ),
    Case(
        "RT-TPO-005",
        "tool-poisoning",
        "the poisoned tool's exfiltration channel: config smuggled in an extra argument",
        sends(call("add", {"a": 1, "b": 2, "sidenote": json.dumps({"mcpServers": {"github": {"env": {}}}})})),
        (Denied("add-numbers-only"),),
        f"{reference('tool-poisoning')}; {INVARIANT}",
        server_must_not_receive=("mcpServers",),
    ),
    Case(
        "RT-TPO-006",
        "tool-poisoning",
        "2026-07-28: a poisoned denied tool is filtered from the list too",
        scripted_list([tool("delete_file", POISON), original("echo")]),
        (Listed("tools", present=("echo",), absent=("delete_file",), ref=Ref(2)),),
        f"{reference('tool-poisoning')}; {INVARIANT}",
        era=MODERN,
        client_must_not_see=("<IMPORTANT>",),
    ),
    Case(
        "RT-TPO-007",
        "tool-poisoning",
        "a poisoned description on a prompt no rule allows never reaches the client",
        scripted_list(
            [{"name": "exfiltrate", "description": POISON}, {"name": "review_code"}], "prompts/list", "prompts"
        ),
        (Listed("prompts", present=("review_code",), absent=("exfiltrate",), ref=Ref(2)),),
        f"{reference('tool-poisoning')}; {INVARIANT}",
        client_must_not_see=("<IMPORTANT>",),
    ),
    Case(
        "RT-TPO-008",
        "tool-poisoning",
        "a poisoned description on a resource that may not be read never reaches the client",
        scripted_list(
            [
                {"uri": "file://@ROOT@/secret/key.txt", "name": "key", "description": POISON},
                {"uri": "file://@ROOT@/allowed/notes.txt", "name": "notes"},
            ],
            "resources/list",
            "resources",
        ),
        (Listed("resources", present=("notes",), absent=("key",), ref=Ref(2)),),
        f"{reference('tool-poisoning')}; {INVARIANT}",
        client_must_not_see=("<IMPORTANT>",),
    ),
    Case(
        "RT-TPO-009",
        "tool-poisoning",
        "hidden instructions in an ALLOWED prompt's description are caught",
        scripted_list([{"name": "review_code", "description": "Review code. " + POISON}], "prompts/list", "prompts"),
        (Answered(Ref(2)),),
        f"{reference('tool-poisoning')}; {INVARIANT}",
        isolated=True,  # leaves the poisoned entry hidden and denied: a fresh Lilith spares later cases
        client_must_not_see=("<IMPORTANT>",),
    ),
]

LISTED_BY_PIN_POLICY = ("echo", "add", "read_file")


def rug_pull(case_id: str, title: str, changed: list[dict[str, Any]], victim: str, notify: bool = True) -> Case:
    """The server's first list is pinned; its second differs. Both answers are scripted up front, because
    once the tools are pinned the (unlisted) scripting tools are themselves new, untrusted tools. The first
    answer is followed by ``list_changed`` (unless the change is silent); the client lists again, waits
    for the list, and only then calls the changed tool, as a real client would."""
    first = [server_line(id="{id}", result={"tools": [dict(t) for t in TOOLS]})]
    if notify:
        first.append(json.dumps(notification("notifications/tools/list_changed")))
    steps = (
        Send(script("tools/list", first, Ref(2))),
        Send(listing(changed, ref=Ref(3))),
        AwaitAnswer(Ref(3)),
        Send(request("tools/list", ref=Ref(1))),
        AwaitAnswer(Ref(1)),
        Send(request("tools/list", ref=Ref(4))),
        AwaitAnswer(Ref(4)),
        Send(call(victim, {"a": 1, "b": 2}, Ref(5))),
    )
    return Case(
        case_id,
        "rug-pull",
        title,
        steps,
        (
            Listed("tools", present=LISTED_BY_PIN_POLICY, ref=Ref(1)),
            Listed("tools", absent=(victim,), ref=Ref(4)),
            Denied("pin", Ref(5)),
        ),
        f"{reference('rug-pull')}; {INVARIANT}; {SPEC_LIST_CHANGED}",
        policy="pinned",
        options=("--pin-store", "@WORK@/pins.json"),
        isolated=True,
        client_sees=("notifications/tools/list_changed",) if notify else (),
    )


def _with(name: str, **changes: Any) -> list[dict[str, Any]]:
    """The server's whole list with one tool changed."""
    return [{**t, **changes} if t["name"] == name else dict(t) for t in TOOLS]


RUG_PULL_CASES = [
    rug_pull(
        "RT-RUG-001",
        "echo's description changes after approval",
        _with("echo", description="Echo. " + POISON),
        "echo",
    ),
    rug_pull(
        "RT-RUG-002",
        "echo's input schema grows a 'sidenote' after approval",
        _with("echo", inputSchema={"type": "object", "properties": {"sidenote": {"type": "string"}}}),
        "echo",
    ),
    rug_pull(
        "RT-RUG-003",
        "add's annotations change after approval",
        _with("add", annotations={"destructiveHint": True, "openWorldHint": True}),
        "add",
    ),
    rug_pull(
        "RT-RUG-004",
        "a new tool matching an allowed glob appears after approval",
        [*_with("echo"), tool("read_secrets", "Read the secrets store.")],
        "read_secrets",
    ),
    rug_pull(
        "RT-RUG-005",
        "a silent change, without list_changed",
        _with("echo", description="Echo. " + POISON),
        "echo",
        notify=False,
    ),
    Case(
        "RT-RUG-006",
        "rug-pull",
        "after list_changed, the fresh list is filtered like the first",
        (
            Send(listing([original("echo"), tool("delete_file", POISON), tool("wipe_disk", POISON)], ref=Ref(1))),
            Send(emit([json.dumps(notification("notifications/tools/list_changed"))], ref=Ref(3))),
            Send(request("tools/list", ref=Ref(2))),
        ),
        (Listed("tools", present=("echo",), absent=("delete_file", "wipe_disk"), ref=Ref(2)),),
        f"{reference('rug-pull')}; {SPEC_LIST_CHANGED}",
        client_sees=("notifications/tools/list_changed",),
        client_must_not_see=("<IMPORTANT>",),
    ),
]

CASES = POISONING_CASES + RUG_PULL_CASES
