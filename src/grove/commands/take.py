"""grove take / grove release: hand a warm slot to a new task, and give it back."""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from grove import converge, fsio, git, leases, output, registry, state, steps
from grove.commands import create
from grove.converge import Change
from grove.errors import NoFreeSlot, Refused, UsageError
from grove.slots import LOCK_TIMEOUT, Grove, discover, lowest_free, reread_registry


@dataclass
class TakeResult:
    slot: int
    path: Path
    branch: str | None
    head: str
    ports: dict[str, int]
    created: bool
    lease: leases.Lease
    changes: list[Change] = field(default_factory=list)
    synced: dict[str, list[str]] = field(default_factory=dict)  # {"ran": [...], "skipped": [...]}
    adopted: bool = False
    here: bool = False  # `take --here`: the caller already stands in the path

    def as_json(self) -> dict[str, Any]:
        return {
            "slot": self.slot,
            "path": str(self.path),
            "branch": self.branch,
            "head": self.head,
            "ports": self.ports,
            "created": self.created,
            "lease": self.lease.as_json(),
            "changes": [c.as_json() for c in self.changes],
            "synced": self.synced,
            "adopted": self.adopted,
        }

    @classmethod
    def made(
        cls, made: create.CreateResult, lease: leases.Lease, *, adopted: bool = False
    ) -> TakeResult:
        """A take that had to make its slot (create) or adopt one (take --here)."""
        return cls(
            made.slot,
            made.path,
            made.branch,
            made.head,
            made.ports,
            True,
            lease,
            made.changes,
            {"ran": made.setup.ran, "skipped": made.setup.skipped},
            adopted=adopted,
            here=adopted,
        )

    def as_text(self) -> str:
        if not self.here:
            return str(self.path)  # for `cd "$(grove take ...)"`
        verb = "adopted" if self.created else "took"
        ports = "  ".join(f"{k}={v}" for k, v in self.ports.items())
        return f"{verb} slot {self.slot}: {self.path}\n  {ports}"


def _free_clean_slot(grove: Grove) -> int | None:
    """The lowest existing slot with no lease, finished setup, and a clean work tree."""
    from grove import steps

    for slot in discover(grove).slots:
        if slot.n == 0 or slot.n >= grove.config.slots or not (slot.registered and slot.exists):
            continue
        if slot.adopted:
            continue  # its folder belongs to the tool that made it, and that tool's agent
        if leases.read(grove.state_dir, slot.n) is not None:
            continue
        if not steps.setup_complete(grove, slot.n):
            continue
        if git.status(slot.path).dirty:
            output.narrate(f"slot {slot.n} is free but has uncommitted work; skipping it")
            continue
        return slot.n
    return None


def take(
    grove: Grove,
    *,
    branch: str | None,
    start: str | None,
    label: str,
    pid: int | None,
    session: str | None = None,
) -> TakeResult:
    request = create.check_request(grove, None, branch, start)
    template = create.prepare_database(grove)
    lease = leases.Lease(0, label, pid, time.time(), session)
    with fsio.exclusive_lock(grove.lock_path, LOCK_TIMEOUT, "grove take"):
        grove = reread_registry(grove)
        n = _free_clean_slot(grove)
        if n is not None:
            if branch is not None and not request.new_branch:
                holder = create.branch_holder(grove, branch)
                if holder is not None and grove.index_for(holder) != n:
                    create.check_branch_free(grove, branch)
            leases.write(grove.state_dir, leases.Lease(n, label, pid, lease.since, session))
        elif lowest_free(grove, layout := discover(grove)) is None:
            held = ", ".join(str(s.n) for s in layout.slots if s.n > 0 and not s.adopted)
            adopted = ", ".join(str(s.n) for s in layout.slots if s.adopted)
            raise NoFreeSlot(
                f"no free slot: slots {held or 'none'} are held or have uncommitted work"
                + (f", slots {adopted} are other tools' worktrees (adopted)" if adopted else "")
                + f", and [grove] slots = {grove.config.slots} allows no more",
                hint="`grove list` shows who holds what; `grove release N` ends a lease; "
                "`grove remove N` frees an adopted slot whose worktree is gone",
            )
    if n is None:
        # A new slot: create it with the lease written under the allocation lock.
        n, resumed, changes = create.allocate(grove, request, lease)
        made = create.finish(
            grove, n, request=request, template=template, resumed=resumed, changes=changes
        )
        return TakeResult.made(made, leases.read(grove.state_dir, n) or replace(lease, slot=n))
    try:
        return _hand_over(grove, n, request)
    except BaseException:
        leases.end(grove.state_dir, n)  # the task never started: the slot is free again
        raise


