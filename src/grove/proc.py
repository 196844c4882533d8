"""The only module that starts processes: git, user commands, and helpers."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from grove.record import record

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing
if TYPE_CHECKING:
    from typing import Any

# Variables that pin git to one repository. Hooks and `git grove` (run as a git
# subcommand) export some of them; inherited, they would make every query in another
# worktree silently answer for the caller's repository instead.
_GIT_LOCATION_VARS = (
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_COMMON_DIR",
    "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_PREFIX",
    "GIT_NAMESPACE",
    "GIT_CEILING_DIRECTORIES",
)


def git_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _GIT_LOCATION_VARS}
    # Never wait for a pager or a credential prompt: agents have no terminal.
    env["GIT_TERMINAL_PROMPT"] = "0"
    env["GIT_PAGER"] = "cat"
    env["LC_ALL"] = "C"
    if extra:
        env.update(extra)
    return env


@record(frozen=True)
class Completed:
    argv: list[str]
    returncode: int
    stdout: str
    stderr: str


_found_programs: dict[tuple[str, str], str | None] = {}


def _executable(name: str, env: Mapping[str, str] | None) -> str | None:
    """The file the child would run for `name`, looked up on its PATH once per process.
    Left to the child, the search happens after the fork, one failed exec per folder
    before git's (8 on a machine with pyenv and cargo), while grove waits for the exec:
    a path saves 0.5-1 ms of each of the 10 git processes `list` starts. None (the child
    searches) for a path, or when the first match is in a relative PATH folder, which
    would depend on the child's folder."""
    if "/" in name:
        return None
    path = (env if env is not None else os.environ).get("PATH", os.defpath)
    key = (name, path)
    if key not in _found_programs:
        _found_programs[key] = _search(name, path)
    return _found_programs[key]


def _search(name: str, path: str) -> str | None:
    import stat

    for folder in path.split(os.pathsep):
        if not folder.startswith("/"):
            return None  # "" or "." means the child's own folder: let the child look
        candidate = f"{folder.rstrip('/')}/{name}"
        try:
            mode = Path(candidate).stat().st_mode
        except OSError:
            continue
        if stat.S_ISREG(mode) and os.access(candidate, os.X_OK):
            return candidate
    return None


def run(
    argv: Sequence[str],
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    stdin: str | None = None,
    cwd_fd: int | None = None,
) -> Completed:
    """Run a command to completion and capture its output as text.

    cwd_fd: an open folder to start in. The child changes into the folder itself, not a
    path, so a link swapped into the path after grove checked it cannot redirect the child.
    """
    proc = subprocess.run(
        list(argv),
        executable=_executable(argv[0], env),
        cwd=cwd,
        env=dict(env) if env is not None else None,
        input=stdin,
        capture_output=True,
        text=True,
        errors="replace",
        check=False,
        pass_fds=(cwd_fd,) if cwd_fd is not None else (),
        preexec_fn=(lambda: os.fchdir(cwd_fd)) if cwd_fd is not None else None,
    )
    return Completed(list(argv), proc.returncode, proc.stdout, proc.stderr)


def run_bounded(
    argv: Sequence[str], cwd: Path, timeout: float, env: Mapping[str, str] | None = None
) -> Completed | None:
    """Run a command to completion and capture its output as text, in memory only (no
    temporary file: the output may be secrets). It leads its own process group, so a
    timeout stops what it started too (a CLI's helper holding the pipe open); None then.
    stdin is empty: a command waiting for a login prompt fails instead of hanging."""
    child = _start_captured(argv, env, cwd=cwd, own_group=True)
    try:
        stdout, stderr = child.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        stop_group(child)
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.communicate(timeout=STOP_GRACE)
        return None
    except BaseException:
        stop_group(child)
        raise
    return Completed(list(argv), child.returncode, stdout, stderr)


def _start_captured(
    argv: Sequence[str],
    env: Mapping[str, str] | None,
    cwd: Path | None = None,
    own_group: bool = False,
) -> subprocess.Popen[str]:
    """A command started with empty stdin and its output piped back as text."""
    return subprocess.Popen(
        list(argv),
        executable=_executable(argv[0], env),
        cwd=cwd,
        env=dict(env) if env is not None else None,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        errors="replace",
        start_new_session=own_group,
    )


