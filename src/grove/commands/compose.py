"""grove compose [N] -- ARGS: docker compose the way the seed runs it, for one slot.

From the slot's folder, with the slot's project name, `--env-file` shared then local (the
later file wins, so the slot's ports override the shared file), and the slot's environment
in the process.
"""

from __future__ import annotations

from grove import slotenv
from grove.checks.services import compose_project
from grove.commands import run_in_slot
from grove.errors import UsageError
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
    return run_in_slot(
        grove,
        n,
        argv,
        usage=USAGE,
        command="grove compose",
        allow_unapproved=allow_unapproved,
        json_output=json_output,
    )