def _hand_over(grove: Grove, n: int, request: create.Request) -> TakeResult:
    path = grove.slot_path(n)
    if request.branch is None:
        git.switch_detached(path, request.start_sha)
    elif request.new_branch:
        git.switch(path, request.branch, create_from=request.start_sha)
    elif git.status(path).branch != request.branch:
        git.switch(path, request.branch)
    links, _ = converge.link_shared(grove, n)
    changes = links + converge.write_local(grove, n)
    synced = steps.sync(grove, n)
    status = git.status(path)
    lease = leases.read(grove.state_dir, n)
    assert lease is not None
    return TakeResult(
        n,
        path,
        status.branch,
        status.oid or request.start_sha,
        grove.config.ports_for(n),
        False,
        lease,
        changes,
        {"ran": synced.ran, "skipped": synced.skipped},
    )


@dataclass
class ReleaseResult:
    released: list[dict[str, Any]]
    reset: dict[str, Any] | None = None

    def as_json(self) -> dict[str, Any]:
        return {"released": self.released, "reset": self.reset}

    def as_text(self) -> str:
        lines = [f"released slot {r['slot']} ({r['label']})" for r in self.released]
        if self.reset:
            lines.append(f"slot {self.reset['slot']} reset to {self.reset['head'][:12]}")
            if self.reset["discarded"]:
                lines.append("--force discarded: " + ", ".join(self.reset["discarded"]))
            if self.reset["removed"]:
                lines.append("removed build output: " + ", ".join(self.reset["removed"]))
            if self.reset["database"]:
                lines.append("database reset to the template")
        return "\n".join(lines) or "nothing to release"


def reset_slot(grove: Grove, n: int, start: str | None, force: bool) -> dict[str, Any]:
    """A clean start for the next task: detached at main's HEAD (or start), build output
    gone, dependencies and database kept warm (the database back at the template)."""
    from grove.commands import existing_slot
    from grove.commands.remove import risks

    if n == 0:
        raise UsageError("main (slot 0) is not reset by grove")
    slot = existing_slot(grove, n)
    start_sha = git.rev_parse(grove.main, start or "HEAD")
    if start_sha is None:
        raise UsageError(f"--from {start!r} is not a commit")
    reasons, files = risks(slot.path, None)
    discarded = [*files.get("changed", []), *files.get("untracked", [])]
    if reasons and not force:
        raise Refused(
            f"slot {n} has work a reset would lose: " + "; ".join(reasons),
            hint=f"commit or push it, or `grove release {n} --reset --force` to discard it",
            details={"slot": n, "reasons": reasons, **files},
        )
    if discarded:
        git.discard_changes(slot.path)
    git.switch_detached(slot.path, start_sha)
    removed = []
    for relative in grove.config.reset_disposable:
        target = slot.path / relative
        if target.exists() or target.is_symlink():
            fsio.remove_tree(target)
            removed.append(relative)
    links, _ = converge.link_shared(grove, n)
    converge.write_local(grove, n)
    database_reset = False
    if grove.config.database is not None:
        from grove import database

        database.reset(grove, n)
        database.run_migrations(grove, n)
        database_reset = True
    synced = steps.sync(grove, n)  # the install follows the lockfile at the new HEAD
    return {
        "slot": n,
        "head": start_sha,
        "discarded": discarded if force else [],
        "removed": removed,
        "database": database_reset,
        "synced": synced.as_json(),
        "relinked": [c.path for c in links],
    }


def release(
    grove: Grove,
    n: int | None,
    stale_only: bool,
    *,
    reset: bool = False,
    start: str | None = None,
    force: bool = False,
) -> ReleaseResult:
    if reset:
        target = grove.resolve_slot(n)
        result = reset_slot(grove, target, start, force)
        if leases.read(grove.state_dir, target) is None:
            return ReleaseResult([], result)
        ended = release(grove, target, stale_only=False)
        ended.reset = result
        return ended
    gone: set[int] = set()  # adopted worktrees their tool deleted: no holder is left
    if stale_only:
        layout = discover(grove)
        gone = {s.n for s in layout.slots if s.abandoned}
    if n is None and stale_only:
        targets = [s.n for s in layout.slots if s.n > 0]
    else:
        targets = [grove.resolve_slot(n)]
    released: list[dict[str, Any]] = []
    with fsio.exclusive_lock(grove.lock_path, LOCK_TIMEOUT, "grove release"):
        for slot in targets:
            lease = leases.read(grove.state_dir, slot)
            if lease is None:
                if n is not None:
                    raise UsageError(f"slot {slot} is not held", hint="`grove list` shows leases")
                continue
            if stale_only and not (lease.stale or slot in gone):
                if n is not None:
                    raise Refused(
                        f"slot {slot}'s lease is not stale: pid {lease.pid} is alive",
                        hint=f"`grove release {slot}` ends it anyway",
                    )
                continue
            leases.end(grove.state_dir, slot)
            released.append({"slot": slot, "label": lease.label, "pid": lease.pid})
    return ReleaseResult(released)


