"""grove exec N -- CMD: run CMD in the slot with its environment; return CMD's code."""

from __future__ import annotations

import sys

from grove import proc, slotenv
from grove.slots import Grove


def replace_process(grove: Grove, n: int | None, command: list[str]) -> None:
    """Become CMD (exec): signals reach it directly and its exit code is ours."""
    prepared = slotenv.prepare_command(grove, n, command, "grove exec [N] -- CMD [ARGS...]")
    proc.replace_process(prepared.program, command, prepared.env, prepared.path)


def run_child(grove: Grove, n: int | None, command: list[str]) -> slotenv.CommandRun:
    """For --json: run CMD as a child (its stdout on our stderr), forwarding signals."""
    prepared = slotenv.prepare_command(grove, n, command, "grove exec [N] -- CMD [ARGS...]")
    code = proc.run_forwarding_signals(
        [prepared.program, *command[1:]], prepared.path, prepared.env, sys.stderr.fileno()
    )
    return slotenv.CommandRun(prepared.slot, command, code)