def run_all(
    argvs: Sequence[Sequence[str]], env: Mapping[str, str] | None = None
) -> list[Completed]:
    """Run commands side by side and capture each one's output, in order: every process
    starts before the first is waited for, so their waits overlap without threads."""
    return start_all(argvs, env)()


def start_all(
    argvs: Sequence[Sequence[str]], env: Mapping[str, str] | None = None, yield_cpu: bool = False
) -> Callable[[], list[Completed]]:
    """Start commands side by side and return what waits for them: the caller can do its
    own work while they run. Call the result once, or the processes are never reaped.

    yield_cpu: each child runs at a lower priority, so that grove starting the next ones
    and working meanwhile is not starved by the first (ten `git status` on two CPUs made
    starting them take four times as long); they get every CPU grove leaves idle."""
    started = []
    for argv in argvs:
        child = _start_captured(argv, env)
        if yield_cpu:
            with contextlib.suppress(OSError):  # it may have finished already
                os.setpriority(os.PRIO_PROCESS, child.pid, YIELDING_NICENESS)
        started.append(child)

    def collect() -> list[Completed]:
        done = []
        for argv, process in zip(argvs, started, strict=True):
            stdout, stderr = process.communicate()
            done.append(Completed(list(argv), process.returncode, stdout, stderr))
        return done

    return collect


@record(frozen=True)
class StepOutcome:
    command: str
    returncode: int
    tail: list[str]
    timed_out: bool = False


YIELDING_NICENESS = 10  # start_all(yield_cpu=True): below grove, above batch jobs
TAIL_LINE_CHARS = 500  # a hostile or runaway line is cut, never kept whole
STOP_GRACE = 5.0


