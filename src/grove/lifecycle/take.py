"""Take: hand a warm slot to a new task (creating one when none is free), or adopt the
worktree another tool made. Every take writes a lease held by its own process first, so a
take that fails or is killed never leaves a lease that blocks the slot."""

from __future__ import annotations

import os
import time
from contextlib import ExitStack
from pathlib import Path

from grove import git, output, processes, steps
from grove.converge import Change, link_shared, write_local
from grove.errors import NoFreeSlot, Refused
from grove.lifecycle import create, headstart
from grove.lifecycle.gate import require_approved
from grove.lifecycle.locks import grove_lock, slot_lock, try_slot_lock
from grove.record import field, record, replace
from grove.slots import Grove, discover, existing_slot, lowest_free, reread_registry
from grove.state import leases, registry
from grove.state import setup as records

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing
if TYPE_CHECKING:
    from typing import Any


@record
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
    main_database: dict[str, Any] | None = None  # what making main's database did, if it ran
    claim: dict[str, Any] | None = None  # the branch's claim on the team's remote, if any

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
            "main_database": self.main_database,
            "claim": self.claim,
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


def _taking(lease: leases.Lease) -> leases.Lease:
    """The lease a take writes while it works: held by this process, so it is stale the
    moment the take dies, whatever pid the task asked for."""
    me = os.getpid()
    return replace(lease, pid=me, pid_started=leases.process_start_time(me), taking=True)


def _handed_out_by_grove(grove: Grove, n: int, branch: str | None) -> bool:
    """Detached, or on the branch a take put there: a branch a person put on the slot
    (`grove create --branch`, `grove switch`) marks it as theirs."""
    if branch is None:
        return True
    return steps.read_record(grove, n).get("task_branch") == branch


def _port_squatter(grove: Grove, n: int, found: processes.Found) -> str | None:
    """Why slot n's ports are not free for a new task: held by a process that is not one of
    the slot's services (a server the last task started by hand), or by one grove may not
    see. None when they are free or held by its services."""
    ports = {port: name for name, port in grove.config.ports_for(n).items()}
    holder = next((p for p in found.of(n) if p.ports), None)
    if holder is not None:
        port = holder.ports[0]
        return f"port {port} ({ports[port]}) is held by pid {holder.pid} ({holder.command})"
    unseen = found.unseen.get(n)
    if unseen:
        return f"port {unseen[0]} ({ports[unseen[0]]}) is held by a process grove cannot see"
    return None


def _free_slot(grove: Grove, held: ExitStack) -> int | None:
    """The lowest slot grove may hand out now, its lock taken into `held`. Callers hold the
    grove lock, so what is checked here stays true until the lease is written."""
    listening: processes.Found | None = None  # one pass for every slot, made when needed
    layout = discover(grove, from_records=True).slots
    for slot in layout:
        if slot.n == 0 or slot.n >= grove.config.slots or not (slot.registered and slot.exists):
            continue
        if slot.adopted:
            continue  # its folder belongs to the tool that made it, and that tool's agent
        if not leases.reclaimable(leases.read(grove.state_dir, slot.n)):
            continue
        status = headstart.status_of(slot.n, slot.path)
        if status is None:
            status = git.status(slot.path)
        if not _handed_out_by_grove(grove, slot.n, status.branch):
            continue
        if status.dirty:
            output.narrate(f"slot {slot.n} is free but has uncommitted work; skipping it")
            continue
        if listening is None:
            listening = processes.scan(grove, [s.n for s in layout if s.n > 0], cwd=False)
        squatter = _port_squatter(grove, slot.n, listening)
        if squatter is not None:
            # Its task would fail to listen (EADDRINUSE), or talk to someone else's server.
            output.narrate(f"slot {slot.n} is free but {squatter}; skipping it")
            continue
        attempt = ExitStack()
        if attempt.enter_context(try_slot_lock(grove, slot.n, "take")):
            held.enter_context(attempt)
            return slot.n
        attempt.close()  # another command is changing it: not free
    return None


