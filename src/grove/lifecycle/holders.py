"""Who holds a slot, and whether a caller may act on it anyway."""

from __future__ import annotations

from grove.errors import Refused
from grove.record import record
from grove.slots import Grove
from grove.state import leases


@record(frozen=True)
class Caller:
    """Who runs the command, as far as it says: the label or pid it took the slot with."""

    label: str | None = None
    pid: int | None = None
    force: bool = False


def check_not_held(grove: Grove, n: int, caller: Caller, action: str) -> leases.Lease | None:
    """Refuse when another live task holds slot n. Callers hold the grove lock, so the
    answer stands until they release it. Returns the lease that stays (the caller's own,
    a stale one, or one --force overrides).

    A command run from inside slot n counts as its holder's: that is where the task works.
    The guard is against a task in one slot acting on another's."""
    lease = leases.read(grove.state_dir, n)
    if lease is None or caller.force or lease.stale or grove.current == n:
        return lease
    if lease.held_by(caller.label, caller.pid):
        return lease
    raise Refused(
        f"slot {n} is held by {lease.describe()}; {action} would pull it from under that task",
        hint=f"wait for `grove release {n}` from that task, say who you are with --label or "
        "--pid, or pass --force",
        details={"slot": n, "lease": lease.as_json()},
    )