def run_shell_step(
    command: str,
    cwd: Path,
    env: Mapping[str, str],
    tail_lines: int = 20,
    timeout: float | None = None,
) -> StepOutcome:
    """Run a user's command through the shell, streaming its output to stderr.

    stdout belongs to grove's answer (JSON for agents), so the command's own output goes
    to stderr; the last lines are kept so a failure can quote them. The command runs in
    its own process group, so a timeout (or grove being interrupted) stops everything it
    started, not just the shell.
    """
    import threading

    tail: deque[str] = deque(maxlen=tail_lines)
    child = subprocess.Popen(
        command,
        shell=True,
        cwd=cwd,
        env=dict(env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    assert child.stdout is not None
    stream = child.stdout

    def pump() -> None:
        partial = b""
        while chunk := os.read(stream.fileno(), 65536):
            sys.stderr.write(chunk.decode("utf-8", errors="replace"))
            lines = (partial + chunk).split(b"\n")
            partial = lines.pop()[-TAIL_LINE_CHARS * 4 :]
            tail.extend(line[:TAIL_LINE_CHARS].decode("utf-8", "replace") for line in lines)
        if partial:
            tail.append(partial[:TAIL_LINE_CHARS].decode("utf-8", "replace"))
        sys.stderr.flush()

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    timed_out = False
    try:
        returncode = child.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        returncode = stop_group(child)
    except BaseException:
        stop_group(child)
        raise
    reader.join(timeout=STOP_GRACE)
    return StepOutcome(command, returncode, list(tail), timed_out)


def stop_group(child: subprocess.Popen[Any]) -> int:
    """SIGTERM the child's process group, SIGKILL it after a grace period."""
    import signal

    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(child.pid, sig)
        except ProcessLookupError:
            break
        try:
            return child.wait(timeout=STOP_GRACE)
        except subprocess.TimeoutExpired:
            continue
    return child.wait()


def run_checked(
    command: str,
    cwd: Path,
    env: Mapping[str, str],
    *,
    phase: str,
    slot: int | None,
    hint: str,
    timeout: float | None = None,
) -> None:
    """Run a user's command (output streamed to stderr); on failure or timeout, raise
    StepFailed with its last lines."""
    from grove.errors import StepFailed

    outcome = run_shell_step(command, cwd, env, timeout=timeout)
    if outcome.returncode == 0 and not outcome.timed_out:
        return
    tail = "\n".join(outcome.tail[-10:])
    where = f" in slot {slot}" if slot is not None else ""
    what = (
        f"did not finish within {timeout:g}s and was stopped"
        if outcome.timed_out
        else f"exited with {outcome.returncode}"
    )
    raise StepFailed(
        f"[{phase}] `{command}` {what}{where}" + (f"; last output:\n{tail}" if tail else ""),
        hint=hint
        + ("; [grove] step_timeout in grove.toml sets the limit" if outcome.timed_out else ""),
        details={
            "slot": slot,
            "command": command,
            "returncode": outcome.returncode,
            "timed_out": outcome.timed_out,
            "tail": outcome.tail,
        },
    )


def replace_process(program: str, argv: Sequence[str], env: Mapping[str, str], cwd: Path) -> None:
    """Become `program` (exec): signals reach it directly and its exit code is ours."""
    sys.stdout.flush()
    sys.stderr.flush()
    os.chdir(cwd)
    os.execve(program, list(argv), dict(env))


# Signals grove passes on to the child's process group; a terminal's Ctrl-C reaches the
# group directly when grove handed it the terminal (run_owned).
_FORWARDED = ("SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2")
# How long what is left of a finished child's group gets between SIGTERM and SIGKILL: a dev
# server's watcher or a `sleep &` the command left behind exits at once on SIGTERM.
LEFTOVER_GRACE = 2.0


class _Terminal:
    """stdin's terminal, handed to the child's process group while it runs and taken back
    after, so an interactive child (bash, psql, an editor) reads the keyboard and Ctrl-C
    from the terminal reaches it rather than grove."""

    def __init__(self) -> None:
        import termios

        self.fd: int | None = None
        self.attrs: list[Any] | None = None
        self.handed = False
        if os.isatty(0):
            self.fd = 0
            with contextlib.suppress(termios.error):
                self.attrs = termios.tcgetattr(0)

    def ours(self) -> bool:
        """Whether grove is the terminal's foreground group: only then may it hand the
        terminal on (taken from the background, it would steal the user's shell's)."""
        if self.fd is None:
            return False
        try:
            return os.tcgetpgrp(self.fd) == os.getpgrp()
        except OSError:
            return False

    def give(self, pgid: int) -> None:
        if self.fd is not None:
            set_foreground(self.fd, pgid)
            self.handed = True

    def take_back(self, restore_modes: bool) -> None:
        """Make grove's group the foreground again; restore_modes: also the terminal modes
        (a child killed by a signal can leave it raw or without echo, as a shell would)."""
        import termios

        if self.fd is None or not self.handed:
            return
        set_foreground(self.fd, os.getpgrp())
        self.handed = False
        if restore_modes and self.attrs is not None:
            with contextlib.suppress(termios.error):
                termios.tcsetattr(self.fd, termios.TCSADRAIN, self.attrs)


def set_foreground(fd: int, pgid: int) -> None:
    """tcsetpgrp from a background group: the kernel stops a caller that does this with
    SIGTTOU unless it blocks or ignores it, so it is blocked for the call. A terminal that
    went away (hung up) is no error: there is nothing left to hand over."""
    import signal

    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTTOU})
    try:
        with contextlib.suppress(OSError):
            os.tcsetpgrp(fd, pgid)
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)


def _lead_own_group(hand_terminal: int | None) -> None:
    """In the child, before exec: lead a new process group, and take the terminal when
    grove hands it over. Done here as well as in grove, so the child cannot read the
    terminal before it owns it (it would be stopped with SIGTTIN)."""
    os.setpgid(0, 0)
    if hand_terminal is not None:
        set_foreground(hand_terminal, os.getpgrp())


