"""Path traversal through tool arguments and resource URIs: ``..``, symlinks, sibling prefixes, ``~``,
NUL, case, percent-encoding, hosts in ``file:`` URIs. ``@ROOT@`` is the runner's file tree (``build_tree``)."""

from __future__ import annotations

from tests.redteam.attack_classes import reference
from tests.redteam.model import (
    INVALID_PARAMS,
    MODERN,
    Case,
    Denied,
    Forwarded,
    Listed,
    Ref,
    Rejected,
    call,
    request,
    script,
    sends,
    server_line,
)

CVE_PREFIX = "CVE-2025-53110 (filesystem server: sibling-prefix bypass)"
CVE_GIT = "CVE-2026-27735 (git server: repository path traversal)"
RFC3986 = "RFC 3986 section 5.2.4 (dot segments) and 2.1 (percent-encoding)"
R = "@ROOT@"

# (case id, path, what) — read_file must be denied: the path leaves @ROOT@/allowed.
READ_OUTSIDE = (
    ("RT-PTH-002", f"{R}/allowed/../secret/key.txt", "`..` out of the root", ""),
    ("RT-PTH-003", f"{R}/allowed/./sub/../../secret/key.txt", "`.` and `..` mixed", ""),
    ("RT-PTH-004", f"{R}/allowed-evil/x.txt", "a sibling sharing the root's prefix", CVE_PREFIX),
    ("RT-PTH-005", f"{R}/allowed/link_out/key.txt", "a symlink inside the root leading out", ""),
    ("RT-PTH-006", f"{R}/allowed/deep/../key.txt", "`..` after a symlink (kernel order)", ""),
    ("RT-PTH-007", "~/secret/key.txt", "`~` (the server's HOME is @ROOT@)", ""),
    ("RT-PTH-008", "~root/allowed/notes.txt", "`~user`", ""),
    ("RT-PTH-009", f"{R}/allowed/notes.txt\u0000/../../secret/key.txt", "NUL truncation", ""),
    ("RT-PTH-010", f"file://{R}/allowed/notes.txt", "a file: URI where a path belongs", ""),
    ("RT-PTH-011", f"/{R}/allowed/../../secret/key.txt", "a leading double slash", ""),
    ("RT-PTH-012", f"{R}/ALLOWED/notes.txt", "a case variant of the root (case-sensitive filesystem)", ""),
    ("RT-PTH-013", f"{R}/allowed/sub/../../allowed-evil/x.txt", "`..` into the prefix sibling", CVE_PREFIX),
    ("RT-PTH-014", f"{R}/allowed/../../../../../../../../etc/passwd", "`..` past the filesystem root", ""),
)

