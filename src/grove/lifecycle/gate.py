"""No step runs while the shared files have unapproved changes.

Any slot can write main's shared .env through its link, and every step grove runs (setup,
install, migrate, seed, refresh and switch commands, `exec`, `compose`, a secrets pull)
reads it. So each command that runs one first asks `require_approved`, before it changes
anything. One call, so a new command (`grove up`) gets the same rule.

The override is `--allow-unapproved`, not `--force`: on `switch` and `release` `--force`
already means "act on a slot another task holds, or discard its work". A flag given to take
over a slot must not also wave through a tampered .env, and a refused agent that retries
with `--force` by reflex should not get that either.
"""

from __future__ import annotations

from grove import approval, output
from grove.errors import Unapproved
from grove.slots import Grove

FLAG = "--allow-unapproved"


def _listed(changes: list[approval.Drift]) -> str:
    return "; ".join(change.summary() for change in changes)


def require_approved(grove: Grove, command: str, allow_unapproved: bool = False) -> None:
    """Refuse (Unapproved, exit 1) when a shared file changed since its approval, naming the
    changed keys, never values. With allow_unapproved, warn on stderr and go on.

    No approval at all is first use: create and refresh record the current state (and say
    so), as they always have, so this passes. An old unkeyed record whose files are exactly
    as approved is rewritten keyed on the way (approval.status)."""
    if approval.known_unchanged(grove):
        return
    state = approval.status(grove, upgrade=True)
    if state.upgraded:
        output.narrate(
            f"rewrote {approval.RECORD} with keyed digests (the shared files are exactly as "
            "approved; the old unkeyed hashes could be reversed by guessing)"
        )
    if not state.changes:
        return
    listed = _listed(state.changes)
    if allow_unapproved:
        output.narrate(f"warning: {FLAG}: {command} runs with unapproved changes: {listed}")
        return
    older = (
        f" ({approval.RECORD} was written by an older grove; approving rewrites it keyed)"
        if state.legacy
        else ""
    )
    raise Unapproved(
        f"{command} runs no step while the shared files have unapproved changes: {listed}{older}",
        hint="a write from any slot reaches every slot: review the change in main (`git diff` "
        f"cannot see it), then `grove env approve`; `{command} {FLAG}` runs anyway",
        details={"changes": [change.as_json() for change in state.changes]},
    )


def pending_notes(grove: Grove) -> list[str]:
    """For a dry run: what the real run would refuse, without writing anything."""
    state = approval.status(grove, upgrade=False)
    if not state.changes:
        return []
    return [
        f"unapproved changes ({_listed(state.changes)}): the run would refuse until "
        f"`grove env approve` (or {FLAG})"
    ]