def _likely_slot(grove: Grove) -> int | None:
    """The slot this take will most likely get, read without the lock: its claim names it,
    so a take that gets it pushes once (a push is a round trip to the team's server). A
    wrong guess costs a second push, which renews the claim naming the real slot."""
    layout = discover(grove)
    for slot in layout.slots:
        usable = slot.registered and slot.exists and not slot.adopted
        free = usable and leases.reclaimable(leases.read(grove.state_dir, slot.n))
        if 0 < slot.n < grove.config.slots and free:
            return slot.n
    return lowest_free(grove, layout)


def _end_own_lease(grove: Grove, n: int) -> None:
    """A take that fails ends the lease it wrote (and only that one)."""
    with grove_lock(grove, "grove take (undo)"):
        lease = leases.read(grove.state_dir, n)
        if lease is not None and lease.taking and lease.pid == os.getpid():
            leases.end(grove.state_dir, n)


def _settle(grove: Grove, n: int, lease: leases.Lease) -> leases.Lease:
    """The take finished: the lease becomes the task's own (its pid, or none)."""
    final = replace(lease, slot=n, taking=False)
    with grove_lock(grove, "grove take"):
        current = leases.read(grove.state_dir, n)
        if current is None or not current.taking or current.pid != os.getpid():
            # Someone ended this take's lease with --force meanwhile: it is not ours to
            # write back.
            raise Refused(
                f"slot {n}'s lease was ended while this take set it up",
                hint="`grove list` shows who holds it now; take another slot",
            )
        leases.write(grove.state_dir, final)
    return final


def take(
    grove: Grove,
    *,
    branch: str | None,
    start: str | None,
    label: str,
    pid: int | None,
    session: str | None = None,
    allow_unapproved: bool = False,
    claim: bool = False,
) -> TakeResult:
    asked = headstart.request_answers(grove.main, start or "HEAD", branch)
    request = create.check_request(grove, None, branch, start, asked)
    require_approved(grove, "grove take", allow_unapproved)
    if request.branch is None or (grove.config.team is None and not claim):
        return _take(grove, request, label, pid, session)
    # [team] (or --claim): the branch is claimed on the remote before anything local
    # changes, so a take that loses the race leaves this machine as it was.
    from grove.lifecycle import claims

    team = claims.team_remote(grove, claim)
    assert team is not None
    remote, ttl = team
    expected = _likely_slot(grove)
    held = claims.claim_for_take(grove, request.branch, label, remote, ttl=ttl, slot=expected)
    try:
        result = _take(grove, request, label, pid, session)
    except BaseException:
        claims.undo(grove, held)
        raise
    result.claim = claims.settle(grove, result.slot, held).claim.as_json(time.time())
    return result


def _take(
    grove: Grove, request: create.Request, label: str, pid: int | None, session: str | None
) -> TakeResult:
    template = create.prepare_database(grove)
    lease = leases.Lease.new(0, label, pid, session)
    with ExitStack() as held:
        n: int | None = None
        with grove_lock(grove, "grove take"):
            grove = reread_registry(grove)
            n = _free_slot(grove, held)
            if n is not None:
                if request.branch is not None and not request.new_branch:
                    create.check_branch_free(grove, request.branch, allowed=grove.slot_path(n))
                leases.write(grove.state_dir, replace(_taking(lease), slot=n))
        # The slot is chosen (and `held` if it is one): the head start lets go of any other
        # it locked, before a new slot is made, and outside the grove lock, as it may wait
        # for a status nobody read.
        headstart.end()
        try:
            if n is None:
                try:
                    n, resumed, changes = create.allocate(grove, request, held, _taking(lease))
                except NoFreeSlot:
                    raise _no_free_slot(grove) from None
                made = create.finish(
                    grove, n, request=request, template=template, resumed=resumed, changes=changes
                )
                result = TakeResult.made(made, _settle(grove, n, lease))
            else:
                result = _hand_over(grove, n, request)
        except BaseException:
            if n is not None:
                _end_own_lease(grove, n)  # the task never started: the slot is free again
            raise
        if not result.created:
            result.lease = _settle(grove, n, lease)
    if result.created:
        # As `create` does, once slot n's lock is released (main's lock is never taken while
        # another's is held): the first slot made gives main its database too.
        notes: list[str] = []
        result.main_database = create.provision_main(grove, notes)
        for note in notes:
            output.narrate(note)
    return result


