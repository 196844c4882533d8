"""grove shell [N]: the user's $SHELL in slot N's folder with the slot's environment.

The same environment as `grove exec` (the slot's values over the user's), plus GROVE_SLOT
so a prompt can show which slot it is in. The shell is owned like exec's command: its own
process group, given the terminal while it runs (proc.run_owned).
"""

from __future__ import annotations

import os

from grove import slotenv
from grove.commands import run_in_slot
from grove.slots import Grove

USAGE = "grove shell [N]"
FALLBACK_SHELL = "/bin/sh"


def run(grove: Grove, n: int | None, allow_unapproved: bool = False) -> slotenv.CommandRun:
    shell = os.environ.get("SHELL") or FALLBACK_SHELL
    slot = grove.resolve_slot(n)
    return run_in_slot(
        grove,
        slot,
        [shell],
        usage=USAGE,
        command="grove shell",
        allow_unapproved=allow_unapproved,
        extra_env={"GROVE_SLOT": str(slot)},
    )
