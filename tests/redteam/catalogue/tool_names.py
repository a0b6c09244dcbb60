"""Tool names that look like, or hide inside, a name the policy mentions (homoglyphs, case, invisible
characters, NUL), and prompt names likewise."""

from __future__ import annotations

from tests.redteam.attack_classes import reference
from tests.redteam.model import (
    INVALID_PARAMS,
    MODERN,
    Case,
    Denied,
    Forwarded,
    Listed,
    Rejected,
    call,
    request,
    sends,
)

SPEC_TOOL_NAMES = "https://modelcontextprotocol.io/specification/2025-11-25/server/tools#tool-names"
UTS39 = "Unicode TS #39 (confusables)"

# (case id, look-alike, what it is) — each must be denied under an allow-list that names only `echo`.
ECHO_LOOKALIKES = (
    ("RT-NAM-001", "еcho", "Cyrillic е (U+0435)"),
    ("RT-NAM-002", "echο", "Greek omicron (U+03BF)"),
    ("RT-NAM-003", "ｅｃｈｏ", "fullwidth letters"),
    ("RT-NAM-004", "Echo", "case variant"),
    ("RT-NAM-005", "ECHO", "upper case"),
    ("RT-NAM-006", "𝐞𝐜𝐡𝐨", "mathematical bold letters"),
    ("RT-NAM-007", "echo ", "trailing space"),
    ("RT-NAM-008", " echo", "leading space"),
    ("RT-NAM-009", "ec\u0068\u0308o", "combining diaeresis"),
)
HOMOGLYPH_CASES = [
    Case(
        case_id,
        "homoglyphs",
        f"`echo` spelled with {what} is not `echo`",
        sends(call(name, {"x": case_id})),
        (Denied("default-deny"),),
        f"{reference('homoglyphs')}; {UTS39}",
    )
    for case_id, name, what in ECHO_LOOKALIKES
] + [
    Case(
        "RT-NAM-010",
        "homoglyphs",
        "Cyrillic `rеad_file` does not inherit read_file's allowance (or escape its path rule)",
        sends(call("rеad_file", {"path": "/etc/shadow"})),
        (Denied("default-deny"),),
        reference("homoglyphs"),
        server_must_not_receive=("/etc/shadow",),
    ),
    Case(
        "RT-NAM-011",
        "homoglyphs",
        "long s (U+017F, folds to s) in `ſend_email`",
        sends(call("ſend_email", {"to": "attacker@evil.example"})),
        (Denied("default-deny"),),
        f"{reference('homoglyphs')}; Unicode case folding",
    ),
    Case(
        "RT-NAM-012",
        "homoglyphs",
        "the denied tool spelled exactly is denied by its own rule",
        sends(call("delete_file", {"path": "/"})),
        (Denied("static_rules.delete_file"),),
        reference("homoglyphs"),
    ),
    Case(
        "RT-NAM-013",
        "homoglyphs",
        "a Cyrillic look-alike in the 2026-07-28 era (no initialize) is denied the same way",
        sends(call("еcho", {"x": 1})),
        (Denied("default-deny"),),
        reference("homoglyphs"),
        era=MODERN,
    ),
    Case(
        "RT-NAM-014",
        "homoglyphs",
        "`Git_push` (case) does not match the git_* allowance",
        sends(call("Git_push", {"repo_path": "@ROOT@/allowed"})),
        (Denied("default-deny"),),
        reference("homoglyphs"),
    ),
]

INVISIBLE = (
    ("RT-INV-001", "echo\u200b", "zero-width space"),
    ("RT-INV-002", "\u200decho", "zero-width joiner"),
    ("RT-INV-003", "echo\ufeff", "BOM / zero-width no-break space"),
    ("RT-INV-004", "echo\U000e0069\U000e0067", "Unicode tag characters"),
    ("RT-INV-005", "\u202eohce", "right-to-left override"),
    ("RT-INV-006", "echo\x1b[8m", "ANSI escape"),
    ("RT-INV-007", "ec\u00adho", "soft hyphen"),
    ("RT-INV-008", "echo\u2066", "bidi isolate"),
)
INVISIBLE_CASES = [
    Case(
        case_id,
        "invisible-characters",
        f"`echo` with a {what} is not `echo`",
        sends(call(name, {"x": case_id})),
        (Denied("default-deny"),),
        reference("invisible-characters"),
    )
    for case_id, name, what in INVISIBLE
] + [
    Case(
        "RT-INV-009",
        "invisible-characters",
        "NUL after an allowed name is rejected as invalid params, never truncated to `echo`",
        sends(call("echo\u0000", {"x": 1})),
        (Rejected(INVALID_PARAMS),),
        f"{reference('invisible-characters')}; {reference('parser-differential')}",
    ),
    Case(
        "RT-INV-010",
        "invisible-characters",
        "NUL between a denied and an allowed name",
        sends(call("delete_file\u0000echo", {"path": "/"})),
        (Rejected(INVALID_PARAMS),),
        reference("invisible-characters"),
        server_must_not_receive=("delete_file",),
    ),
    Case(
        "RT-INV-011",
        "invisible-characters",
        "zero-width suffix on a DENIED tool that a glob allows (git_push under git_*)",
        sends(call("git_push\u200b", {"repo_path": "@ROOT@/allowed"})),
        (Denied(),),
        f"{reference('invisible-characters')}; {SPEC_TOOL_NAMES}",
        server_must_not_receive=("git_push",),
    ),
    Case(
        "RT-INV-012",
        "invisible-characters",
        "zero-width suffix escapes read_file's path rule under a `*` allowance",
        sends(call("read_file\u200b", {"path": "/etc/shadow"})),
        (Denied(),),
        f"{reference('invisible-characters')}; {SPEC_TOOL_NAMES}",
        policy="denylist",
        server_must_not_receive=("/etc/shadow",),
    ),
    Case(
        "RT-INV-013",
        "invisible-characters",
        "zero-width suffix on an allowed prompt glob (review_*) is still a different prompt",
        sends(request("prompts/get", {"name": "review_code\u200b"})),
        (Denied(),),
        f"{reference('invisible-characters')}; {SPEC_TOOL_NAMES}",
    ),
    Case(
        "RT-INV-014",
        "invisible-characters",
        "zero-width look-alike in the 2026-07-28 era",
        sends(call("echo\u200b", {"x": 1})),
        (Denied("default-deny"),),
        reference("invisible-characters"),
        era=MODERN,
    ),
]

