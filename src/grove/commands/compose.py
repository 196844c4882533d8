"""grove compose [N] -- ARGS: docker compose the way the seed runs it, for one slot.

From the slot's folder, with the slot's project name, `--env-file` shared then local (the
later file wins, so the slot's ports override the shared file), and the slot's environment
in the process.
"""

from __future__ import annotations

from grove.checks.services import compose_project
from grove.commands import exec_, existing_slot
from grove.errors import UsageError
from grove.slots import Grove


def command(grove: Grove, n: int | None, args: list[str]) -> tuple[int, list[str]]:
    if not args:
        raise UsageError("nothing to run", hint="grove compose [N] -- up -d")
    n = grove.resolve_slot(n)
    slot = existing_slot(grove, n)
    argv = ["docker", "compose", "-p", compose_project(grove, n)]
    for name in (*grove.config.shared, grove.config.local):
        if (slot.path / name).exists():
            argv += ["--env-file", name]
    return n, [*argv, *args]


def replace_process(grove: Grove, n: int | None, args: list[str]) -> None:
    n, argv = command(grove, n, args)
    exec_.replace_process(grove, n, argv)


def run_child(grove: Grove, n: int | None, args: list[str]) -> exec_.ExecResult:
    n, argv = command(grove, n, args)
    return exec_.run_child(grove, n, argv)
