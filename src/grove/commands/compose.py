"""grove compose [N] -- ARGS: docker compose the way the seed runs it, for one slot.

From the slot's folder, with the slot's project name, `--env-file` shared then local (the
later file wins, so the slot's ports override the shared file), and the slot's environment
in the process.
"""

from __future__ import annotations

import sys

from grove import proc, slotenv
from grove.checks.services import compose_project
from grove.errors import UsageError
from grove.lifecycle.gate import require_approved
from grove.slots import Grove, existing_slot

USAGE = "grove compose [N] -- up -d"


def command(grove: Grove, n: int | None, args: list[str]) -> tuple[int, list[str]]:
    if not args:
        raise UsageError("nothing to run", hint=USAGE)
    n = grove.resolve_slot(n)
    slot = existing_slot(grove, n)
    argv = ["docker", "compose", "-p", compose_project(grove, n)]
    for name in (*grove.config.shared, grove.config.local):
        if (slot.path / name).exists():
            argv += ["--env-file", name]
    return n, [*argv, *args]


def run(
    grove: Grove,
    n: int | None,
    args: list[str],
    allow_unapproved: bool = False,
    json_output: bool = False,
) -> slotenv.CommandRun:
    """docker compose to its end, owned like `grove exec`'s command (proc.run_owned); with
    json_output its stdout goes to grove's stderr."""
    n, argv = command(grove, n, args)
    prepared = slotenv.prepare_command(grove, n, argv, USAGE)
    require_approved(grove, "grove compose", allow_unapproved)
    code = proc.run_owned(
        [prepared.program, *argv[1:]],
        prepared.path,
        prepared.env,
        sys.stderr.fileno() if json_output else None,
    )
    return slotenv.CommandRun(n, argv, code)