def run_owned(
    argv: Sequence[str], cwd: Path, env: Mapping[str, str], stdout: int | None = None
) -> int:
    """Run a child (`grove exec`, `shell`, `compose`) that grove owns until it and everything
    it started have ended; its exit code, 128 + the signal when a signal ended it.

    The child leads its own process group: signals grove receives (_FORWARDED) go to the
    whole group, so npm and the node it started both get them. When stdin is grove's
    foreground terminal, the child's group gets the terminal while it runs. Once the child
    has ended, whatever is left in its group gets SIGTERM, then SIGKILL after
    LEFTOVER_GRACE. A descendant that left the group on purpose (setsid, a `grove up`
    service) is not grove's to end and is left running. SIGKILL to grove itself cannot be
    passed on: then `kill -- -PGID` ends the group.
    """
    import signal

    terminal = _Terminal()
    hand = terminal.fd if terminal.ours() else None
    group: list[int] = []
    early: list[int] = []

    def forward(signum: int, _frame: object) -> None:
        if not group:
            early.append(signum)  # arrived while the child was starting; sent right after
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(group[0], signum)

    signals = [getattr(signal, name) for name in _FORWARDED]
    previous = {sig: signal.signal(sig, forward) for sig in signals}
    try:
        child = subprocess.Popen(
            list(argv),
            cwd=cwd,
            env=dict(env),
            stdout=stdout,
            # The terminal must be the child's before it execs, which only a hook in the
            # child can do; grove runs no other thread while it runs a command.
            preexec_fn=lambda: _lead_own_group(hand),  # noqa: PLW1509
        )
        group.append(child.pid)
        if hand is not None:
            terminal.give(child.pid)
        for signum in early:
            forward(signum, None)
        try:
            code = _wait_following_stops(child, terminal)
        finally:
            terminal.take_back(restore_modes=child.returncode is None or child.returncode < 0)
            end_leftovers(child.pid)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 128 - code if code < 0 else code


def _wait_following_stops(child: subprocess.Popen[bytes], terminal: _Terminal) -> int:
    """Wait for the child to end (Popen's returncode convention: -N for signal N). When it
    is stopped (Ctrl-Z, or reading a terminal it does not own), grove stops the same way,
    so the shell that started grove sees a stopped job; on `fg` or `bg` grove continues
    the child, handing it the terminal again when grove got it back."""
    import signal

    while True:
        _, status = os.waitpid(child.pid, os.WUNTRACED)
        if not os.WIFSTOPPED(status):
            child.returncode = os.waitstatus_to_exitcode(status)
            return child.returncode
        stop = os.WSTOPSIG(status)
        terminal.take_back(restore_modes=True)
        # The default action (stop) for a moment: the stop signals are caught or ignored
        # nowhere else in grove, but a caller may have set them to ignore.
        previous = signal.signal(stop, signal.SIG_DFL) if stop != signal.SIGSTOP else None
        os.kill(os.getpid(), stop)
        if previous is not None:
            signal.signal(stop, previous)
        if terminal.ours():
            terminal.give(child.pid)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.pid, signal.SIGCONT)


def end_leftovers(pgid: int, grace: float = LEFTOVER_GRACE) -> bool:
    """After a group's leader has ended: SIGTERM what is left in the group, SIGKILL it after
    grace seconds. Returns whether the group is empty."""
    import signal
    import time

    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, STOP_GRACE)):
        if not _group_alive(pgid):
            return True
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, sig)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline and _group_alive(pgid):
            time.sleep(0.02)
    return not _group_alive(pgid)


def run_interactive(argv: Sequence[str]) -> int:
    """A program that talks to the user's terminal (an editor); its exit code."""
    return subprocess.call(list(argv))


# Services: a long-running command of a slot, started detached by `grove up`. It runs
# under a small supervisor (`python -m grove.proc supervise ...`) that leads a new session
# and process group: the command and everything it starts share that group, so one signal
# to the group stops the whole tree, and the supervisor keeps the log under its size cap
# and records the exit code when the command ends.
SERVICE_LOG_CAP = 5 * 1024 * 1024  # per log file; one older file is kept beside it
SERVICE_START_MARK = "--- grove up"  # the first line of each start in a service's log


