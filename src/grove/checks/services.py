"""Services: the slot's database answers, and its migrations are not pending."""

from __future__ import annotations

from grove.checks import Finding, error, warning
from grove.errors import GroveError
from grove.slots import Grove


def check_slot(grove: Grove, n: int) -> list[Finding]:
    if grove.config.database is None:
        return []
    from grove import database

    try:
        state = database.status(grove, n)
    except GroveError as exc:
        return [error(n, "services.db-unavailable", exc.message, exc.hint)]
    if not state.provisioned:
        return [
            warning(
                n,
                "services.db-missing",
                f"slot {n} has no database yet ({state.database})",
                f"`grove refresh {n}` clones it from the template",
            )
        ]
    if not state.running:
        return [
            warning(
                n,
                "services.db-down",
                f"slot {n}'s database is not answering on {state.host}:{state.port}",
                f"`grove db start {n}`",
            )
        ]
    pending = database.migrate_status(grove, n)
    if pending is not None and pending.returncode != 0:
        tail = (pending.stdout + pending.stderr).strip().splitlines()[-3:]
        return [
            warning(
                n,
                "services.migrations-pending",
                f"`{grove.config.database.migrate_status}` exited {pending.returncode}"
                + (f": {' | '.join(tail)}" if tail else ""),
                f"`grove refresh {n}` runs [database] migrate",
            )
        ]
    return []
