"""What the benign corpus asks of each reference server: everyday calls an agent makes, in order.

``@ROOT@`` stands for the fixture directory and ``@PORT@`` for the local web site's port; both are
filled in when the calls are played (and kept as placeholders in the recorded corpus).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

from tests.benign.fixtures import GIT_ENV

REPO = Path(__file__).resolve().parents[2]
PY_BIN = Path(sys.executable).parent
NODE_BIN = REPO / ".peers" / "node_modules" / ".bin"

Call = tuple[str, dict[str, Any]]  # (method, params)


class ServerSpec(NamedTuple):
    name: str
    argv: tuple[str, ...]
    env: tuple[tuple[str, str], ...]
    calls: Callable[[], list[Call]]


def tool(name: str, **arguments: Any) -> Call:
    return ("tools/call", {"name": name, "arguments": arguments})


# ---------------------------------------------------------------------------------------- server-everything
def everything_calls() -> list[Call]:
    messages = [
        "hello",
        "naïve café — 日本語 ✓",
        "",
        "line one\nline two\n\ttabbed",
        '{"looks": "like json", "n": [1, 2]}',
        "quotes ' \" and backslash \\",
        "emoji 🎉🚀 and math ∑∫",
        "x" * 5000,
        "<b>html</b> &amp; entities",
    ]
    sums = [(1, 2), (-5, 3), (0.1, 0.2), (1e10, 1), (0, 0), (123456789, 987654321), (-1.5, -2.25)]
    calls: list[Call] = [
        ("ping", {}),
        ("tools/list", {}),
        ("resources/list", {}),
        ("resources/templates/list", {}),
        ("prompts/list", {}),
        *(tool("echo", message=m) for m in messages),
        *(tool("get-sum", a=a, b=b) for a, b in sums),
        tool("get-annotated-message", messageType="error"),
        tool("get-annotated-message", messageType="success"),
        tool("get-annotated-message", messageType="debug"),
        tool("get-annotated-message", messageType="success", includeImage=True),
        tool("get-tiny-image"),
        *(tool("get-structured-content", location=city) for city in ("New York", "Chicago", "Los Angeles")),
        tool("get-resource-reference"),
        tool("get-resource-reference", resourceType="Text", resourceId=2),
        tool("get-resource-reference", resourceType="Blob", resourceId=1),
        tool("get-resource-reference", resourceType="Blob", resourceId=3),
        tool("trigger-long-running-operation", duration=0.2, steps=2),
        (
            "tools/call",
            {
                "name": "trigger-long-running-operation",
                "arguments": {"duration": 0.3, "steps": 3},
                "_meta": {"progressToken": "corpus-progress"},
            },
        ),
        tool("get-resource-links"),
        tool("get-resource-links", count=1),
        tool("get-resource-links", count=7),
        *(
            ("resources/read", {"uri": f"demo://resource/static/document/{name}.md"})
            for name in ("architecture", "extension", "features", "how-it-works", "instructions", "startup")
        ),
        ("resources/read", {"uri": "demo://resource/dynamic/text/1"}),
        ("resources/read", {"uri": "demo://resource/dynamic/text/42"}),
        ("resources/read", {"uri": "demo://resource/dynamic/blob/2"}),
        ("prompts/get", {"name": "simple-prompt"}),
        ("prompts/get", {"name": "args-prompt", "arguments": {"city": "Lisbon", "state": "Lisboa"}}),
        ("prompts/get", {"name": "args-prompt", "arguments": {"city": "Kyoto"}}),
        ("prompts/get", {"name": "completable-prompt", "arguments": {"department": "Engineering", "name": "Ada"}}),
        ("prompts/get", {"name": "resource-prompt", "arguments": {"resourceType": "Text", "resourceId": "1"}}),
        (
            "completion/complete",
            {
                "ref": {"type": "ref/prompt", "name": "completable-prompt"},
                "argument": {"name": "department", "value": "E"},
            },
        ),
        (
            "completion/complete",
            {
                "ref": {"type": "ref/prompt", "name": "completable-prompt"},
                "argument": {"name": "department", "value": ""},
            },
        ),
        ("ping", {}),
    ]
    return calls


# ------------------------------------------------------------------------------------------- filesystem
def filesystem_calls() -> list[Call]:
    fs = "@ROOT@/fs"
    return [
        ("tools/list", {}),
        tool("list_allowed_directories"),
        *(tool("list_directory", path=p) for p in (fs, f"{fs}/docs", f"{fs}/src", f"{fs}/data", f"{fs}/empty-dir")),
        tool("list_directory_with_sizes", path=fs),
        tool("list_directory_with_sizes", path=f"{fs}/data", sortBy="size"),
        tool("directory_tree", path=fs),
        tool("directory_tree", path=fs, excludePatterns=["*.py", "data"]),
        tool("read_text_file", path=f"{fs}/README.md"),
        tool("read_text_file", path=f"{fs}/notes.txt", head=2),
        tool("read_text_file", path=f"{fs}/notes.txt", tail=2),
        tool("read_text_file", path=f"{fs}/docs/guide.md"),
        tool("read_text_file", path=f"{fs}/data/unicode-éè.txt"),
        tool("read_text_file", path=f"{fs}/data/empty.txt"),
        tool("read_text_file", path=f"{fs}/data/table.csv", head=2),
        tool("read_file", path=f"{fs}/src/app.py"),
        tool("read_file", path=f"{fs}/src/util.py"),
        tool("read_multiple_files", paths=[f"{fs}/README.md", f"{fs}/notes.txt"]),
        tool("read_multiple_files", paths=[f"{fs}/src/app.py", f"{fs}/src/util.py", f"{fs}/docs/faq.md"]),
        tool("read_multiple_files", paths=[f"{fs}/data/table.csv"]),
        tool("search_files", path=fs, pattern="*.md"),
        tool("search_files", path=fs, pattern="**/*.py"),
        tool("search_files", path=fs, pattern="notes*"),
        tool("search_files", path=fs, pattern="*", excludePatterns=["docs", "src"]),
        tool("get_file_info", path=f"{fs}/README.md"),
        tool("get_file_info", path=f"{fs}/docs"),
        tool("get_file_info", path=f"{fs}/data/unicode-éè.txt"),
        tool("write_file", path=f"{fs}/new.txt", content="brand new\n"),
        tool("write_file", path=f"{fs}/new.txt", content="overwritten\nwith two lines\n"),
        tool("write_file", path=f"{fs}/docs/changelog.md", content="# Changelog\n\n- 1.0: first\n"),
        tool("write_file", path=f"{fs}/data/ünïcödé.txt", content="ünïcödé ✓\n"),
        tool("read_text_file", path=f"{fs}/new.txt"),
        tool("read_text_file", path=f"{fs}/data/ünïcödé.txt"),
        tool(
            "edit_file",
            path=f"{fs}/notes.txt",
            edits=[{"oldText": "second line", "newText": "2nd line"}],
            dryRun=True,
        ),
        tool("edit_file", path=f"{fs}/notes.txt", edits=[{"oldText": "second line", "newText": "2nd line"}]),
        tool(
            "edit_file",
            path=f"{fs}/src/app.py",
            edits=[
                {"oldText": 'print("hello")', "newText": 'print("hello, world")'},
                {"oldText": "def main():", "newText": "def main() -> None:"},
            ],
        ),
        tool("edit_file", path=f"{fs}/docs/guide.md", edits=[{"oldText": "Step two.", "newText": "Step 2."}]),
        tool("read_text_file", path=f"{fs}/notes.txt"),
        tool("create_directory", path=f"{fs}/build"),
        tool("create_directory", path=f"{fs}/build/out/deep"),
        tool("create_directory", path=f"{fs}/docs"),
        tool("move_file", source=f"{fs}/new.txt", destination=f"{fs}/renamed.txt"),
        tool("move_file", source=f"{fs}/renamed.txt", destination=f"{fs}/build/renamed.txt"),
        tool("list_directory", path=fs),
        tool("list_directory", path=f"{fs}/build"),
        tool("directory_tree", path=f"{fs}/build"),
        tool("search_files", path=fs, pattern="*renamed*"),
        tool("read_text_file", path=f"{fs}/build/renamed.txt"),
    ]


# ----------------------------------------------------------------------------------------------- memory
def memory_calls() -> list[Call]:
    people = [
        {"name": "Ada", "entityType": "person", "observations": ["wrote the first program", "likes engines"]},
        {"name": "Charles", "entityType": "person", "observations": ["designed the analytical engine"]},
    ]
    things = [
        {"name": "Analytical Engine", "entityType": "machine", "observations": ["mechanical", "never finished"]},
        {"name": "London", "entityType": "city", "observations": []},
    ]
    return [
        ("tools/list", {}),
        ("resources/list", {}),
        tool("read_graph"),
        tool("create_entities", entities=people),
        tool("create_entities", entities=things),
        tool("create_entities", entities=[{"name": "Ada", "entityType": "person", "observations": ["duplicate"]}]),
        tool(
            "create_relations",
            relations=[
                {"from": "Ada", "to": "Charles", "relationType": "worked with"},
                {"from": "Charles", "to": "Analytical Engine", "relationType": "designed"},
            ],
        ),
        tool("create_relations", relations=[{"from": "Ada", "to": "London", "relationType": "lived in"}]),
        tool("add_observations", observations=[{"entityName": "Ada", "contents": ["born 1815"]}]),
        tool(
            "add_observations",
            observations=[
                {"entityName": "London", "contents": ["capital", "on the Thames"]},
                {"entityName": "Charles", "contents": ["born 1791"]},
            ],
        ),
        tool("add_observations", observations=[{"entityName": "Ada", "contents": ["born 1815", "Countess"]}]),
        tool("read_graph"),
        ("resources/read", {"uri": "memory://knowledge-graph"}),
        *(tool("search_nodes", query=q) for q in ("Ada", "engine", "born", "city", "nobody-matches-this")),
        tool("open_nodes", names=["Ada"]),
        tool("open_nodes", names=["Charles", "London"]),
        tool("open_nodes", names=["Unknown"]),
        tool("delete_observations", deletions=[{"entityName": "Ada", "observations": ["likes engines"]}]),
        tool("delete_observations", deletions=[{"entityName": "London", "observations": ["capital"]}]),
        tool("delete_relations", relations=[{"from": "Ada", "to": "London", "relationType": "lived in"}]),
        tool("delete_entities", entityNames=["London"]),
        tool("read_graph"),
        tool("search_nodes", query="London"),
        tool("open_nodes", names=["Ada", "Charles", "Analytical Engine"]),
    ]


# -------------------------------------------------------------------------------------------------- git
def git_calls() -> list[Call]:
    repo = "@ROOT@/repo"
    return [
        ("tools/list", {}),
        tool("git_status", repo_path=repo),
        tool("git_diff_unstaged", repo_path=repo),
        tool("git_diff_unstaged", repo_path=repo, context_lines=0),
        tool("git_diff_staged", repo_path=repo),
        tool("git_diff_staged", repo_path=repo, context_lines=1),
        tool("git_diff", repo_path=repo, target="HEAD~1"),
        tool("git_diff", repo_path=repo, target="HEAD~2"),
        tool("git_diff", repo_path=repo, target="feature-x"),
        tool("git_log", repo_path=repo),
        tool("git_log", repo_path=repo, max_count=1),
        tool("git_log", repo_path=repo, max_count=2),
        tool("git_log", repo_path=repo, start_timestamp="2020-01-01"),
        tool("git_show", repo_path=repo, revision="HEAD"),
        tool("git_show", repo_path=repo, revision="HEAD~1"),
        tool("git_show", repo_path=repo, revision="HEAD~2"),
        tool("git_branch", repo_path=repo, branch_type="local"),
        tool("git_branch", repo_path=repo, branch_type="all"),
        tool("git_branch", repo_path=repo, branch_type="local", contains="HEAD~1"),
        tool("git_create_branch", repo_path=repo, branch_name="topic-a"),
        tool("git_create_branch", repo_path=repo, branch_name="topic-b", base_branch="feature-x"),
        tool("git_branch", repo_path=repo, branch_type="local"),
        tool("git_add", repo_path=repo, files=["README.md"]),
        tool("git_status", repo_path=repo),
        tool("git_diff_staged", repo_path=repo),
        tool("git_reset", repo_path=repo),
        tool("git_add", repo_path=repo, files=["README.md", "staged.txt"]),
        tool("git_commit", repo_path=repo, message="Update README"),
        tool("git_log", repo_path=repo, max_count=2),
        tool("git_status", repo_path=repo),
        tool("git_checkout", repo_path=repo, branch_name="topic-b"),
        tool("git_log", repo_path=repo, max_count=3),
        tool("git_checkout", repo_path=repo, branch_name="main"),
        tool("git_show", repo_path=repo, revision="main"),
    ]


# ------------------------------------------------------------------------------------------------- time
def time_calls() -> list[Call]:
    conversions = [
        ("Etc/UTC", "00:00", "Asia/Tokyo"),
        ("Etc/UTC", "12:00", "Asia/Kolkata"),
        ("Asia/Tokyo", "09:30", "Etc/UTC"),
        ("Asia/Kolkata", "23:59", "Asia/Tokyo"),
        ("Asia/Shanghai", "08:00", "Asia/Singapore"),
        ("Africa/Nairobi", "14:15", "Africa/Lagos"),
        ("America/Bogota", "06:45", "America/Lima"),
        ("Asia/Dubai", "18:00", "Asia/Karachi"),
        ("Australia/Brisbane", "07:00", "Pacific/Port_Moresby"),
        ("Asia/Kathmandu", "10:10", "Asia/Dhaka"),
        ("Etc/UTC", "23:00", "Pacific/Kiritimati"),
        ("Pacific/Honolulu", "05:00", "Etc/UTC"),
        ("Asia/Jakarta", "12:34", "Asia/Manila"),
        ("America/Sao_Paulo", "16:20", "Asia/Seoul"),
        ("Etc/UTC", "01:02", "Etc/UTC"),
        ("Asia/Tehran", "11:11", "Asia/Kabul"),
        ("Africa/Cairo", "21:30", "Asia/Riyadh"),
        ("Asia/Yangon", "03:03", "Australia/Darwin"),
        ("Europe/Istanbul", "13:00", "Europe/Moscow"),
        ("America/Phoenix", "17:45", "America/Panama"),
    ]
    return [
        ("tools/list", {}),
        *(tool("convert_time", source_timezone=s, time=t, target_timezone=d) for s, t, d in conversions),
        tool("convert_time", source_timezone="Etc/UTC", time="25:99", target_timezone="Asia/Tokyo"),
        tool("convert_time", source_timezone="Mars/Olympus_Mons", time="12:00", target_timezone="Etc/UTC"),
    ]


# ------------------------------------------------------------------------------------------------ fetch
def fetch_calls() -> list[Call]:
    # Converting HTML to markdown costs the fetch server ~1 s a page here, so most fetches take raw text.
    site = "http://127.0.0.1:@PORT@"
    return [
        ("tools/list", {}),
        ("prompts/list", {}),
        tool("fetch", url=f"{site}/index.html"),
        tool("fetch", url=f"{site}/long.html", max_length=500),
        tool("fetch", url=f"{site}/about.html", raw=True),
        tool("fetch", url=f"{site}/", raw=True),
        tool("fetch", url=f"{site}/long.html", raw=True, max_length=500, start_index=500),
        tool("fetch", url=f"{site}/long.html", raw=True, max_length=200, start_index=4000),
        tool("fetch", url=f"{site}/plain.txt"),
        tool("fetch", url=f"{site}/plain.txt", start_index=5),
        tool("fetch", url=f"{site}/data.json"),
        tool("fetch", url=f"{site}/data.json", max_length=10),
        tool("fetch", url=f"{site}/index.html", raw=True),
        tool("fetch", url=f"{site}/about.html", raw=True, max_length=50),
        tool("fetch", url=f"{site}/plain.txt?utm_source=corpus&x=1"),
        tool("fetch", url=f"{site}/missing-page.html"),
        ("prompts/get", {"name": "fetch", "arguments": {"url": f"{site}/about.html"}}),
        ("prompts/get", {"name": "fetch", "arguments": {"url": f"{site}/plain.txt"}}),
    ]


SERVERS: tuple[ServerSpec, ...] = (
    ServerSpec("everything", (str(NODE_BIN / "mcp-server-everything"), "stdio"), (), everything_calls),
    ServerSpec("filesystem", (str(NODE_BIN / "mcp-server-filesystem"), "@ROOT@/fs"), (), filesystem_calls),
    ServerSpec(
        "memory", (str(NODE_BIN / "mcp-server-memory"),), (("MEMORY_FILE_PATH", "@ROOT@/memory.jsonl"),), memory_calls
    ),
    ServerSpec(
        "git", (str(PY_BIN / "mcp-server-git"), "--repository", "@ROOT@/repo"), tuple(GIT_ENV.items()), git_calls
    ),
    ServerSpec("time", (str(PY_BIN / "mcp-server-time"), "--local-timezone", "Etc/UTC"), (), time_calls),
    ServerSpec(
        "fetch", (str(PY_BIN / "mcp-server-fetch"), "--ignore-robots-txt", "--allow-private-ips"), (), fetch_calls
    ),
)