READ_CASES = [
    Case(
        "RT-PTH-001",
        "path-traversal",
        "a file inside the allowed root (control)",
        sends(call("read_file", {"path": f"{R}/allowed/notes.txt"})),
        (Forwarded(),),
        reference("path-traversal"),
    ),
    *(
        Case(
            case_id,
            "path-traversal",
            f"read_file: {what}",
            sends(call("read_file", {"path": path})),
            (Denied("read-within-allowed"),),
            "; ".join(filter(None, (reference("path-traversal"), cve))),
        )
        for case_id, path, what, cve in READ_OUTSIDE
    ),
    Case(
        "RT-PTH-015",
        "path-traversal",
        "`~/allowed/...` is inside (control: `~` is the server's HOME)",
        sends(call("read_file", {"path": "~/allowed/notes.txt"})),
        (Forwarded(),),
        reference("path-traversal"),
    ),
    Case(
        "RT-PTH-016",
        "path-traversal",
        "the path as a list of strings",
        sends(call("read_file", {"path": [f"{R}/allowed/notes.txt", "/etc/shadow"]})),
        (Denied("read-within-allowed"),),
        reference("path-traversal"),
    ),
    Case(
        "RT-PTH-017",
        "path-traversal",
        "the path argument missing (a server default could be anywhere)",
        sends(call("read_file", {"file": "/etc/shadow"})),
        (Denied("read-within-allowed"),),
        reference("path-traversal"),
    ),
    Case(
        "RT-PTH-018",
        "path-traversal",
        "`..` written as JSON escapes (\\u002e\\u002e) is still `..`",
        (
            # raw bytes: the escapes must reach Lilith's parser as escapes
            *sends(
                b'{"jsonrpc":"2.0","id":@ID1@,"method":"tools/call","params":{"name":"read_file",'
                b'"arguments":{"path":"@ROOT@/allowed/\\u002e\\u002e/secret/key.txt"}}}'
            ),
        ),
        (Denied("read-within-allowed"),),
        f"{reference('path-traversal')}; {reference('parser-differential')}",
    ),
    Case(
        "RT-PTH-019",
        "path-traversal",
        "percent-escapes in a plain path are a literal name inside the root: forwarded unchanged",
        sends(call("read_file", {"path": f"{R}/allowed/%2e%2e/secret/key.txt"})),
        (Forwarded(),),
        f"{reference('path-traversal')}; the server opens the literal name, as Lilith judged it",
    ),
    Case(
        "RT-PTH-020",
        "path-traversal",
        "write_file into the protected subtree",
        sends(call("write_file", {"path": f"{R}/allowed/protected/plan.txt", "content": "x"})),
        (Denied("write-not-protected"),),
        reference("path-traversal"),
    ),
    Case(
        "RT-PTH-021",
        "path-traversal",
        "write_file into the protected subtree by way of `..`",
        sends(call("write_file", {"path": f"{R}/allowed/sub/../protected/plan.txt", "content": "x"})),
        (Denied("write-not-protected"),),
        reference("path-traversal"),
    ),
    Case(
        "RT-PTH-022",
        "path-traversal",
        "write_file to a new file inside the root (control)",
        sends(call("write_file", {"path": f"{R}/allowed/new.txt", "content": "x"})),
        (Forwarded(),),
        reference("path-traversal"),
    ),
    Case(
        "RT-PTH-023",
        "path-traversal",
        "git repository path with `..`",
        sends(call("git_log", {"repo_path": f"{R}/allowed/../secret", "max_count": 1})),
        (Denied("git-repo-within-allowed"),),
        f"{reference('path-traversal')}; {CVE_GIT}",
    ),
    Case(
        "RT-PTH-024",
        "path-traversal",
        "git repository path through a symlink leading out",
        sends(call("git_log", {"repo_path": f"{R}/allowed/link_out", "max_count": 1})),
        (Denied("git-repo-within-allowed"),),
        f"{reference('path-traversal')}; {CVE_GIT}",
    ),
    Case(
        "RT-PTH-025",
        "path-traversal",
        "traversal in the 2026-07-28 era",
        sends(call("read_file", {"path": f"{R}/allowed/../secret/key.txt"})),
        (Denied("read-within-allowed"),),
        reference("path-traversal"),
        era=MODERN,
    ),
]

RELATIVE_CASES = [
    Case(
        "RT-PTH-026",
        "path-traversal",
        "a relative path climbing out of the server's working directory",
        sends(call("read_file", {"path": "../secret/key.txt"})),
        (Denied("read-within-allowed"),),
        reference("path-traversal"),
        options=("--cwd", f"{R}/allowed"),
    ),
    Case(
        "RT-PTH-027",
        "path-traversal",
        "a relative path inside the server's working directory (control)",
        sends(call("read_file", {"path": "sub/../notes.txt"})),
        (Forwarded(),),
        reference("path-traversal"),
        options=("--cwd", f"{R}/allowed"),
    ),
]