def _no_free_slot(grove: Grove) -> NoFreeSlot:
    layout = discover(grove)
    held = ", ".join(str(s.n) for s in layout.slots if s.n > 0 and not s.adopted)
    adopted = ", ".join(str(s.n) for s in layout.slots if s.adopted)
    return NoFreeSlot(
        f"no free slot: slots {held or 'none'} are held, busy, on a person's branch, have "
        "uncommitted work or a port another process holds"
        + (f", slots {adopted} are other tools' worktrees (adopted)" if adopted else "")
        + f", and [grove] slots = {grove.config.slots} allows no more",
        hint="`grove list` shows who holds what; `grove release N` ends a lease; "
        "`grove remove N` frees an adopted slot whose worktree is gone",
    )


def _hand_over(grove: Grove, n: int, request: create.Request) -> TakeResult:
    """Move the slot to the task's start point and bring its runtime in line. Callers hold
    slot n's lock and a lease on it."""
    path = grove.slot_path(n)
    asked = None
    if request.branch is None or request.new_branch:
        # The slot is clean, so after the switch its index holds exactly the start commit's
        # files: which shared files are tracked is asked of that commit while git switches.
        asked = git.start_tracked_in(grove.main, request.start_sha, list(grove.config.shared))
    try:
        if request.branch is None:
            git.switch_detached(path, request.start_sha)
        elif request.new_branch:
            git.switch(path, request.branch, create_from=request.start_sha)
        elif git.status(path).branch != request.branch:
            git.switch(path, request.branch)
    finally:
        tracked = asked() if asked is not None else None  # reaped, whatever happened
    create.record_task_branch(grove, n, request.branch)
    links, _ = link_shared(grove, n, tracked=tracked)
    changes = links + write_local(grove, n)
    setup = steps.run_setup(grove, n)  # a slot whose setup stopped halfway is finished
    synced = steps.sync(grove, n)
    if request.branch is None or request.new_branch:
        branch, oid = request.branch, request.start_sha  # what the switch checked out
    else:
        status = git.status(path)
        branch, oid = status.branch, status.oid or request.start_sha
    return TakeResult(
        n,
        path,
        branch,
        oid,
        grove.config.ports_for(n),
        False,
        leases.Lease(n, "", None, time.time()),  # replaced by the settled lease
        changes,
        {"ran": setup.ran + synced.ran, "skipped": synced.skipped},
    )


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
    grove: Grove,
    *,
    label: str,
    pid: int | None,
    session: str | None = None,
    allow_unapproved: bool = False,
) -> TakeResult:
    """Take the worktree we stand in: adopt it as a slot when another tool made it (Cursor
    runs its setup inside its own new worktree), giving it a slot's ports, env, database and
    setup; a worktree that already is a slot is taken as it stands."""
    if grove.current == 0:
        raise Refused(
            "main (slot 0) is never taken",
            hint="run `grove take --here` inside the worktree to adopt, or `grove take`",
        )
    require_approved(grove, "grove take", allow_unapproved)
    if grove.current is not None:
        return _take_in_place(grove, grove.current, label, pid, session)
    template = create.prepare_database(grove)
    lease = leases.Lease.new(0, label, pid, session)
    with ExitStack() as held:
        with grove_lock(grove, "grove take --here"):
            fresh = reread_registry(grove)
            n: int | None = fresh.current  # set when another take --here adopted it meanwhile
            reclaimed = False
            if n is None:
                n, reclaimed = _adoptable(fresh)
                if n is None:
                    raise NoFreeSlot(
                        f"no free slot to adopt {grove.here}: slots 1..{grove.config.slots - 1}"
                        f" are all in use ([grove] slots = {grove.config.slots})",
                        hint="`grove remove N` frees one, or raise [grove] slots in grove.toml",
                    )
                if not held.enter_context(try_slot_lock(fresh, n, "take --here")):
                    raise Refused(
                        f"slot {n} is busy: another grove command is changing it",
                        hint="run `grove take --here` again when it has finished",
                    )
                if fresh.config.database is not None:
                    from grove import database

                    database.check_port(fresh, n)  # fail before anything is recorded
                registry.record(grove.state_dir, n, grove.here, label)
                records.forget_slot(grove.state_dir, n)  # a reclaimed number starts afresh
            else:
                _refuse_another_holder(grove, n, label, pid)
                held.enter_context(slot_lock_nowait(fresh, n))
            leases.write(grove.state_dir, replace(_taking(lease), slot=n))
            changes = create.converge_main(fresh)
        try:
            adopted = reread_registry(grove)
            steps.slot_identity(adopted, n, create=True)
            if reclaimed and adopted.config.database is not None:
                from grove import database

                output.narrate(
                    f"slot {n}'s last worktree is gone; its database starts from the template"
                )
                database.delete(adopted, n)
            status = git.status(grove.here)
            request = create.Request(None, status.branch, False, status.oid or "")
            made = create.finish(
                adopted, n, request=request, template=template, resumed=False, changes=changes
            )
        except BaseException:
            _end_own_lease(grove, n)
            raise
        return TakeResult.made(made, _settle(grove, n, lease), adopted=True)


