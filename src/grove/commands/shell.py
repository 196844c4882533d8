"""grove shell [N]: the user's $SHELL in slot N's folder with the slot's environment.

The same environment as `grove exec` (the slot's values over the user's), plus GROVE_SLOT
so a prompt can show which slot it is in. The shell is owned like exec's command: its own
process group, given the terminal while it runs (proc.run_owned).
"""

from __future__ import annotations

import os

from grove import proc, slotenv
from grove.lifecycle.gate import require_approved
from grove.slots import Grove

USAGE = "grove shell [N]"
FALLBACK_SHELL = "/bin/sh"


def run(grove: Grove, n: int | None, allow_unapproved: bool = False) -> slotenv.CommandRun:
    shell = os.environ.get("SHELL") or FALLBACK_SHELL
    prepared = slotenv.prepare_command(grove, n, [shell], USAGE)
    require_approved(grove, "grove shell", allow_unapproved)
    env = {**prepared.env, "GROVE_SLOT": str(prepared.slot)}
    code = proc.run_owned([prepared.program], prepared.path, env)
    return slotenv.CommandRun(prepared.slot, [shell], code)