def _adoptable(grove: Grove) -> tuple[int | None, bool]:
    """The lowest slot number a new adopted worktree can have, and whether it is reclaimed
    from an adopted worktree that is gone. Callers hold the grove lock."""
    by_number = {slot.n: slot for slot in discover(grove).slots}
    for n in range(1, grove.config.slots):
        slot = by_number.get(n)
        if slot is None and not (grove.main.parent / grove.slot_dir_name(n)).exists():
            return n, False
        if slot is not None and slot.abandoned:
            return n, True
    return None, False


def take_here(
    grove: Grove, *, label: str, pid: int | None, session: str | None = None
) -> TakeResult:
    """Take the worktree we stand in: adopt it as a slot when another tool made it (Cursor
    runs its setup inside its own new worktree), giving it a slot's ports, env, database and
    setup; a worktree that already is a slot is taken as it stands."""
    if grove.current == 0:
        raise UsageError(
            "main (slot 0) is never taken",
            hint="run `grove take --here` inside the worktree to adopt, or `grove take`",
        )
    if grove.current is not None:
        return _take_in_place(grove, grove.current, label, pid, session)
    template = create.prepare_database(grove)
    lease = leases.Lease(0, label, pid, time.time(), session)
    with fsio.exclusive_lock(grove.lock_path, LOCK_TIMEOUT, "grove take --here"):
        fresh = reread_registry(grove)
        n: int | None = fresh.current  # set when another take --here adopted it meanwhile
        reclaimed = False
        if n is None:
            n, reclaimed = _adoptable(fresh)
            if n is None:
                raise NoFreeSlot(
                    f"no free slot to adopt {grove.here}: slots 1..{grove.config.slots - 1} "
                    f"are all in use ([grove] slots = {grove.config.slots})",
                    hint="`grove remove N` frees one, or raise [grove] slots in grove.toml",
                )
            if fresh.config.database is not None:
                from grove import database

                database.check_port(fresh, n)  # fail before anything is recorded
            registry.record(grove.state_dir, n, grove.here, label)
            state.forget_slot(grove.state_dir, n)  # a reclaimed number starts its setup afresh
        leases.write(grove.state_dir, replace(lease, slot=n))
        changes = create.converge_main(fresh)
    adopted = reread_registry(grove)
    if reclaimed and adopted.config.database is not None:
        from grove import database

        output.narrate(f"slot {n}'s last worktree is gone; its database starts from the template")
        database.delete(adopted, n)
    status = git.status(grove.here)
    request = create.Request(None, status.branch, False, status.oid or "")
    made = create.finish(
        adopted, n, request=request, template=template, resumed=False, changes=changes
    )
    taken = leases.read(grove.state_dir, n) or replace(lease, slot=n)
    return TakeResult.made(made, taken, adopted=True)


def _take_in_place(
    grove: Grove, n: int, label: str, pid: int | None, session: str | None
) -> TakeResult:
    from grove.commands import existing_slot

    existing_slot(grove, n)  # a registered worktree, its folder present
    with fsio.exclusive_lock(grove.lock_path, LOCK_TIMEOUT, "grove take --here"):
        held = leases.read(grove.state_dir, n)
        if held is not None and not held.stale and held.label != label:
            raise Refused(
                f"slot {n} is already held by {held.describe()}",
                hint=f"`grove release {n}` ends that lease first",
            )
        lease = leases.Lease(n, label, pid, time.time(), session)
        leases.write(grove.state_dir, lease)
    links, _ = converge.link_shared(grove, n)
    changes = links + converge.write_local(grove, n)
    setup = steps.run_setup(grove, n)  # finishes a setup that stopped halfway
    synced = steps.sync(grove, n)
    status = git.status(grove.here)
    return TakeResult(
        n,
        grove.slot_path(n),
        status.branch,
        status.oid or "",
        grove.config.ports_for(n),
        False,
        lease,
        changes,
        {"ran": setup.ran + synced.ran, "skipped": synced.skipped},
        adopted=n in grove.adopted,
        here=True,
    )
