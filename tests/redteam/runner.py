"""Play red-team cases through a real ``lilith run`` in front of the hostile test server.

Cases that share a group (policy, era, options, environment) share one Lilith process; each case is
closed by a barrier (see ``GroupRun._barrier``), after which everything the case caused has arrived on
both sides; lines that arrive later still (answers to slow calls) are credited to the case before. If a
case ends the session (the server stops answering) or leaves Lilith dead or wedged, that case carries
it and the rest of its group runs on a fresh process, so one case's failure can neither mask nor fake
another's result.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from tests.integration.harness import HOSTILE, Proxy, lilith_run
from tests.redteam.model import (
    BATCH_ERA,
    LEGACY,
    MODERN,
    PROTOCOL_VERSION_META_KEY,
    AwaitAnswer,
    Case,
    Observation,
    Pause,
    Ref,
    Send,
    same_id,
)

POLICIES = Path(__file__).resolve().parent / "policies"
ROOT_TOKEN = "@ROOT@"
WORK_TOKEN = "@WORK@"  # the group's own directory (in options)
BARRIER_TIMEOUT = 5.0
MAX_REFS = 9


class LilithGone(Exception):
    """Lilith closed its stdout (it exited) while a case was playing."""


def build_tree(root: Path) -> Path:
    """The files path rules are tested against (``@ROOT@`` in policies and cases)::

    allowed/notes.txt  allowed/sub/  allowed/protected/plan.txt
    allowed/link_out -> secret (a symlink inside the allowed root, leading out)
    allowed/deep -> secret/inner (``deep/..`` is ``secret`` to the kernel, ``allowed`` to a lexical reader)
    allowed-evil/x.txt (a sibling sharing the allowed root's prefix)  secret/key.txt  secret/inner/
    """
    for directory in ("allowed/sub", "allowed/protected", "allowed-evil", "secret/inner"):
        (root / directory).mkdir(parents=True, exist_ok=True)
    for name, text in (
        ("allowed/notes.txt", "notes\n"),
        ("allowed/protected/plan.txt", "plan\n"),
        ("allowed-evil/x.txt", "evil\n"),
        ("secret/key.txt", "-----BEGIN PRIVATE KEY-----\n"),
    ):
        (root / name).write_text(text)
    for link, target in (("allowed/link_out", root / "secret"), ("allowed/deep", root / "secret" / "inner")):
        if not (root / link).is_symlink():
            (root / link).symlink_to(target)
    return root


def resolve(value: Any, ids: dict[int, str]) -> Any:
    """``value`` with every ``Ref`` replaced by its id (``Ref`` is a tuple: it must go before lists)."""
    if isinstance(value, Ref):
        return ids[value.n]
    if isinstance(value, str) and "@ID" in value:
        for n, text in ids.items():  # ids inside scripted server lines
            value = value.replace(f"@ID{n}@", json.dumps(text))
        return value
    if isinstance(value, dict):
        return {key: resolve(item, ids) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [resolve(item, ids) for item in value]
    return value


def swap(value: Any, old: str, new: str) -> Any:
    """``value`` with ``old`` replaced by ``new`` in every string (keys too) and byte string."""
    if isinstance(value, str):
        return value.replace(old, new)
    if isinstance(value, bytes):
        return value.replace(old.encode(), new.encode())
    if isinstance(value, dict):
        return {swap(key, old, new): swap(item, old, new) for key, item in value.items()}
    if isinstance(value, list):
        return [swap(item, old, new) for item in value]
    return value


def with_root(value: Any, root: str) -> Any:
    return swap(value, ROOT_TOKEN, root)


def unroot(value: Any, root: str) -> Any:
    """Observations speak of ``@ROOT@``, as the cases do."""
    return swap(value, root, ROOT_TOKEN)


def modern_meta(message: Any) -> Any:
    """2026-07-28: every request carries the protocol version in ``params._meta``."""
    if not isinstance(message, dict) or "method" not in message or "id" not in message:
        return message
    params = message.get("params", {})
    if not isinstance(params, dict):
        return message
    meta = params.get("_meta", {})
    if isinstance(meta, dict) and PROTOCOL_VERSION_META_KEY not in meta:
        params = {**params, "_meta": {**meta, PROTOCOL_VERSION_META_KEY: MODERN}}
    return {**message, "params": params}


def _parse(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        return raw


class GroupRun:
    """One group of cases on one Lilith process (a fresh one after any failure)."""

    def __init__(self, workdir: Path, root: Path, sample: Case) -> None:
        self.workdir = workdir
        self.root = str(root)
        self.sample = sample
        self.generation = 0
        self.proxy: Proxy | None = None
        self.record = workdir / "received-0.jsonl"
        self.audit = workdir / "audit-0.jsonl"

    # ------------------------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        self.generation += 1
        gen = self.generation
        self.record = self.workdir / f"received-{gen}.jsonl"
        self.audit = self.workdir / f"audit-{gen}.jsonl"
        policy = self.workdir / f"policy-{gen}.yaml"
        text = (POLICIES / f"{self.sample.policy}.yaml").read_text(encoding="utf-8")
        policy.write_text(text.replace(ROOT_TOKEN, self.root), encoding="utf-8")
        options = [
            option.replace(ROOT_TOKEN, self.root).replace(WORK_TOKEN, str(self.workdir))
            for option in self.sample.options
        ]
        argv = lilith_run(
            "--policy", str(policy), "--audit-log", str(self.audit), *options,
            server=[*HOSTILE, "--record", str(self.record)],
        )  # fmt: skip
        env = {**os.environ, "HOME": self.root, **dict(self.sample.env)}
        self.proxy = Proxy(argv, self.workdir, env)
        if self.sample.era in (LEGACY, BATCH_ERA):
            self._handshake(self.sample.era)
        # A first barrier, so the handshake's lines are on record before the first case looks.
        if not self._barrier(f"start/{gen}", []):
            raise LilithGone("the server did not answer the first ping")

    def _barrier(self, name: str, into: list[Any]) -> bool:
        """Two requests: a ping the server answers (its answers come back in order) and one Lilith answers
        itself (-32602: NUL in a tool name), because Lilith may write its own replies to earlier lines
        after forwarding later ones. Once both answers are back, everything before them has arrived.
        Returns whether the server itself answered the ping (False: the session is over)."""
        ping: dict[str, Any] = {"jsonrpc": "2.0", "id": f"barrier/{name}", "method": "ping"}
        local = {"jsonrpc": "2.0", "id": f"barrier/{name}/local", "method": "tools/call", "params": {"name": "\u0000"}}
        self._write(modern_meta(ping) if self.sample.era == MODERN else ping)
        self._write(local)
        waiting = {f"barrier/{name}", f"barrier/{name}/local"}

        def done(line: Any) -> bool:
            for item in line if isinstance(line, list) else [line]:
                if isinstance(item, dict) and "method" not in item and isinstance(item.get("id"), str):
                    waiting.discard(item["id"])
            return not waiting

        self._wait_for(done, into, BARRIER_TIMEOUT)
        pong = [m for m in into if isinstance(m, dict) and m.get("id") == f"barrier/{name}"]
        return bool(pong) and "result" in pong[-1]

    def _handshake(self, version: str) -> None:
        params = {
            "protocolVersion": version,
            "capabilities": {"sampling": {}, "elicitation": {}},  # no roots: see RT-SRQ
            "clientInfo": {"name": "redteam", "version": "1"},
        }
        init_id = f"init/{self.generation}"
        self._write({"jsonrpc": "2.0", "id": init_id, "method": "initialize", "params": params})
        self._wait_for(lambda line: isinstance(line, dict) and line.get("id") == init_id, [], BARRIER_TIMEOUT)
        self._write({"jsonrpc": "2.0", "method": "notifications/initialized"})

    def close(self) -> None:
        if self.proxy is not None:
            self.proxy.close(10)
            self.proxy.kill()
            self.proxy = None

    def abandon(self) -> str:
        """Kill the process after a failure; return the tail of its stderr for the report."""
        proxy, self.proxy = self.proxy, None
        if proxy is None:
            return ""
        exit_code = proxy.proc.poll()
        proxy.kill()
        tail = proxy.stderr()[-1500:]
        return f"lilith exit status {exit_code}; stderr tail:\n{tail}"

    # ------------------------------------------------------------------------------------------ I/O
    def _exited_because_the_server_did(self) -> bool:
        proxy = self.proxy
        if proxy is None:
            return False
        try:
            code = proxy.proc.wait(10)
        except subprocess.TimeoutExpired:
            return False
        return code == 1 and "server_exited" in proxy.stderr()

    def _write(self, payload: Any, newline: bool = True) -> None:
        assert self.proxy is not None
        data = payload if isinstance(payload, bytes) else json.dumps(payload, ensure_ascii=False).encode()
        try:
            self.proxy.send_raw(data + b"\n" if newline else data)
        except (BrokenPipeError, OSError) as exc:
            raise LilithGone(f"writing to lilith failed: {exc}") from None

    def _wait_for(self, done: Callable[[Any], bool], into: list[Any], timeout: float) -> None:
        assert self.proxy is not None
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no expected line within {timeout} s")
            try:
                raw = self.proxy.lines.get(timeout=remaining)
            except queue.Empty:
                continue
            if raw is None:
                raise LilithGone("lilith closed its stdout")
            line = _parse(raw)
            into.append(line)
            if done(line):
                return

    def drain(self, into: list[Any]) -> None:
        """Lines already waiting (late answers of the previous case)."""
        if self.proxy is None:
            return
        while True:
            try:
                raw = self.proxy.lines.get_nowait()
            except queue.Empty:
                return
            if raw is None:
                self.proxy.lines.put(None)  # keep the end-of-output mark for the next reader
                return
            into.append(unroot(_parse(raw), self.root))

    @staticmethod
    def _size(path: Path) -> int:
        return path.stat().st_size if path.exists() else 0

    @staticmethod
    def _lines_since(path: Path, offset: int) -> list[Any]:
        if not path.exists():
            return []
        with path.open("rb") as handle:
            handle.seek(offset)
            return [_parse(raw) for raw in handle.read().splitlines() if raw.strip()]

    # ---------------------------------------------------------------------------------------- cases
    def play(self, case: Case) -> Observation:
        ids = {n: f"{case.id}/{n}" for n in range(1, MAX_REFS + 1)}
        obs = Observation(ids)
        if self.proxy is None:
            self.start()
        record_from, audit_from = self._size(self.record), self._size(self.audit)
        for step in case.steps:
            if isinstance(step, Send):
                payload = with_root(resolve(step.payload, ids), self.root)
                if isinstance(payload, bytes):
                    for n, value in ids.items():
                        payload = payload.replace(f"@ID{n}@".encode(), json.dumps(value).encode())
                elif case.era == MODERN:
                    payload = modern_meta(payload)
                if isinstance(payload, bytes):  # may be several lines (pipelined)
                    obs.sent.extend(_parse(line) for line in payload.split(b"\n"))
                else:
                    obs.sent.append(payload)
                self._write(payload, step.newline)
            elif isinstance(step, Pause):
                time.sleep(step.seconds)
            elif isinstance(step, AwaitAnswer):
                wanted = obs.resolve(step.ref)
                try:
                    self._wait_for(_answer_to(wanted), obs.client, step.timeout)
                    obs.awaited.append(True)
                except TimeoutError:
                    obs.awaited.append(False)  # the expectations say whether an answer was due
        try:
            server_alive = self._barrier(case.id, obs.client)
        except LilithGone:
            # Lilith may exit before the barrier is answered when the case's server died (no --restart):
            # that ends the session, as designed. Any other way of going away stays an error of this case.
            if not self._exited_because_the_server_did():
                raise
            server_alive = False
        obs.client = [line for line in obs.client if not _is_barrier(line)]
        obs.server = [line for line in self._lines_since(self.record, record_from) if not _is_barrier(line)]
        obs.audit = [line for line in self._lines_since(self.audit, audit_from) if isinstance(line, dict)]
        obs.sent, obs.client = unroot(obs.sent, self.root), unroot(obs.client, self.root)
        obs.server, obs.audit = unroot(obs.server, self.root), unroot(obs.audit, self.root)
        if not server_alive:  # the case ended the session: the next case gets a fresh one
            obs.session_lost = True
            self.abandon()
        return obs


def _answers(line: Any, wanted: Any) -> bool:
    items = line if isinstance(line, list) else [line]
    return any(isinstance(m, dict) and "method" not in m and same_id(m.get("id"), wanted) for m in items)


def _answer_to(wanted: Any) -> Callable[[Any], bool]:
    return lambda line: _answers(line, wanted)


def _is_barrier(line: Any) -> bool:
    return isinstance(line, dict) and str(line.get("id", "")).startswith("barrier/")


def run_group(workdir: Path, root: Path, cases: Iterable[Case]) -> Iterator[tuple[Case, Observation]]:
    """Play the cases in order on one process; a failing case gets the error, the rest a fresh process."""
    cases = list(cases)
    group = GroupRun(workdir, root, cases[0])
    previous: Observation | None = None
    try:
        for case in cases:
            if previous is not None:
                group.drain(previous.client)
            try:
                obs = group.play(case)
            except Exception as exc:  # Lilith gone or wedged, or a harness fault: this case only
                obs = Observation({}, error=f"{type(exc).__name__}: {exc}\n{group.abandon()}")
            previous = obs
            yield case, obs
    finally:
        group.close()


class CataloguePlayer:
    """Plays each group of a catalogue once, the first time one of its cases is asked for."""

    def __init__(self, catalogue: list[Case], workdir: Path) -> None:
        self.catalogue = catalogue
        self.workdir = workdir
        self.root = build_tree(workdir / "root")
        self.observed: dict[str, Observation] = {}
        self.groups = 0

    def observe(self, case: Case) -> Observation:
        if case.id not in self.observed:
            members = [c for c in self.catalogue if c.group == case.group]
            self.groups += 1
            groupdir = self.workdir / f"group-{self.groups}"
            groupdir.mkdir()
            for member, obs in run_group(groupdir, self.root, members):
                self.observed[member.id] = obs
        return self.observed[case.id]
