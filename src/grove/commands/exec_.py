"""grove exec N -- CMD: run CMD in the slot with its environment; return CMD's code."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grove import slotenv
from grove.commands import existing_slot
from grove.errors import UsageError
from grove.slots import Grove

_FORWARDED = (
    signal.SIGINT,
    signal.SIGTERM,
    signal.SIGHUP,
    signal.SIGQUIT,
    signal.SIGUSR1,
    signal.SIGUSR2,
)


@dataclass
class ExecResult:
    slot: int
    command: list[str]
    exit_code: int

    def as_json(self) -> dict[str, Any]:
        return {"slot": self.slot, "command": self.command, "exit_code": self.exit_code}

    def as_text(self) -> str:
        return ""


def prepare(
    grove: Grove, n: int | None, command: list[str]
) -> tuple[int, Path, dict[str, str], str]:
    if not command:
        raise UsageError("nothing to run", hint="grove exec [N] -- CMD [ARGS...]")
    n = grove.resolve_slot(n)
    slot = existing_slot(grove, n)
    env = slotenv.process_env(grove, n)
    program = shutil.which(command[0], path=env.get("PATH"))
    if program is None:
        raise UsageError(
            f"command not found: {command[0]}", hint="check PATH or the command's name"
        )
    return n, slot.path, env, program


def replace_process(grove: Grove, n: int | None, command: list[str]) -> None:
    """Become CMD (exec): signals reach it directly and its exit code is ours."""
    n, path, env, program = prepare(grove, n, command)
    sys.stdout.flush()
    sys.stderr.flush()
    os.chdir(path)
    os.execve(program, command, env)


def run_child(grove: Grove, n: int | None, command: list[str]) -> ExecResult:
    """For --json: run CMD as a child (its stdout on our stderr), forwarding signals."""
    n, path, env, program = prepare(grove, n, command)
    child = subprocess.Popen([program, *command[1:]], cwd=path, env=env, stdout=sys.stderr.fileno())

    def forward(signum: int, _frame: object) -> None:
        child.send_signal(signum)

    previous = {sig: signal.signal(sig, forward) for sig in _FORWARDED}
    try:
        code = child.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return ExecResult(n, command, 128 - code if code < 0 else code)