def start_service(command: str, cwd: Path, env: Mapping[str, str], log: Path, status: Path) -> int:
    """Start command detached from grove and the terminal; returns the supervisor's pid,
    which is also the service's process group id."""
    log.parent.mkdir(parents=True, exist_ok=True)
    supervisor = subprocess.Popen(
        [sys.executable, "-m", "grove.proc", "supervise", str(log), str(status), command],
        cwd=cwd,
        env=dict(env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        close_fds=True,
    )
    _detached.append(supervisor)  # reaped when it ends, never waited for
    return supervisor.pid


_detached: list[subprocess.Popen[bytes]] = []


def _reap(pid: int) -> None:
    """Collect pid's exit status if it is our own child, so it does not linger as a zombie."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def _group_alive(pgid: int) -> bool:
    import psutil

    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # Zombies still count for killpg: look for a member that is really running.
    for process in psutil.process_iter(["status"]):
        try:
            if process.info["status"] != psutil.STATUS_ZOMBIE and os.getpgid(process.pid) == pgid:
                return True
        except (OSError, psutil.Error):
            continue
    return False


def end_process_group(pid: int, grace: float = STOP_GRACE) -> bool:
    """SIGTERM the process group pid leads (or pid alone when it leads none, so a process
    that shares grove's own group never takes grove with it), SIGKILL whatever is left after
    grace seconds. Returns whether everything ended."""
    import signal
    import time

    try:
        leads = os.getpgid(pid) == pid and pid != os.getpgrp()
    except ProcessLookupError:
        _reap(pid)
        return True

    def send(sig: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, sig) if leads else os.kill(pid, sig)

    def gone() -> bool:
        _reap(pid)
        if leads:
            return not _group_alive(pid)
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        return _is_zombie(pid)

    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, STOP_GRACE)):
        send(sig)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if gone():
                return True
            time.sleep(0.02)
    return gone()


def _is_zombie(pid: int) -> bool:
    import psutil

    try:
        return bool(psutil.Process(pid).status() == psutil.STATUS_ZOMBIE)
    except psutil.Error:
        return True


def supervise(log: Path, status: Path, command: str) -> int:
    """The supervisor's body (in the service's own session): run command through the shell
    with its output in log, rotated at SERVICE_LOG_CAP, then record its exit code."""
    import json
    import signal
    import time

    child = subprocess.Popen(
        command,
        shell=True,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    # The group's SIGTERM is for the command; the supervisor stays to drain its output and
    # record how it ended (SIGKILL after the grace period still ends it). Ignored only after
    # the command started: an ignored signal would stay ignored in it across exec.
    for name in ("SIGTERM", "SIGINT", "SIGHUP"):
        signal.signal(getattr(signal, name), signal.SIG_IGN)
    assert child.stdout is not None
    # The cap can be lowered (never raised past the default) for a test or a small disk.
    given = os.environ.get("GROVE_SERVICE_LOG_CAP", "")
    cap = SERVICE_LOG_CAP
    if given.isdigit() and int(given) > 0:
        cap = min(cap, int(given))
    sink = log.open("ab")
    stamp = time.strftime("%Y-%m-%d %H:%M:%S")
    sink.write(f"{SERVICE_START_MARK} {stamp}: {command}\n".encode())
    sink.flush()
    written = sink.tell()
    while chunk := os.read(child.stdout.fileno(), 65536):
        while chunk:
            if written >= cap:
                sink.close()
                log.replace(log.with_name(log.name + ".1"))
                sink, written = log.open("ab"), 0
            part, chunk = chunk[: cap - written], chunk[cap - written :]
            sink.write(part)
            written += len(part)
        sink.flush()
    code = child.wait()
    sink.close()
    tmp = status.with_name(status.name + ".tmp")
    tmp.write_text(json.dumps({"exit": code, "ended": time.time()}), encoding="utf-8")
    tmp.replace(status)
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "supervise":
        sys.exit(supervise(Path(sys.argv[2]), Path(sys.argv[3]), sys.argv[4]))
    sys.exit(2)
