"""The only module that starts processes: git, user commands, and helpers."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

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


@dataclass(frozen=True)
class Completed:
    argv: list[str]
    returncode: int
    stdout: str
    stderr: str


def run(
    argv: Sequence[str],
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    stdin: str | None = None,
) -> Completed:
    """Run a command to completion and capture its output as text."""
    proc = subprocess.run(
        list(argv),
        cwd=cwd,
        env=dict(env) if env is not None else None,
        input=stdin,
        capture_output=True,
        text=True,
        errors="replace",
        check=False,
    )
    return Completed(list(argv), proc.returncode, proc.stdout, proc.stderr)


@dataclass(frozen=True)
class StepOutcome:
    command: str
    returncode: int
    tail: list[str]


def run_shell_step(
    command: str, cwd: Path, env: Mapping[str, str], tail_lines: int = 20
) -> StepOutcome:
    """Run a user's setup command through the shell, streaming its output to stderr.

    stdout belongs to grove's answer (JSON for agents), so the command's own output goes
    to stderr; the last lines are kept so a failure can quote them.
    """
    tail: deque[str] = deque(maxlen=tail_lines)
    proc = subprocess.Popen(
        command,
        shell=True,
        cwd=cwd,
        env=dict(env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        sys.stderr.write(line)
        tail.append(line.rstrip("\n"))
    sys.stderr.flush()
    return StepOutcome(command, proc.wait(), list(tail))
