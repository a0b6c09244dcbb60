"""Lilith's server reaper: a tiny standalone process that owns the MCP server's whole process tree.

Run as ``python -I -S reaper.py CTL_FD LILITH_PID`` by :mod:`lilith.runtime.supervisor`, with the server's
stdin pipe as fd 0 and its stdout pipe as fd 1 (handed straight to the server, then replaced by /dev/null
here, so this process never writes to fd 1), stderr shared with Lilith, and CTL_FD one end of a socketpair
whose other end only Lilith holds. That socket is both the control channel and the lifeline:

* Lilith -> reaper: first ``<n>\\n`` followed by n bytes of NUL-separated configuration
  (cwd, max_memory_bytes, max_cpu_seconds, max_open_files, max_processes, argc, argv..., env "k=v"...),
  then command lines ``term\\n`` (SIGTERM the whole tree) and ``kill\\n`` (SIGKILL the whole tree).
* reaper -> Lilith: ``started <pid>\\n`` or ``error <message>\\n``, and finally
  ``exit <returncode|-> <signal|-> <limit|-> <reason>\\n`` once nothing of the tree is left.
* EOF from Lilith means Lilith is gone: the whole tree is SIGKILLed and the reaper exits.

The reaper is a child subreaper (PR_SET_CHILD_SUBREAPER), so descendants that double-fork or setsid to
escape are re-parented to it and stay in its tree, which it finds by scanning /proc/*/stat. The server
gets PR_SET_PDEATHSIG=SIGKILL so it also dies if the reaper itself is killed.

The server runs as our user, so it can SIGSTOP the reaper, which then neither enforces caps nor notices a
cut lifeline. Lilith notices a stopped reaper and kills the tree itself while it lives; for when it dies, the
reaper's own PR_SET_PDEATHSIG is SIGCONT (harmless whenever it comes), so the death of Lilith wakes a stopped
reaper to see EOF and kill the tree. Job-control stops (SIGTSTP, SIGTTIN, SIGTTOU) are ignored here, so only
a deliberate SIGSTOP stops the reaper.

This file must stay stdlib-only and cheap to import: it is on the critical path of server start.
"""

from __future__ import annotations

import os
import resource
import select
import sys
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    import signal as _sig
    from collections.abc import Callable
else:  # ``signal`` imports enum, which costs milliseconds at start; ``_signal`` is the same API
    import _signal as _sig

PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36
PR_SET_DUMPABLE = 4
_JOB_CONTROL_STOPS = (_sig.SIGTSTP, _sig.SIGTTIN, _sig.SIGTTOU)
POLL_INTERVAL = 0.2  # seconds between resource checks of the tree (the contract is <= 250 ms)
RLIM_INFINITY = resource.RLIM_INFINITY
_SIGNAL_ALIASES = {"SIGIOT", "SIGCLD", "SIGPOLL"}


class Config:
    """What to run and how; decoded from the first control message."""

    __slots__ = ("argv", "cwd", "env", "max_cpu", "max_files", "max_memory", "max_procs")

    def __init__(self, payload: bytes) -> None:
        fields = [os.fsdecode(f) for f in payload.split(b"\0")]
        self.cwd = fields[0] or None
        self.max_memory = _opt_int(fields[1])
        self.max_cpu = _opt_int(fields[2])
        self.max_files = _opt_int(fields[3])
        self.max_procs = _opt_int(fields[4])
        argc = int(fields[5])
        self.argv = fields[6 : 6 + argc]
        self.env: dict[str, str] = {}
        for item in fields[6 + argc :]:
            key, _, value = item.partition("=")
            self.env[key] = value


def _opt_int(text: str) -> int | None:
    return int(text) if text else None


