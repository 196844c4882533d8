"""grove exec N -- CMD: run CMD in the slot with its environment; return CMD's code.

grove stays CMD's parent rather than becoming it: CMD leads its own process group, the
signals grove gets reach the whole group, and nothing CMD started in that group outlives it
(proc.run_owned). Killing the `grove exec` pid used to stop npm and leave its node running.
"""

from __future__ import annotations

import sys

from grove import proc, slotenv
from grove.lifecycle.gate import require_approved
from grove.slots import Grove

USAGE = "grove exec [N] -- CMD [ARGS...]"


def run(
    grove: Grove,
    n: int | None,
    command: list[str],
    allow_unapproved: bool = False,
    json_output: bool = False,
) -> slotenv.CommandRun:
    """Run CMD to its end in slot n. With json_output its stdout goes to grove's stderr, so
    grove's stdout holds only the JSON answer."""
    prepared = slotenv.prepare_command(grove, n, command, USAGE)
    require_approved(grove, "grove exec", allow_unapproved)
    code = proc.run_owned(
        [prepared.program, *command[1:]],
        prepared.path,
        prepared.env,
        sys.stderr.fileno() if json_output else None,
    )
    return slotenv.CommandRun(prepared.slot, command, code)
