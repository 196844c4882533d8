"""`grove exec` owns its child (issue 14, deliverable 3): the command leads its own process
group, signals to grove reach the whole group, and nothing the command started in that
group outlives it. Killing the `grove exec` pid used to stop npm and leave its node running;
here `sh` plays npm and a background `sleep` plays node."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import grove_process
from procutil import wait_until as _wait

WAIT = 30.0  # seconds; every wait below is a bounded loop that ends as soon as it can


def wait_until(condition: Callable[[], bool], timeout: float = WAIT) -> bool:
    return _wait(condition, timeout, step=0.02)


def gone(pid: int) -> bool:
    """Ended: no such process, or a zombie waiting for a reaper (in a container, pid 1 may
    never collect an orphan's status, but a zombie runs nothing and holds no port)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return True
    return stat.rsplit(")", 1)[1].split()[0] in ("Z", "X")


def read_pid(path: Path) -> int:
    assert wait_until(lambda: path.exists() and path.read_text().endswith("\n")), path
    return int(path.read_text())


def spawner(pid_file: Path, then: str = "wait", before: str = "") -> list[str]:
    """sh that starts a background grandchild, records its pid, then does `then`."""
    # Its output goes nowhere, so a grandchild left behind cannot hold the test's pipes open.
    grandchild = "sleep 300 >/dev/null 2>&1 &"
    return ["sh", "-c", f'{before}{grandchild} echo $! > "{pid_file}"; {then}']


def start_exec(repo: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "grove", "exec", *args],
        cwd=repo,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.fixture
def slot1(repo: Path, grove) -> Path:
    assert grove("create").code == 0
    return repo.parent / "myproject-wt1"


@pytest.mark.parametrize("mode", [[], ["--json"]], ids=["text", "json"])
@pytest.mark.parametrize(
    "sig", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP], ids=lambda sig: sig.name
)
def test_a_signal_to_grove_exec_leaves_no_grandchild(
    repo: Path, slot1: Path, tmp_path: Path, sig: signal.Signals, mode: list[str]
) -> None:
    pid_file = tmp_path / "grandchild.pid"
    grove = start_exec(repo, "1", *mode, "--", *spawner(pid_file))
    grandchild = read_pid(pid_file)
    try:
        assert not gone(grandchild)
        grove.send_signal(sig)
        out, err = grove.communicate(timeout=WAIT)
        # sh died of the signal; grove reports it as a shell would, 128 + N
        assert grove.returncode == 128 + sig, err
        if mode:
            assert json.loads(out)["exit_code"] == 128 + sig
        # SIGINT included: a non-interactive sh starts `sleep &` with SIGINT ignored, so it
        # is grove's SIGTERM to the group after sh ended that stops it.
        assert wait_until(lambda: gone(grandchild)), f"grandchild {grandchild} outlived grove"
    finally:
        if not gone(grandchild):
            os.kill(grandchild, signal.SIGKILL)
        if grove.poll() is None:
            grove.kill()


@pytest.mark.parametrize("mode", [[], ["--json"]], ids=["text", "json"])
def test_a_command_that_exits_ends_what_it_left_running(
    repo: Path, slot1: Path, tmp_path: Path, mode: list[str]
) -> None:
    pid_file = tmp_path / "grandchild.pid"
    result = grove_process(
        "exec", "1", *mode, "--", *spawner(pid_file, "echo done; exit 3"), cwd=repo
    )
    grandchild = read_pid(pid_file)
    assert result.code == 3, result.err
    assert "done" in (result.err if mode else result.out)  # --json: the command's stdout on stderr
    if mode:
        assert result.json == {"slot": 1, "command": spawner(pid_file, "echo done; exit 3"),
                               "exit_code": 3}  # fmt: skip
    assert wait_until(lambda: gone(grandchild))


def test_a_leftover_that_ignores_sigterm_gets_sigkill(
    repo: Path, slot1: Path, tmp_path: Path
) -> None:
    pid_file = tmp_path / "grandchild.pid"
    # An ignored signal stays ignored in the children: the sleep shrugs off SIGTERM.
    command = spawner(pid_file, "exit 0", before="trap '' TERM; ")
    result = grove_process("exec", "1", "--", *command, cwd=repo)
    assert result.code == 0, result.err
    assert wait_until(lambda: gone(read_pid(pid_file)))


def test_a_process_that_left_the_group_on_purpose_keeps_running(
    repo: Path, slot1: Path, tmp_path: Path
) -> None:
    """setsid (what `grove up` does for a service) takes a process out of the group: it is
    not exec's to end."""
    pid_file = tmp_path / "detached.pid"
    command = ["sh", "-c", f'setsid sleep 300 >/dev/null 2>&1 & echo $! > "{pid_file}"; exit 0']
    result = grove_process("exec", "1", "--", *command, cwd=repo)
    detached = read_pid(pid_file)
    try:
        assert result.code == 0, result.err
        assert not gone(detached)
        assert os.getsid(detached) == detached
    finally:
        os.kill(detached, signal.SIGKILL)


