"""The world the reference servers work on, rebuilt identically before every run: a file tree and a git
repository with fixed authors and dates (so commit hashes repeat); and a small web site served on
127.0.0.1 for the fetch server, built once."""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

FIXED_TIME = 1_700_000_000  # 2023-11-14T22:13:20Z: every file's mtime, every commit's date
GIT_ENV = {
    "GIT_AUTHOR_NAME": "Ada Lovelace",
    "GIT_AUTHOR_EMAIL": "ada@example.com",
    "GIT_COMMITTER_NAME": "Ada Lovelace",
    "GIT_COMMITTER_EMAIL": "ada@example.com",
    "GIT_AUTHOR_DATE": f"@{FIXED_TIME} +0000",
    "GIT_COMMITTER_DATE": f"@{FIXED_TIME} +0000",
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": os.devnull,
}

FILES = {
    "fs/README.md": "# Project\n\nA small project used by the benign corpus.\n\n## Usage\n\nRun `make`.\n",
    "fs/notes.txt": "first line\nsecond line\nthird line\nfourth line\nfifth line\n",
    "fs/docs/guide.md": "# Guide\n\nStep one.\nStep two.\nStep three.\n",
    "fs/docs/faq.md": "# FAQ\n\nQ: Why?\nA: Because.\n",
    "fs/src/app.py": 'def main():\n    print("hello")\n\n\nif __name__ == "__main__":\n    main()\n',
    "fs/src/util.py": "def add(a, b):\n    return a + b\n",
    "fs/data/table.csv": "id,name,score\n1,alpha,10\n2,beta,20\n3,gamma,30\n",
    "fs/data/unicode-éè.txt": "naïve café — 日本語 ✓\n",
    "fs/data/empty.txt": "",
    "repo/README.md": "# Repo\n",
    "repo/src/main.py": "print('v1')\n",
}
SITE = {
    "index.html": (
        "<html><head><title>Home</title></head><body><h1>Welcome</h1>"
        "<p>This is the <a href='/about.html'>about</a> page link.</p><ul><li>one</li><li>two</li></ul>"
        "</body></html>\n"
    ),
    "about.html": "<html><body><h2>About</h2><p>We make <em>small</em> things.</p></body></html>\n",
    "long.html": "<html><body>" + "".join(f"<p>Paragraph {n} of a long page.</p>" for n in range(200)) + "</body>",
    "plain.txt": "plain text file\nwith two lines\n",
    "data.json": '{"items": [1, 2, 3], "name": "data"}\n',
}
# (message, {path: new content}) applied in order on top of the initial files
COMMITS: tuple[tuple[str, dict[str, str]], ...] = (
    ("Initial commit", {}),
    ("Add feature", {"repo/src/feature.py": "def feature():\n    return 42\n"}),
    ("Bump to v2", {"repo/src/main.py": "print('v2')\n"}),
)


def _git(repo: Path, *args: str) -> None:
    env = {**os.environ, **GIT_ENV}
    subprocess.run(["git", "-c", "init.defaultBranch=main", *args], cwd=repo, env=env, check=True, capture_output=True)


def _write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def build(root: Path) -> None:
    """(Re)create the file tree and the repository under ``root``, byte for byte and timestamp for
    timestamp the same (the memory server's graph file, ``root/memory.jsonl``, starts absent)."""
    shutil.rmtree(root, ignore_errors=True)
    _write(root, FILES)
    (root / "fs" / "empty-dir").mkdir()
    repo = root / "repo"
    _git(repo, "init", "-q")
    for message, changes in COMMITS:
        for name, text in changes.items():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).write_text(text, encoding="utf-8")
        _git(repo, "add", "-A")
        _git(repo, "commit", "-q", "-m", message)
    _git(repo, "branch", "feature-x")
    (repo / "README.md").write_text("# Repo\n\nUnstaged change.\n", encoding="utf-8")
    (repo / "staged.txt").write_text("staged\n", encoding="utf-8")
    _git(repo, "add", "staged.txt")
    for path in [root, *root.rglob("*")]:
        if ".git" not in path.parts:
            os.utime(path, (FIXED_TIME, FIXED_TIME), follow_symlinks=False)


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        return


@contextmanager
def web_site(directory: Path) -> Iterator[int]:
    """Build the site in ``directory`` and serve it on 127.0.0.1 for the fetch server; yields the port."""
    _write(directory, SITE)
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_QuietHandler, directory=str(directory)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
