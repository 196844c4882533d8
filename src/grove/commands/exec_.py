"""grove exec N -- CMD: run CMD in the slot with its environment; return CMD's code.

grove stays CMD's parent rather than becoming it: CMD leads its own process group, the
signals grove gets reach the whole group, and nothing CMD started in that group outlives it
(proc.run_owned). Killing the `grove exec` pid used to stop npm and leave its node running.
"""

from __future__ import annotations

from grove import slotenv
from grove.commands import run_in_slot
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
    return run_in_slot(
        grove,
        n,
        command,
        usage=USAGE,
        command="grove exec",
        allow_unapproved=allow_unapproved,
        json_output=json_output,
    )