def forbid_inspection(prctl: Callable[..., object] | None = None) -> None:
    """Make this process undumpable: a process of the same user (the server it supervises) can then neither
    ptrace it nor open its ``/proc/<pid>/mem`` to rewrite it (the policy, the audit key) where the kernel does
    not restrict ptrace otherwise (no Yama), and no core dump holds its secrets. Root is not stopped by this.
    Undone by exec, so the server starts dumpable as usual."""
    try:  # noqa: SIM105 - contextlib is one more import on the server's start-up path
        (prctl or load_prctl())(PR_SET_DUMPABLE, 0, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: nothing to forbid this way
        pass


def load_prctl() -> Callable[..., object]:
    """libc's prctl. ``_ctypes`` directly: importing ``ctypes`` costs ~4 ms, a third of our start time."""
    try:
        import _ctypes

        class _Func(_ctypes.CFuncPtr):
            _flags_ = _ctypes.FUNCFLAG_CDECL
            _restype_ = None

        class _Libc:
            _handle = _ctypes.dlopen(None, os.RTLD_NOW)  # type: ignore[arg-type]  # NULL: the main program and libc

        return _Func(("prctl", _Libc()))  # type: ignore[arg-type]
    except Exception:  # any surprise in that shortcut: take the documented road
        import ctypes

        return ctypes.CDLL(None).prctl


def signal_name(signum: int) -> str:
    for name in dir(_sig):
        canonical = name.startswith("SIG") and not name.startswith("SIG_") and name not in _SIGNAL_ALIASES
        if canonical and getattr(_sig, name) == signum:
            return name
    return f"signal {signum}"


def mib(n: int) -> str:
    value = n / 1048576
    return f"{value:.0f} MiB" if value >= 10 else f"{value:.1f} MiB"


def read_stat(pid: str) -> list[bytes] | None:
    """Fields of /proc/PID/stat from field 3 (state) on, or None if the process is gone."""
    return _read_stat_file(f"/proc/{pid}/stat")


def _read_stat_file(path: str) -> list[bytes] | None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        data = os.read(fd, 4096)
    except OSError:
        return None
    finally:
        os.close(fd)
    return data.rpartition(b")")[2].split()


def tree(root: int) -> dict[int, list[bytes]]:
    """Every process descended from ``root`` (not ``root`` itself), mapped to its stat fields."""
    stats: dict[int, list[bytes]] = {}
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        fields = read_stat(entry)
        if fields is None or len(fields) < 22:
            continue
        pid = int(entry)
        stats[pid] = fields
        children.setdefault(int(fields[1]), []).append(pid)
    found: dict[int, list[bytes]] = {}
    todo = list(children.get(root, ()))
    while todo:
        pid = todo.pop()
        if pid in found:
            continue
        found[pid] = stats[pid]
        todo.extend(children.get(pid, ()))
    return found


def live_stat(pid: int, fields: list[bytes]) -> list[bytes] | None:
    """Stat fields that speak for ``pid`` while any of its threads runs, or None once it has ended.

    A main thread that ends on its own (a raw SYS_exit) leaves its process a zombie with no memory while the
    other threads run on; one of those then speaks for the process. Threads share one address space, so its
    RSS is the whole process's, counted once. An ordinary zombie has one thread left: no task scan for it.
    """
    if fields[0] not in (b"Z", b"X"):
        return fields
    if fields[17] == b"1":
        return None
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return None
    for tid in tids:
        thread = _read_stat_file(f"/proc/{pid}/task/{tid}/stat")
        if thread is not None and len(thread) > 21 and thread[0] not in (b"Z", b"X"):
            return thread
    return None


def live_processes(root: int) -> dict[int, list[bytes]]:
    """Every live process descended from ``root``, mapped to the stat fields that speak for it."""
    live: dict[int, list[bytes]] = {}
    for pid, fields in tree(root).items():
        stat = live_stat(pid, fields)
        if stat is not None:
            live[pid] = stat
    return live


def user_task_count(uid: int) -> int:
    """Tasks (threads) currently owned by ``uid``: what RLIMIT_NPROC counts."""
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if os.stat(f"/proc/{entry}").st_uid != uid:
                continue
        except OSError:
            continue
        fields = read_stat(entry)
        if fields is not None and len(fields) > 17:
            total += int(fields[17])
    return total


def send_signal(pid: int, signum: int) -> bool:
    try:
        os.kill(pid, signum)
    except OSError:
        return False
    return True


def _set_limit(which: int, soft: int, hard: int) -> None:
    _cur_soft, cur_hard = resource.getrlimit(which)
    if cur_hard != RLIM_INFINITY:
        hard = min(hard, cur_hard)
    resource.setrlimit(which, (min(soft, hard), hard))


def child(cfg: Config, errw: int, reaper_pid: int, prctl: Callable[..., object], nproc: int | None) -> None:
    """In the forked child: set up and exec the server. Never returns."""
    stage = "setup"
    try:
        os.setpgid(0, 0)
        prctl(PR_SET_PDEATHSIG, _sig.SIGKILL, 0, 0, 0)
        if os.getppid() != reaper_pid:
            os._exit(127)
        for signum in (_sig.SIGPIPE, _sig.SIGXFSZ, _sig.SIGINT, _sig.SIGTERM, _sig.SIGHUP, _sig.SIGCHLD):
            _sig.signal(signum, _sig.SIG_DFL)
        for signum in _JOB_CONTROL_STOPS:  # ignored by the reaper; an ignored signal would survive exec
            _sig.signal(signum, _sig.SIG_DFL)
        if cfg.max_cpu is not None:
            _set_limit(resource.RLIMIT_CPU, cfg.max_cpu, cfg.max_cpu + 1)
        if cfg.max_files is not None:
            _set_limit(resource.RLIMIT_NOFILE, cfg.max_files, cfg.max_files)
        if nproc is not None:
            _set_limit(resource.RLIMIT_NPROC, nproc, nproc)
        if cfg.cwd is not None:
            stage = "chdir"
            os.chdir(cfg.cwd)
        stage = "exec"
        os.execvpe(cfg.argv[0], cfg.argv, cfg.env)  # noqa: S606 - running the configured server is the point
    except OSError as exc:
        os.write(errw, f"{stage}:{exc.errno or 0}:{exc.strerror or exc}".encode(errors="replace"))
    except BaseException as exc:  # anything at all must end in _exit, never in a second reaper
        os.write(errw, f"setup:0:{exc}".encode(errors="replace"))
    os._exit(127)


def start_error(cfg: Config, report: bytes) -> str:
    stage, _, rest = report.decode(errors="replace").partition(":")
    errno_text, _, strerror = rest.partition(":")
    err = int(errno_text) if errno_text.isdigit() else 0
    what = f"cannot start {cfg.argv[0]!r}"
    if stage == "chdir":
        return f"{what}: working directory {cfg.cwd!r}: {strerror}"
    if stage == "exec" and err == 2:  # ENOENT
        return f"{what}: executable not found"
    if stage == "exec" and err == 13:  # EACCES
        return f"{what}: permission denied"
    return f"{what}: {strerror}"


class Reaper:
    def __init__(self, ctl: int, cfg: Config, server_pid: int, wake_r: int) -> None:
        self.ctl: int | None = ctl
        self.cfg = cfg
        self.me = os.getpid()
        self.server_pid = server_pid
        self.wake_r = wake_r
        self.status: int | None = None
        self.cpu_used = 0.0
        self.limit: str | None = None
        self.limit_reason = ""
        self.we_killed = False
        self.term_requested = False
        self.inbuf = b""

    # -- control channel -------------------------------------------------------------------------------------
    def send(self, line: str) -> None:
        if self.ctl is None:
            return
        data = (line.replace("\n", " ") + "\n").encode(errors="replace")
        try:
            while data:
                data = data[os.write(self.ctl, data) :]
        except OSError:
            self.ctl = None

    def read_commands(self) -> list[str] | None:
        """Commands received, or None when Lilith has gone (EOF: the lifeline is cut)."""
        if self.ctl is None:
            return None
        try:
            chunk = os.read(self.ctl, 4096)
        except BlockingIOError:
            return []
        except OSError:
            chunk = b""
        if not chunk:
            os.close(self.ctl)
            self.ctl = None
            return None
        self.inbuf += chunk
        *lines, self.inbuf = self.inbuf.split(b"\n")
        return [line.decode(errors="replace").strip() for line in lines]

    # -- children ----------------------------------------------------------------------------------------------
    def reap(self) -> bool:
        """Collect every exited child; True when no child at all is left."""
        while True:
            try:
                pid, status, usage = os.wait4(-1, os.WNOHANG)
            except ChildProcessError:
                return True
            if pid == 0:
                return False
            if pid == self.server_pid:
                self.status = status
                self.cpu_used = usage.ru_utime + usage.ru_stime

    def signal_tree(self, signum: int) -> int:
        procs = tree(self.me)
        for pid in procs:
            send_signal(pid, signum)
        return len(procs)

    def kill_everything(self) -> None:
        """SIGKILL the whole tree, again and again, until the reaper has no child left."""
        self.we_killed = True
        if self.status is None:
            # The server's group first, in one call before any scan of /proc: a server that keeps stopping
            # us gets the least time to. (Not yet reaped, its pid cannot be another group's.)
            send_signal(-self.server_pid, _sig.SIGKILL)
        while True:
            self.signal_tree(_sig.SIGKILL)
            if self.reap():
                return
            self.wait_wakeup(0.02)

    def drain_wakeup(self) -> None:
        try:
            while os.read(self.wake_r, 512):
                pass
        except OSError:
            pass

    def wait_wakeup(self, timeout: float) -> None:
        select.select([self.wake_r], [], [], timeout)
        self.drain_wakeup()

    # -- limits ------------------------------------------------------------------------------------------------
    def check_limits(self) -> bool:
        """True when the tree is over a limit (``limit`` and ``limit_reason`` are then set)."""
        live = list(live_processes(self.me).values())
        if self.cfg.max_procs is not None and len(live) > self.cfg.max_procs:
            self.limit = "processes"
            self.limit_reason = f"process limit of {self.cfg.max_procs} exceeded ({len(live)} processes in tree)"
            return True
        if self.cfg.max_memory is not None:
            rss = sum(int(fields[21]) for fields in live) * PAGE_SIZE
            if rss > self.cfg.max_memory:
                self.limit = "memory"
                self.limit_reason = f"memory limit of {mib(self.cfg.max_memory)} exceeded (tree RSS {mib(rss)})"
                return True
        return False

    # -- main loop ---------------------------------------------------------------------------------------------
    def run(self) -> None:
        interval = POLL_INTERVAL if self.cfg.max_memory is not None or self.cfg.max_procs is not None else None
        next_check = time.monotonic() + (interval or 0.0)
        poller = select.poll()
        poller.register(self.wake_r, select.POLLIN)
        if self.ctl is not None:
            poller.register(self.ctl, select.POLLIN)
        while True:
            if self.reap() or self.status is not None:
                break
            if _TERM_RECEIVED:
                _TERM_RECEIVED.clear()
                self.signal_tree(_sig.SIGTERM)
            timeout_ms = -1
            if interval is not None:
                now = time.monotonic()
                if now >= next_check:
                    if self.check_limits():
                        break
                    next_check = now + interval
                timeout_ms = max(1, int((next_check - time.monotonic()) * 1000) + 1)
            events = poller.poll(timeout_ms)
            lifeline_cut = False
            for fd, _mask in events:
                if fd == self.wake_r:
                    self.drain_wakeup()
                elif fd == self.ctl:
                    commands = self.read_commands()
                    if commands is None:
                        poller.unregister(fd)
                        lifeline_cut = True
                        break
                    for command in commands:
                        if command == "term":
                            self.term_requested = True
                            self.signal_tree(_sig.SIGTERM)
                        elif command == "kill":
                            self.kill_everything()
            if lifeline_cut:
                break
        self.kill_everything()
        self.send(self.report())

    def report(self) -> str:
        status = self.status
        if status is None:
            return "exit - - - server exit status unknown"
        if os.WIFEXITED(status):
            code = os.WEXITSTATUS(status)
            return f"exit {code} - - exited with status {code}"
        signum = os.WTERMSIG(status) if os.WIFSIGNALED(status) else 0
        name = signal_name(signum)
        limit = self.limit
        detail = self.limit_reason
        cpu = self.cfg.max_cpu
        if limit is None and cpu is not None:
            hit_cpu = signum == _sig.SIGXCPU or (signum == _sig.SIGKILL and self.cpu_used >= cpu - 0.05)
            if hit_cpu:
                limit = "cpu"
                detail = f"CPU time limit of {cpu} s exceeded"
        if limit is None and signum == _sig.SIGKILL and self.we_killed and self.ctl is not None:
            detail = "on request"
        reason = f"killed by {name}: {detail}" if detail else f"killed by {name}"
        return f"exit - {signum} {limit or '-'} {reason}"


_TERM_RECEIVED: list[int] = []
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


def _on_term(signum: int, _frame: object) -> None:
    _TERM_RECEIVED.append(signum)


def _ignore(_signum: int, _frame: object) -> None:
    return


def read_config(ctl: int) -> Config | None:
    data = b""
    while b"\n" not in data:
        chunk = os.read(ctl, 65536)
        if not chunk:
            return None
        data += chunk
    header, _, data = data.partition(b"\n")
    size = int(header)
    while len(data) < size:
        chunk = os.read(ctl, max(65536, size - len(data)))
        if not chunk:
            return None
        data += chunk
    return Config(data[:size])


def main(argv: list[str]) -> int:
    ctl = int(argv[1])
    os.set_inheritable(ctl, False)
    _sig.signal(_sig.SIGINT, _sig.SIG_IGN)  # Ctrl-C is for Lilith to handle; it tells us what to do
    _sig.signal(_sig.SIGHUP, _sig.SIG_IGN)
    for signum in _JOB_CONTROL_STOPS:  # Ctrl-Z stops Lilith, not its supervision (a stop is a server's attack)
        _sig.signal(signum, _sig.SIG_IGN)
    prctl = load_prctl()  # before waiting: Lilith may still be loading its policy
    prctl(PR_SET_PDEATHSIG, _sig.SIGCONT, 0, 0, 0)  # Lilith's death wakes us even if the server stopped us
    forbid_inspection(prctl)
    if len(argv) > 2 and os.getppid() != int(argv[2]):
        return 0  # Lilith died before that was set: nothing was started, and the lifeline is cut
    cfg = read_config(ctl)
    if cfg is None:
        return 0
    prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    nproc = None
    if cfg.max_procs is not None and os.getuid() != 0:
        # RLIMIT_NPROC counts every task of the user, not just the tree: allow what exists plus the cap
        # (times a thread allowance) as a backstop against fork bombs; the tree count below is the real cap.
        nproc = user_task_count(os.getuid()) + cfg.max_procs * 32
    errr, errw = os.pipe()
    reaper_pid = os.getpid()
    pid = os.fork()
    if pid == 0:
        os.close(errr)
        child(cfg, errw, reaper_pid, prctl, nproc)
    os.close(errw)
    # SIGCHLD wakes the poll loop through the wakeup fd; set up before anything can be missed
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_r, False)
    os.set_blocking(wake_w, False)
    _sig.set_wakeup_fd(wake_w, warn_on_full_buffer=False)
    _sig.signal(_sig.SIGCHLD, _ignore)
    _sig.signal(_sig.SIGTERM, _on_term)
    try:
        os.setpgid(pid, pid)  # also done by the child; whichever runs first wins
    except OSError:
        failure = b""
    failure = b""
    while chunk := os.read(errr, 4096):
        failure += chunk
    os.close(errr)
    # The server holds its stdin/stdout now; drop ours so EOF propagates both ways.
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(devnull, 1)
    os.close(devnull)
    if failure:
        os.waitpid(pid, 0)
        reaper = Reaper(ctl, cfg, pid, wake_r)
        reaper.send("error " + start_error(cfg, failure))
        return 0
    reaper = Reaper(ctl, cfg, pid, wake_r)
    reaper.send(f"started {pid}")
    reaper.run()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
