"""A slot's database changes that commands ask for directly (start, reset), under the slot's
lock and, for a reset, only when no other live task holds the slot."""

from __future__ import annotations

from grove import output, steps
from grove.lifecycle.gate import require_approved
from grove.lifecycle.holders import Caller, check_not_held
from grove.lifecycle.locks import grove_lock, slot_lock
from grove.slots import Grove, existing_slot

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing
if TYPE_CHECKING:
    from typing import Any


def start(grove: Grove, n: int, allow_unapproved: bool = False) -> dict[str, Any]:
    """Slot n's database up: cloned first when it has none. One call decides, under the
    database's own lock, so a drop or another start in between cannot make it fail."""
    from grove import database

    # A start can build the template, which runs the seed with the slot's environment.
    require_approved(grove, f"grove db start {n}", allow_unapproved)
    with slot_lock(grove, n, "db start"):
        existing_slot(grove, n)
        database.ensure_template(grove)
        made = database.provision(grove, n, steps.slot_identity(grove, n, create=True))
    if made.cloned:
        result = "cloned and started"
    else:
        result = "started" if made.started else "already running"
    return {"slot": n, "result": result, "changed": made.cloned or made.started}


def drop(grove: Grove, n: int) -> bool:
    """Delete slot n's database, under the slot's lock (never mid-take or mid-reset)."""
    from grove import database

    with slot_lock(grove, n, "db drop"):
        return database.delete(grove, n)


def reset(
    grove: Grove, n: int, caller: Caller, allow_unapproved: bool = False
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Slot n's database back to the template, then migrated. Returns the slot's row and
    the template report."""
    from grove import database

    require_approved(grove, f"grove db reset {n}", allow_unapproved)

    with slot_lock(grove, n, "db reset"):
        existing_slot(grove, n)
        with grove_lock(grove, "grove db reset"):
            check_not_held(grove, n, caller, "resetting its database")
        template = database.ensure_template(grove)
        database.reset(grove, n, steps.slot_identity(grove, n, create=True))
        migrated = database.run_migrations(grove, n)
    row = {"slot": n, "result": "reset to the template", "changed": True, "migrated": migrated}
    return row, template.as_json()


def reseed(grove: Grove, allow_unapproved: bool = False) -> Any:
    """The template rebuilt from the seed (the seed runs with the environment)."""
    from grove import database

    require_approved(grove, "grove db reseed", allow_unapproved)
    return database.ensure_template(grove, rebuild=True)


def reap_orphans(grove: Grove) -> list[str]:
    """Stop any postgres grove started for a slot that no longer exists, or for a template
    build that was killed: no server outlives a crash unnoticed."""
    db = grove.config.database
    if db is None or db.mode != "cluster":
        return []
    from grove import database
    from grove.slots import discover

    keep = {0} | {s.n for s in discover(grove).slots if s.registered or s.adopted}
    stopped = database.reap_orphans(grove, keep)
    for line in stopped:
        output.narrate(line)
    return stopped