def slot_lock_nowait(grove: Grove, n: int) -> ExitStack:
    """Slot n's lock, taken under the grove lock without waiting; Refused when busy."""
    attempt = ExitStack()
    if not attempt.enter_context(try_slot_lock(grove, n, "take")):
        attempt.close()
        raise Refused(
            f"slot {n} is busy: another grove command is changing it",
            hint="try again when it has finished",
        )
    return attempt


def _refuse_another_holder(grove: Grove, n: int, label: str, pid: int | None) -> None:
    """take --here of a slot another live task holds is refused. Callers hold the grove
    lock."""
    current = leases.read(grove.state_dir, n)
    if current is not None and not current.stale and not current.held_by(label or None, pid):
        raise Refused(
            f"slot {n} is already held by {current.describe()}",
            hint=f"`grove release {n}` ends that lease first",
        )


def _take_in_place(
    grove: Grove, n: int, label: str, pid: int | None, session: str | None
) -> TakeResult:
    existing_slot(grove, n)  # a registered worktree, its folder present
    lease = leases.Lease.new(n, label, pid, session)
    with slot_lock(grove, n, "take --here"):
        with grove_lock(grove, "grove take --here"):
            _refuse_another_holder(grove, n, label, pid)
            leases.write(grove.state_dir, _taking(lease))
        try:
            links, _ = link_shared(grove, n)
            changes = links + write_local(grove, n)
            setup = steps.run_setup(grove, n)  # finishes a setup that stopped halfway
            synced = steps.sync(grove, n)
        except BaseException:
            _end_own_lease(grove, n)
            raise
        status = git.status(grove.here)
        return TakeResult(
            n,
            grove.slot_path(n),
            status.branch,
            status.oid or "",
            grove.config.ports_for(n),
            False,
            _settle(grove, n, lease),
            changes,
            {"ran": setup.ran + synced.ran, "skipped": synced.skipped},
            adopted=n in grove.adopted,
            here=True,
        )