# (case id, uri, rule, what) — resources/read must be denied.
URI_OUTSIDE = (
    ("RT-URI-002", f"file://{R}/allowed/../secret/key.txt", "resource-default-deny", "dot segments"),
    ("RT-URI-003", f"file://{R}/allowed/%2e%2e/secret/key.txt", "resource-default-deny", "percent-encoded dots"),
    ("RT-URI-004", f"file://{R}/allowed/%2E%2E/secret/key.txt", "resource-default-deny", "upper-case escapes"),
    ("RT-URI-005", f"file://{R}/allowed/link_out/key.txt", "resource-default-deny", "a symlink leading out"),
    ("RT-URI-006", f"file://evil.example{R}/allowed/notes.txt", "resource-invalid", "a remote host"),
    ("RT-URI-007", f"file://{R}/allowed/notes.txt%00.md", "resource-invalid", "an encoded NUL"),
    ("RT-URI-008", f"file://{R}/allowed/notes.txt?/../../secret", "resource-invalid", "a raw query"),
    ("RT-URI-009", f"FILE://{R}/allowed/../secret/key.txt", "resource-default-deny", "an upper-case scheme"),
    ("RT-URI-010", f"file://{R}/allowed/deep/../key.txt", "resource-default-deny", "`..` after a symlink"),
    ("RT-URI-011", f"file:{R}/allowed/../secret/key.txt", "resource-default-deny", "no authority"),
    ("RT-URI-012", "https://docs.example.com@evil.example/x", "resource-default-deny", "userinfo before the host"),
    ("RT-URI-013", "https://docs.example.com.evil.example/x", "resource-default-deny", "the host as a prefix"),
    ("RT-URI-014", f"file://{R}/%61llowed/..%2fsecret/key.txt", "resource-default-deny", "an encoded slash"),
)

URI_CASES = [
    Case(
        "RT-URI-001",
        "path-traversal",
        "a resource inside the allowed root (control)",
        sends(request("resources/read", {"uri": f"file://{R}/allowed/notes.txt"})),
        (Forwarded(),),
        reference("path-traversal"),
    ),
    *(
        Case(
            case_id,
            "path-traversal",
            f"resources/read: {what}",
            sends(request("resources/read", {"uri": uri})),
            (Denied(rule),),
            f"{reference('path-traversal')}; {RFC3986}",
        )
        for case_id, uri, rule, what in URI_OUTSIDE
    ),
    Case(
        "RT-URI-015",
        "path-traversal",
        "`localhost` as the file: host is local: forwarded unchanged (control)",
        sends(request("resources/read", {"uri": f"file://localhost{R}/allowed/notes.txt"})),
        (Forwarded(),),
        reference("path-traversal"),
    ),
    Case(
        "RT-URI-016",
        "path-traversal",
        "resources/subscribe with dot segments",
        sends(request("resources/subscribe", {"uri": f"file://{R}/allowed/../secret/key.txt"})),
        (Denied("resource-default-deny"),),
        reference("path-traversal"),
    ),
    Case(
        "RT-URI-017",
        "path-traversal",
        "a URI that is not a string",
        sends(request("resources/read", {"uri": {"path": "/etc/passwd"}})),
        (Rejected(INVALID_PARAMS),),
        reference("path-traversal"),
    ),
    Case(
        "RT-URI-018",
        "path-traversal",
        "resources/list shows only what may be read, whatever the spelling of the hidden ones",
        (
            *sends(
                script(
                    "resources/list",
                    [
                        server_line(
                            id="{id}",
                            result={
                                "resources": [
                                    {"uri": f"file://{R}/allowed/notes.txt", "name": "notes"},
                                    {"uri": f"file://{R}/secret/key.txt", "name": "key"},
                                    {"uri": f"file://{R}/allowed/../secret/key.txt", "name": "dotted"},
                                    {"uri": f"file://{R}/allowed/link_out/key.txt", "name": "linked"},
                                ]
                            },
                        )
                    ],
                ),
                request("resources/list", ref=Ref(2)),
            ),
        ),
        (
            Listed(
                "resources",
                present=(f"file://{R}/allowed/notes.txt",),
                absent=(
                    f"file://{R}/secret/key.txt",
                    f"file://{R}/allowed/../secret/key.txt",
                    f"file://{R}/allowed/link_out/key.txt",
                ),
                ref=Ref(2),
                key="uri",
            ),
        ),
        reference("path-traversal"),
    ),
]

CASES = READ_CASES + RELATIVE_CASES + URI_CASES
