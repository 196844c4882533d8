"""One module per verb: run(...) -> a result object; none of them prints.

A command parses nothing itself and never imports another command: state changes go
through grove.lifecycle, reads through the modules below it."""

from __future__ import annotations

from collections.abc import Mapping

from grove.slotenv import CommandRun
from grove.slots import Grove, existing_slot, targets

__all__ = ["existing_slot", "run_in_slot", "targets"]


def run_in_slot(
    grove: Grove,
    n: int | None,
    argv: list[str],
    *,
    usage: str,
    command: str,
    allow_unapproved: bool,
    json_output: bool = False,
    extra_env: Mapping[str, str] | None = None,
) -> CommandRun:
    """What exec, compose and shell share: find the program on the slot's PATH, refuse an
    unapproved shared file, then run it owned (proc.run_owned) to its end. With json_output
    its stdout goes to grove's stderr, so grove's stdout holds only the JSON answer."""
    import sys

    from grove import proc, slotenv
    from grove.lifecycle.gate import require_approved

    prepared = slotenv.prepare_command(grove, n, argv, usage)
    require_approved(grove, command, allow_unapproved)
    injected: dict[str, str] = {}
    if grove.config.security.inject is not None:
        from grove import injected as manager

        # In this process's memory only; a failing manager or a production value refuses.
        injected = manager.for_slot(grove, prepared.slot)
    code = proc.run_owned(
        [prepared.program, *argv[1:]],
        prepared.path,
        {**prepared.env, **injected, **(extra_env or {})},
        sys.stderr.fileno() if json_output else None,
    )
    return CommandRun(prepared.slot, argv, code)
