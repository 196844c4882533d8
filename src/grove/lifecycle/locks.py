"""The two locks of the lifecycle discipline (see the package docstring)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

from grove import fsio
from grove.slots import Grove
from grove.state import store

GROVE_LOCK_TIMEOUT = 120.0  # held only for short decisions
SLOT_LOCK_TIMEOUT = 1800.0  # held through setup and database work on one slot


def grove_lock(grove: Grove, purpose: str) -> AbstractContextManager[None]:
    store.check_state_dir(grove.state_dir)
    return fsio.exclusive_lock(grove.lock_path, GROVE_LOCK_TIMEOUT, purpose)


def slot_lock_path(grove: Grove, n: int) -> Path:
    return grove.state_dir / "locks" / f"slot-{n}.lock"


def slot_lock(grove: Grove, n: int, purpose: str) -> AbstractContextManager[None]:
    store.check_state_dir(grove.state_dir)
    timeout = max(SLOT_LOCK_TIMEOUT, grove.config.step_timeout * 2)
    return fsio.exclusive_lock(slot_lock_path(grove, n), timeout, f"slot {n}: {purpose}")


@contextmanager
def try_slot_lock(grove: Grove, n: int, purpose: str) -> Iterator[bool]:
    """Slot n's lock if nobody holds it now. Safe under the grove lock: it never waits."""
    with fsio.try_lock(slot_lock_path(grove, n), f"slot {n}: {purpose}") as taken:
        yield taken