def test_the_command_leads_its_own_process_group(repo: Path, slot1: Path) -> None:
    script = "import os; print(os.getpid() == os.getpgrp(), os.getppid())"
    grove = start_exec(repo, "1", "--", sys.executable, "-c", script)
    out, err = grove.communicate(timeout=WAIT)
    assert grove.returncode == 0, err
    leads, parent = out.split()
    assert leads == "True"
    assert int(parent) == grove.pid  # grove stays its parent rather than becoming it


def test_a_signal_the_command_handles_gives_its_own_exit_code(repo: Path, slot1: Path) -> None:
    script = (
        "import signal, sys, time\n"
        "signal.signal(signal.SIGHUP, lambda *a: sys.exit(11))\n"
        "print('ready', flush=True)\n"
        "time.sleep(300)\n"
    )
    grove = start_exec(repo, "1", "--", sys.executable, "-c", script)
    assert grove.stdout is not None
    assert grove.stdout.readline().strip() == "ready"
    grove.send_signal(signal.SIGHUP)
    assert grove.wait(timeout=WAIT) == 11


# On a terminal: what a person typing `grove exec 1 -- psql` or `bash` needs. The test puts
# grove in a new session whose controlling terminal is a pty, as a terminal emulator does.
LOGIN = (
    "import os, sys; os.login_tty(os.open(sys.argv[1], os.O_RDWR)); "
    "os.execv(sys.argv[2], sys.argv[2:])"
)


@dataclass
class Terminal:
    master: int
    slave: int  # held open by the test, so the master never reads EIO before grove opens it
    grove: subprocess.Popen[bytes]


@pytest.fixture
def on_terminal(repo: Path, slot1: Path) -> Iterator[Callable[[str], Terminal]]:
    started: list[Terminal] = []

    def start(script: str) -> Terminal:
        master, slave = os.openpty()
        argv = [sys.executable, "-m", "grove", "exec", "1", "--", sys.executable, "-c", script]
        login = [sys.executable, "-c", LOGIN, os.ttyname(slave), *argv]
        started.append(Terminal(master, slave, subprocess.Popen(login, cwd=repo)))
        return started[-1]

    yield start
    for terminal in started:
        if terminal.grove.poll() is None:
            terminal.grove.kill()
            terminal.grove.wait()
        os.close(terminal.master)
        os.close(terminal.slave)


def read_until(master: int, marker: bytes, seen: bytearray) -> bool:
    """Read the terminal until marker shows up; what was read is in seen."""
    import select

    deadline = time.monotonic() + WAIT
    while marker not in seen and time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.1)
        if not ready:
            continue
        seen += os.read(master, 4096)
    return marker in seen


def test_an_interactive_command_reads_the_terminal(on_terminal: Callable[[str], Terminal]) -> None:
    script = (
        "import os, sys\n"
        "fg = os.tcgetpgrp(0) == os.getpgrp() != os.getsid(0)\n"  # from its first instruction
        "print('ready', flush=True)\n"
        "line = sys.stdin.readline().strip()\n"
        "print(f'got={line} foreground={fg}', flush=True)\n"
    )
    terminal = on_terminal(script)
    seen = bytearray()
    assert read_until(terminal.master, b"ready", seen), seen
    os.write(terminal.master, b"hello\n")
    # the command's group, not grove's (the session leader), owns the terminal
    assert read_until(terminal.master, b"foreground=True", seen), seen
    assert b"got=hello" in seen
    assert terminal.grove.wait(timeout=WAIT) == 0


def test_ctrl_c_on_the_terminal_reaches_the_command(
    on_terminal: Callable[[str], Terminal], tmp_path: Path
) -> None:
    marker = tmp_path / "interrupted"
    script = (
        "import pathlib, signal, sys, time\n"
        "def stop(signum, frame):\n"
        f"    pathlib.Path({str(marker)!r}).write_text('SIGINT'); sys.exit(130)\n"
        "signal.signal(signal.SIGINT, stop)\n"
        "print('ready', flush=True)\n"
        "time.sleep(300)\n"
    )
    terminal = on_terminal(script)
    seen = bytearray()
    assert read_until(terminal.master, b"ready", seen), seen
    os.write(terminal.master, b"\x03")  # the terminal's Ctrl-C: SIGINT to its foreground group
    assert terminal.grove.wait(timeout=WAIT) == 130
    assert marker.read_text() == "SIGINT"
