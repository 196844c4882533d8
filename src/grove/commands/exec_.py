"""grove exec N -- CMD: run CMD in the slot with its environment; return CMD's code."""

from __future__ import annotations

import sys

from grove import proc, slotenv
from grove.lifecycle.gate import require_approved
from grove.slots import Grove

USAGE = "grove exec [N] -- CMD [ARGS...]"


def replace_process(
    grove: Grove, n: int | None, command: list[str], allow_unapproved: bool = False
) -> None:
    """Become CMD (exec): signals reach it directly and its exit code is ours."""
    prepared = slotenv.prepare_command(grove, n, command, USAGE)
    require_approved(grove, "grove exec", allow_unapproved)
    proc.replace_process(prepared.program, command, prepared.env, prepared.path)


def run_child(
    grove: Grove, n: int | None, command: list[str], allow_unapproved: bool = False
) -> slotenv.CommandRun:
    """For --json: run CMD as a child (its stdout on our stderr), forwarding signals."""
    prepared = slotenv.prepare_command(grove, n, command, USAGE)
    require_approved(grove, "grove exec", allow_unapproved)
    code = proc.run_forwarding_signals(
        [prepared.program, *command[1:]], prepared.path, prepared.env, sys.stderr.fileno()
    )
    return slotenv.CommandRun(prepared.slot, command, code)
