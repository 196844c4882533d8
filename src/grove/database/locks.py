"""The database's two locks, both under `.git/grove/pg/`, both fcntl.flock (dropped by the
kernel when the holder dies, re-entrant within one process):

- `slot-<n>.lock`: every change to slot n's database (clone, start, stop, reset, delete)
  runs under it, and re-checks what it finds after taking it.
- `template.lock`: building the template, and copying it into a slot.

Order: a slot's lock, then the template lock; never the reverse (a template build never
waits for a slot). Code that must not wait uses `fsio.try_lock`.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from pathlib import Path

from grove import fsio
from grove.slots import Grove

MIN_LOCK_TIMEOUT = 900.0


def pg_root(grove: Grove) -> Path:
    return grove.state_dir / "pg"


def slot_lock_path(grove: Grove, n: int) -> Path:
    return pg_root(grove) / f"slot-{n}.lock"


def template_lock_path(grove: Grove) -> Path:
    return pg_root(grove) / "template.lock"


def template_lock_timeout(grove: Grove) -> float:
    """Long enough to wait out a template build: every seed command may run step_timeout."""
    db = grove.config.database
    commands = len(db.seed) if db is not None else 0
    return max(MIN_LOCK_TIMEOUT, grove.config.step_timeout * (commands + 1))


def slot_lock(grove: Grove, n: int, purpose: str) -> AbstractContextManager[None]:
    # Its holder may wait for the template lock (a clone waits out a build).
    return fsio.exclusive_lock(
        slot_lock_path(grove, n),
        template_lock_timeout(grove) + 300.0,
        f"slot {n}'s database: {purpose}",
    )


def template_lock(grove: Grove, purpose: str) -> AbstractContextManager[None]:
    return fsio.exclusive_lock(template_lock_path(grove), template_lock_timeout(grove), purpose)
