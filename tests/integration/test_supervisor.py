"""The server supervisor, with real processes: lifetime, shutdown order, resource caps, plumbing."""

from __future__ import annotations

import json
import os
import py_compile
import select
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from lilith.errors import ServerStartError
from lilith.runtime import supervisor
from lilith.runtime.supervisor import ResourceLimits, ServerExit, ServerProcess, ServerSpec, start_server

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = str(ROOT / "tests" / "servers" / "supervisor_fixtures.py")
MiB = 1 << 20


def fixture_spec(*args: str, limits: ResourceLimits | None = None, **kwargs: object) -> ServerSpec:
    env = kwargs.pop("env", dict(os.environ))
    assert isinstance(env, dict)
    cwd = kwargs.pop("cwd", None)
    assert cwd is None or isinstance(cwd, str)
    return ServerSpec(argv=(sys.executable, FIXTURES, *args), env=env, cwd=cwd, limits=limits or ResourceLimits())


class Lines:
    """Reads newline-terminated lines from a server's stdout fd, with timeouts."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.buffer = b""
        self.eof = False

    def read_line(self, timeout: float = 10.0) -> str | None:
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buffer:
            if self.eof:
                return None
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no line within {timeout} s (have {self.buffer!r})")
            ready, _, _ = select.select([self.fd], [], [], remaining)
            if ready:
                chunk = os.read(self.fd, 65536)
                self.eof = not chunk
                self.buffer += chunk
        line, _, self.buffer = self.buffer.partition(b"\n")
        return line.decode()

    def read_all(self, timeout: float = 10.0) -> list[str]:
        lines = []
        while (line := self.read_line(timeout)) is not None:
            lines.append(line)
        return lines


@pytest.fixture
def servers() -> Iterator[list[ServerProcess]]:
    """Every server a test starts, killed at the end whatever happened."""
    started: list[ServerProcess] = []
    yield started
    for server in started:
        server.kill()


def start(servers: list[ServerProcess], spec: ServerSpec) -> ServerProcess:
    server = start_server(spec)
    servers.append(server)
    return server


def gone(pid: int) -> bool:
    try:
        return bool(psutil.Process(pid).status() == psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return True


def wait_gone(pids: list[int], timeout: float) -> list[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        alive = [pid for pid in pids if not gone(pid)]
        if not alive:
            return []
        time.sleep(0.02)
    return [pid for pid in pids if not gone(pid)]


def wait_for_file(path: Path, timeout: float = 10.0) -> str:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{path} not written")
        time.sleep(0.01)
    return path.read_text()


# -- lifetime ------------------------------------------------------------------------------------------------

DRIVER = textwrap.dedent(
    """
    import os, sys, time
    from lilith.runtime.supervisor import ServerSpec, start_server
    server = start_server(ServerSpec(argv=tuple(sys.argv[1:]), env=dict(os.environ)))
    print(server.pid, flush=True)
    time.sleep(60)
    """
)


def test_tree_dies_when_caller_is_sigkilled(tmp_path: Path) -> None:
    driver_py = tmp_path / "driver.py"
    driver_py.write_text(DRIVER)
    pidfile = tmp_path / "daemon.pid"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    driver = subprocess.Popen(
        [sys.executable, str(driver_py), sys.executable, FIXTURES, "daemon", str(pidfile)],
        stdout=subprocess.PIPE,
        env=env,
    )
    try:
        assert driver.stdout is not None
        server_pid = int(driver.stdout.readline())
        daemon_pid = int(wait_for_file(pidfile))
        reaper_pid = psutil.Process(server_pid).ppid()
        assert reaper_pid != driver.pid
        assert psutil.Process(reaper_pid).ppid() == driver.pid
        assert psutil.Process(daemon_pid).ppid() == reaper_pid  # the escapee was re-parented to the subreaper
        assert os.getsid(daemon_pid) != os.getsid(server_pid)
        driver.kill()
        driver.wait()
        assert wait_gone([reaper_pid, server_pid, daemon_pid], 2.0) == []
    finally:
        driver.kill()
        driver.wait()
        if driver.stdout is not None:
            driver.stdout.close()


def test_rest_of_tree_is_killed_when_server_exits(servers: list[ServerProcess], tmp_path: Path) -> None:
    pidfile = tmp_path / "daemon.pid"
    server = start(servers, fixture_spec("daemon", str(pidfile)))
    lines = Lines(server.stdout_fd)
    assert lines.read_line() == f"server {server.pid}"
    daemon_pid = int(wait_for_file(pidfile))
    server.close_stdin()
    result = server.wait(5.0)
    assert result == ServerExit(0, None, "exited with status 0", None)
    assert gone(daemon_pid)
    assert lines.read_all(2.0) == []  # stdout EOF reached us
    assert server.shutdown() is result


# -- shutdown order ------------------------------------------------------------------------------------------


def test_shutdown_server_exits_on_stdin_eof(servers: list[ServerProcess]) -> None:
    server = start(servers, fixture_spec("echo"))
    os.write(server.stdin_fd, b"ping\n")
    assert Lines(server.stdout_fd).read_line() == "ping"
    began = time.monotonic()
    result = server.shutdown(stdin_grace=5.0, term_grace=5.0)
    assert time.monotonic() - began < 2.0
    assert result.returncode == 0
    assert result.signal is None
    assert result.limit is None


def test_shutdown_sends_sigterm_when_eof_is_ignored(servers: list[ServerProcess], tmp_path: Path) -> None:
    record = tmp_path / "term.txt"
    server = start(servers, fixture_spec("ignore_eof", str(record)))
    assert Lines(server.stdout_fd).read_line() == "ready"
    began = time.monotonic()
    result = server.shutdown(stdin_grace=0.5, term_grace=3.0)
    elapsed = time.monotonic() - began
    assert 0.5 <= elapsed < 2.5
    assert result.signal == signal.SIGTERM
    assert result.reason == "killed by SIGTERM"
    assert record.read_text() == "SIGTERM\n"


def test_shutdown_sends_sigkill_when_sigterm_is_ignored(servers: list[ServerProcess]) -> None:
    server = start(servers, fixture_spec("ignore_term"))
    assert Lines(server.stdout_fd).read_line() == "ready"
    began = time.monotonic()
    result = server.shutdown(stdin_grace=0.3, term_grace=0.5)
    elapsed = time.monotonic() - began
    assert 0.8 <= elapsed < 2.5
    assert result.signal == signal.SIGKILL
    assert result.returncode is None
    assert result.limit is None


def test_kill_is_immediate(servers: list[ServerProcess]) -> None:
    server = start(servers, fixture_spec("ignore_term"))
    assert Lines(server.stdout_fd).read_line() == "ready"
    began = time.monotonic()
    result = server.kill()
    assert time.monotonic() - began < 1.0
    assert result.signal == signal.SIGKILL
    assert gone(server.pid)


# -- resource caps -------------------------------------------------------------------------------------------


def test_memory_cap_kills_the_tree(servers: list[ServerProcess]) -> None:
    limits = ResourceLimits(max_memory_bytes=100 * MiB)
    server = start(servers, fixture_spec("alloc", "300", "10", "0.05", limits=limits))
    lines = Lines(server.stdout_fd)
    crossed: float | None = None
    allocated = 0
    while (line := lines.read_line()) is not None:
        if line.startswith("MB "):
            allocated = int(line.split()[1])
        if crossed is None and allocated >= 100:
            crossed = time.monotonic()  # allocated alone is over the cap: the tree certainly is
        assert line != "done", "allocated 300 MB under a 100 MB cap"
    result = server.wait(5.0)
    assert result is not None
    # The interpreter's own ~10 MiB count too, so the kill may come before the allocation alone crosses 100.
    assert allocated >= 70, f"killed at {allocated} MB allocated: not by the growth"
    assert crossed is None or time.monotonic() - crossed < 1.5
    assert result.limit == "memory"
    assert result.signal == signal.SIGKILL
    assert result.reason.startswith("killed by SIGKILL: memory limit of 100 MiB exceeded (tree RSS ")


def test_memory_under_cap_survives(servers: list[ServerProcess]) -> None:
    limits = ResourceLimits(max_memory_bytes=100 * MiB)
    server = start(servers, fixture_spec("alloc", "30", "10", "0.01", limits=limits))
    lines = Lines(server.stdout_fd)
    while (line := lines.read_line()) != "done":
        assert line is not None, "killed under the cap"
    time.sleep(0.6)  # a few polls of the tree at full size
    result = server.shutdown(stdin_grace=5.0)
    assert result.returncode == 0
    assert result.limit is None


def test_cpu_cap(servers: list[ServerProcess]) -> None:
    server = start(servers, fixture_spec("busy", limits=ResourceLimits(max_cpu_seconds=1)))
    assert Lines(server.stdout_fd).read_line() == "ready"
    result = server.wait(10.0)
    assert result is not None
    assert result.limit == "cpu"
    assert result.signal in (signal.SIGXCPU, signal.SIGKILL)
    assert "CPU time limit of 1 s exceeded" in result.reason


def test_open_files_cap(servers: list[ServerProcess]) -> None:
    server = start(servers, fixture_spec("open_files", "100", limits=ResourceLimits(max_open_files=20)))
    line = Lines(server.stdout_fd).read_line()
    assert line is not None
    opened = int(line.split()[1])
    assert 0 < opened < 20
    assert server.shutdown().returncode == 0


def test_process_cap_kills_the_tree(servers: list[ServerProcess]) -> None:
    server = start(servers, fixture_spec("spawn", "10", limits=ResourceLimits(max_processes=3)))
    children = [int(line.split()[1]) for line in Lines(server.stdout_fd).read_all() if line.startswith("child ")]
    result = server.wait(5.0)
    assert result is not None
    assert result.limit == "processes"
    assert result.signal == signal.SIGKILL
    assert result.reason.startswith("killed by SIGKILL: process limit of 3 exceeded (")
    assert len(children) >= 3
    assert [pid for pid in children if not gone(pid)] == []


# -- plumbing ------------------------------------------------------------------------------------------------


def test_environment_is_exactly_the_spec_and_cwd_is_honoured(servers: list[ServerProcess], tmp_path: Path) -> None:
    env = {"ONLY_THIS": "yes", "PATH": "/usr/bin:/bin"}
    server = start(servers, fixture_spec("env", env=env, cwd=str(tmp_path)))
    line = Lines(server.stdout_fd).read_line()
    assert line is not None
    seen = json.loads(line)
    assert seen["env"] == env
    assert seen["cwd"] == str(tmp_path)
    assert seen["fds"] == ["0", "1", "2", "3"]  # stdio and listdir's own fd: nothing of ours leaked in
    assert server.shutdown().returncode == 0


def test_stderr_is_ours_not_stdout(servers: list[ServerProcess], capfd: pytest.CaptureFixture[str]) -> None:
    server = start(servers, fixture_spec("streams"))
    assert Lines(server.stdout_fd).read_all() == ["to-stdout"]
    assert server.shutdown().returncode == 0
    captured = capfd.readouterr()
    assert "to-stderr" in captured.err
    assert "to-stderr" not in captured.out


def test_executable_not_found() -> None:
    fds_before = len(os.listdir("/proc/self/fd"))
    with pytest.raises(ServerStartError, match=r"cannot start 'nosuchcmd-lilith': executable not found"):
        start_server(ServerSpec(argv=("nosuchcmd-lilith", "--x"), env=dict(os.environ)))
    with pytest.raises(ServerStartError, match=r"working directory"):
        start_server(ServerSpec(argv=("true",), env=dict(os.environ), cwd="/nonexistent/lilith"))
    assert len(os.listdir("/proc/self/fd")) == fds_before


def test_exit_code_is_reported(servers: list[ServerProcess]) -> None:
    server = start(servers, fixture_spec("exit", "3"))
    result = server.wait(10.0)
    assert result == ServerExit(3, None, "exited with status 3", None)


def test_no_leaks_idempotent_shutdown_and_threadsafe_wait() -> None:
    fds_before = sorted(os.listdir("/proc/self/fd"))
    threads_before = threading.active_count()
    server = start_server(fixture_spec("echo"))
    results: list[ServerExit | None] = []
    waiters = [threading.Thread(target=lambda: results.append(server.wait(10.0))) for _ in range(4)]
    for waiter in waiters:
        waiter.start()
    first = server.shutdown()
    for waiter in waiters:
        waiter.join(10.0)
    assert results == [first] * 4
    assert server.shutdown() is first
    assert server.kill() is first
    server.close_stdin()
    assert sorted(os.listdir("/proc/self/fd")) == fds_before
    assert psutil.Process().children() == []  # the reaper was reaped: no zombie
    deadline = time.monotonic() + 2.0
    while threading.active_count() > threads_before and time.monotonic() < deadline:
        time.sleep(0.01)
    assert threading.active_count() == threads_before


def test_taken_pipes_are_the_callers_and_keep_what_the_server_wrote_after_the_tree_is_gone(
    servers: list[ServerProcess],
) -> None:
    server = start(servers, fixture_spec("echo"))
    stdin_fd, stdout_fd = server.take_pipes()
    os.write(stdin_fd, b"one\ntwo\n")
    os.close(stdin_fd)  # the caller closes stdin to stop the server; shutdown() no longer does
    assert server.wait(10.0) == ServerExit(0, None, "exited with status 0", None)  # nothing read yet
    assert server.shutdown() == server.kill() == server.wait(0)
    os.fstat(stdout_fd)  # still open after shutdown and kill: a reader drains it at its own pace
    assert Lines(stdout_fd).read_all() == ["one", "two"]
    os.close(stdout_fd)
    with pytest.raises(OSError, match="Bad file descriptor"):
        os.fstat(stdin_fd)  # closed once, by us


def test_reaper_runs_from_fresh_bytecode_or_source(tmp_path: Path) -> None:
    program = supervisor.reaper_program()
    assert program == supervisor._REAPER or supervisor._fresh_bytecode(supervisor._REAPER, program)
    source = tmp_path / "mod.py"
    source.write_text("x = 1\n")
    cached = tmp_path / "mod.pyc"
    py_compile.compile(str(source), cfile=str(cached), doraise=True)
    assert supervisor._fresh_bytecode(str(source), str(cached))
    source.write_text("x = 22\n")  # other size: stale
    assert not supervisor._fresh_bytecode(str(source), str(cached))


def test_server_dies_if_the_reaper_is_killed(servers: list[ServerProcess]) -> None:
    server = start(servers, fixture_spec("ignore_term"))
    assert Lines(server.stdout_fd).read_line() == "ready"
    reaper_pid = psutil.Process(server.pid).ppid()
    os.kill(reaper_pid, signal.SIGKILL)
    result = server.wait(5.0)
    assert result is not None
    assert "died unexpectedly" in result.reason
    assert wait_gone([server.pid], 2.0) == []  # PR_SET_PDEATHSIG