# Under a deny-list policy (`*` allowed), every spelling of a denied tool must stay denied.
DENIED_LOOKALIKES = (
    ("RT-NAM-015", "dеlete_file", "Cyrillic е"),
    ("RT-NAM-016", "DELETE_FILE", "upper case"),
    ("RT-NAM-017", "ｄｅｌｅｔｅ_file", "fullwidth"),
    ("RT-NAM-018", "delete_file ", "trailing space"),
    ("RT-NAM-019", "Delete_File", "mixed case"),
)
DENYLIST_CASES = [
    Case(
        "RT-NAM-020",
        "homoglyphs",
        "deny-list: the denied tool itself",
        sends(call("delete_file", {"path": "/"})),
        (Denied("static_rules.delete_file"),),
        reference("homoglyphs"),
        policy="denylist",
    ),
    Case(
        "RT-NAM-021",
        "homoglyphs",
        "deny-list: NUL-suffixed denied name is invalid params",
        sends(call("delete_file\u0000", {"path": "/"})),
        (Rejected(INVALID_PARAMS),),
        reference("homoglyphs"),
        policy="denylist",
    ),
    Case(
        "RT-NAM-022",
        "homoglyphs",
        "deny-list: an unrelated tool is allowed (control)",
        sends(call("echo", {"x": "RT-NAM-022"})),
        (Forwarded(),),
        reference("homoglyphs"),
        policy="denylist",
    ),
] + [
    Case(
        case_id,
        "homoglyphs",
        f"deny-list: `delete_file` spelled with {what} stays denied",
        sends(call(name, {"path": "/"})),
        (Denied(),),
        f"{reference('homoglyphs')}; {UTS39}",
        policy="denylist",
    )
    for case_id, name, what in DENIED_LOOKALIKES
]

PROMPT_CASES = [
    Case(
        "RT-PRM-001",
        "homoglyphs",
        "a prompt no rule allows",
        sends(request("prompts/get", {"name": "exfiltrate"})),
        (Denied("prompt-default-deny"),),
        reference("homoglyphs"),
    ),
    Case(
        "RT-PRM-002",
        "homoglyphs",
        "an allowed prompt (control)",
        sends(request("prompts/get", {"name": "review_code"})),
        (Forwarded(),),
        reference("homoglyphs"),
    ),
    Case(
        "RT-PRM-003",
        "homoglyphs",
        "Cyrillic е in `rеview_code` does not match review_*",
        sends(request("prompts/get", {"name": "rеview_code"})),
        (Denied("prompt-default-deny"),),
        reference("homoglyphs"),
    ),
    Case(
        "RT-PRM-004",
        "homoglyphs",
        "case variant `Review_code` does not match review_*",
        sends(request("prompts/get", {"name": "Review_code"})),
        (Denied("prompt-default-deny"),),
        reference("homoglyphs"),
    ),
    Case(
        "RT-PRM-005",
        "homoglyphs",
        "prompts/list shows only prompts that may be fetched",
        sends(request("prompts/list")),
        (Listed("prompts", present=("review_code", "review_docs"), absent=("exfiltrate",)),),
        reference("homoglyphs"),
    ),
    Case(
        "RT-PRM-006",
        "homoglyphs",
        "NUL in a prompt name is invalid params",
        sends(request("prompts/get", {"name": "review_code\u0000exfiltrate"})),
        (Rejected(INVALID_PARAMS),),
        reference("homoglyphs"),
    ),
]

CASES = HOMOGLYPH_CASES + INVISIBLE_CASES + DENYLIST_CASES + PROMPT_CASES
