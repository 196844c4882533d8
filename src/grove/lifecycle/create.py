"""Create a slot: allocate its number and add its worktree under the grove lock, then link,
write, set up and provision it under the slot's own lock."""

from __future__ import annotations

import os
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

from grove import approval, converge, envfile, fsio, git, output, steps
from grove.converge import Change
from grove.errors import NoFreeSlot, Refused, UsageError
from grove.lifecycle.database import reap_orphans
from grove.lifecycle.gate import require_approved
from grove.lifecycle.locks import grove_lock, try_slot_lock
from grove.record import field, record, replace
from grove.slots import Grove, Layout, discover, reread_registry
from grove.state import leases

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing
if TYPE_CHECKING:
    from typing import Any

LEFTOVER_SCAN_LIMIT = 200  # a leftover of a removal holds a handful of grove's files


@record
class CreateResult:
    slot: int
    path: Path
    branch: str | None
    head: str
    ports: dict[str, int]
    resumed: bool
    changes: list[Change] = field(default_factory=list)
    setup: steps.StepsReport = field(default_factory=steps.StepsReport)
    database: dict[str, Any] | None = None
    main_database: dict[str, Any] | None = None  # main's, when this create provisioned it

    def as_json(self) -> dict[str, Any]:
        return {
            "slot": self.slot,
            "path": str(self.path),
            "branch": self.branch,
            "head": self.head,
            "ports": self.ports,
            "resumed": self.resumed,
            "changes": [c.as_json() for c in self.changes],
            "setup": {"ran": self.setup.ran, "skipped": self.setup.skipped},
            "notes": self.setup.notes,
            "database": self.database,
            "main_database": self.main_database,
        }

    def as_text(self) -> str:
        where = self.branch or f"detached at {self.head[:12]}"
        verb = "completed" if self.resumed else "created"
        lines = [f"{verb} slot {self.slot}: {self.path} ({where})"]
        lines.append("  " + "  ".join(f"{k}={v}" for k, v in self.ports.items()))
        if self.database:
            how = "cloned from the template" if self.database["cloned"] else "kept"
            lines.append(
                f"  database {self.database['database']} on port {self.database['port']} ({how})"
            )
        if self.main_database:
            lines.append(
                f"  main's database {self.main_database['database']} on port "
                f"{self.main_database['port']} (cloned from the template)"
            )
        lines += [f"  note: {note}" for note in self.setup.notes]
        return "\n".join(lines)


def branch_holder(grove: Grove, branch: str) -> Path | None:
    for wt in git.worktrees(grove.main):
        if wt.branch == branch:
            return wt.path
    return None


def check_branch_free(grove: Grove, branch: str, allowed: Path | None = None) -> None:
    holder = branch_holder(grove, branch)
    if holder is None:
        return
    if allowed is None or grove.index_for(holder) != grove.index_for(allowed):
        n = grove.index_for(holder)
        who = f"slot {n}" if n is not None else "another worktree"
        raise Refused(
            f"branch '{branch}' is already checked out in {who} ({holder})",
            hint="git allows a branch in one worktree at a time; use a new branch name",
        )


@record(frozen=True)
class Request:
    n: int | None
    branch: str | None
    new_branch: bool
    start_sha: str
    start_given: bool = False


def check_request(
    grove: Grove,
    n: int | None,
    branch: str | None,
    start: str | None,
    asked: Callable[[], tuple[str | None, bool, bool]] | None = None,
) -> Request:
    """Every argument checked before anything is written. `asked`: git's answers, when the
    questions were started earlier (git.start_request_checks for these arguments)."""
    if n is not None and n == 0:
        raise Refused("slot 0 is main, which always exists", hint="pick N from 1")
    if n is not None and n >= grove.config.slots:
        raise UsageError(
            f"slot {n} is beyond [grove] slots = {grove.config.slots} "
            f"(slots 1..{grove.config.slots - 1})",
            hint="raise slots in grove.toml to allow more",
        )
    if asked is None:
        asked = git.start_request_checks(grove.main, start or "HEAD", branch)
    start_sha, valid, exists = asked()
    if start_sha is None:
        raise UsageError(
            f"--from {start!r} is not a commit" if start else "main has no commits yet",
            hint="pass a branch, tag or commit" if start else "commit something first",
        )
    if branch is not None and not valid:
        raise UsageError(f"--branch {branch!r} is not a valid branch name")
    new_branch = branch is not None and not exists
    return Request(n, branch, new_branch, start_sha, start is not None)


def leftover_of_removal(grove: Grove, path: Path) -> bool:
    """A folder that is not a worktree and holds nothing but grove's own files: shared-file
    links and local files with nothing outside the managed block. A removal that was
    interrupted, or a write that raced it, leaves exactly that; nobody's work is in it."""
    own_links = set(grove.config.shared)
    own_files = set(grove.config.own_files)
    seen = 0
    for root, dirs, files in os.walk(path):  # never follows links
        for name in files:
            seen += 1
            if seen > LEFTOVER_SCAN_LIMIT:
                return False
            full = Path(root) / name
            relative = full.relative_to(path).as_posix()
            if full.is_symlink():
                if relative not in own_links:
                    return False
            elif relative not in own_files or not envfile.holds_only_managed_block(full):
                return False
        for name in dirs:
            if (Path(root) / name).is_symlink():
                return False
    return True


def _candidates(grove: Grove, layout: Layout, request: Request) -> list[int]:
    if request.n is not None:
        return [request.n]
    by_number = {slot.n: slot for slot in layout.slots}
    free = []
    for n in range(1, grove.config.slots):
        slot = by_number.get(n)
        path = grove.slot_path(n)
        if (slot is None and not (path.exists() or path.is_symlink())) or (
            slot is not None
            and not (slot.registered or slot.adopted)
            and slot.exists
            and leftover_of_removal(grove, slot.path)
        ):
            free.append(n)
    return free


def allocate(
    grove: Grove, request: Request, held: ExitStack, lease: leases.Lease | None = None
) -> tuple[int, bool, list[Change]]:
    """Pick the slot and add its worktree, under the grove lock (git worktree add is not
    safe to run concurrently: duplicate registrations and config.lock failures). The slot's
    lock is taken (never waited for) before the grove lock is released, and stays in
    `held`. A lease, when given, is written under the grove lock, so no other take sees
    the slot as free."""
    with grove_lock(grove, "grove create"):
        grove = reread_registry(grove)
        layout = discover(grove)
        n: int | None = None
        for candidate in _candidates(grove, layout, request):
            attempt = ExitStack()
            if attempt.enter_context(try_slot_lock(grove, candidate, "create")):
                held.enter_context(attempt)
                n = candidate
                break
            attempt.close()
            if request.n is not None:
                raise Refused(
                    f"slot {candidate} is busy: another grove command is changing it",
                    hint="try again when it has finished (`grove list` shows the slots)",
                )
        if n is None:
            abandoned = [s.n for s in layout.slots if s.abandoned]
            raise NoFreeSlot(
                f"no free slot: main and all {grove.config.slots - 1} slots exist "
                f"([grove] slots = {grove.config.slots})",
                hint=f"slot {abandoned[0]} was adopted and its worktree is gone: "
                f"`grove remove {abandoned[0]}` frees it"
                if abandoned
                else "raise [grove] slots in grove.toml, or reuse a slot with `grove switch`",
            )
        check_database_port(grove, n)
        resumed = _add_worktree(grove, discover(grove), n, request)
        steps.slot_identity(grove, n, create=True)
        changes = converge_main(grove)
        if lease is not None:
            # Recorded before the lease: a take killed at any point after this leaves a
            # slot grove may hand out again, never one that looks like a person's branch.
            record_task_branch(grove, n, request.branch)
            leases.write(grove.state_dir, replace(lease, slot=n))
    return n, resumed, changes


def _add_worktree(grove: Grove, layout: Layout, n: int, request: Request) -> bool:
    """Add slot n's worktree; True when it already existed (create N completes it).
    Callers hold the grove lock and slot n's lock."""
    existing = next((s for s in layout.slots if s.n == n), None)
    path = grove.slot_path(n)
    if existing is not None and existing.adopted:
        raise Refused(
            f"slot {n} is another tool's worktree ({existing.path}), adopted by grove",
            hint=f"`grove remove {n}` forgets it when that worktree is gone",
        )
    if existing is not None and existing.registered and existing.exists:
        current = git.status(existing.path).branch
        if request.branch is not None and request.branch != current:
            raise UsageError(
                f"slot {n} already exists, on {current or 'a detached HEAD'}; --branch "
                f"{request.branch} would be ignored",
                hint=f"`grove switch {n} {request.branch}` moves a branch into it",
            )
        if request.start_given:
            raise UsageError(
                f"slot {n} already exists; --from would be ignored",
                hint=f"`grove release {n} --reset --from REF` restarts it from REF",
            )
        return True
    if existing is not None and existing.registered:
        raise Refused(
            f"slot {n} is registered but its folder is gone",
            hint=f"`git worktree prune` first, then `grove create {n}`",
        )
    if path.exists() or path.is_symlink():
        if not (path.is_dir() and not path.is_symlink() and leftover_of_removal(grove, path)):
            raise Refused(
                f"{path} already exists and is not a worktree; grove will not overwrite it",
                hint="move it away or pick another slot",
            )
        output.narrate(f"finishing an interrupted removal: {path} held only grove's files")
        fsio.remove_tree(path)
    if request.branch is not None and not request.new_branch:
        check_branch_free(grove, request.branch)
    if grove.config.database is not None:
        from grove import database

        database.check_port(grove, n)  # fail before touching anything
    output.narrate(f"adding worktree {path}")
    git.worktree_add(grove.main, path, request.start_sha, request.branch, request.new_branch)
    return False


def record_task_branch(grove: Grove, n: int, branch: str | None) -> None:
    """Remember the branch a take put on the slot: it stays grove's to hand out again."""
    record = steps.read_record(grove, n)
    if branch is None:
        record.pop("task_branch", None)
    else:
        record["task_branch"] = branch
    steps.write_record(grove, n, record)


def converge_main(grove: Grove) -> list[Change]:
    """What every new slot needs of main: the slot files ignored, main's own local block,
    the shared files protected. Callers hold the grove lock."""
    changes = converge.ensure_ignored(grove) + converge.write_local(grove, 0)
    record_machine_ports(grove)
    return changes + converge.protect_shared(grove)


def record_machine_ports(grove: Grove) -> None:
    """This repository's ports in the machine-wide record (state.machine), so `init` in
    another project picks other bases and `validate` can name who holds a port."""
    from grove.state import machine

    ports = [port for n in range(grove.config.slots) for port in grove.config.ports_for(n).values()]
    machine.record_ports(grove.common_dir, grove.main, ports)


def check_database_port(grove: Grove, n: int | None) -> None:
    """Refuse, before anything is built or added, when slot n's database port is taken by
    another process. Checked again under the lock, for the slot actually chosen."""
    if n is None or grove.config.database is None:
        return
    existing = grove.slot_path(n).exists()
    if existing:
        return  # `create N` completing a slot: its own server may hold the port
    from grove import database

    database.check_port(grove, n)


def prepare_database(grove: Grove) -> dict[str, Any] | None:
    """Build the template before a slot exists, so a failing seed leaves no slot behind."""
    db_config = grove.config.database
    if db_config is None:
        return None
    from grove import database

    if db_config.mode == "cluster":
        from grove.database.cluster import refuse_root

        refuse_root()
    return database.ensure_template(grove).as_json()


def provision_database(
    grove: Grove, n: int, template: dict[str, Any] | None
) -> dict[str, Any] | None:
    if grove.config.database is None:
        return None
    from grove import database

    synced = steps.sync(grove, n)
    report = dict(synced.database or {})
    report["template"] = template
    report["migrated"] = [cmd for cmd in synced.ran if cmd in database.config_of(grove).migrate]
    return report


def create(
    grove: Grove,
    n: int | None,
    branch: str | None,
    start: str | None,
    allow_unapproved: bool = False,
) -> CreateResult:
    request = check_request(grove, n, branch, start)
    require_approved(grove, "grove create", allow_unapproved)  # the seed is a step too
    check_database_port(grove, next(iter(_candidates(grove, discover(grove), request)), None))
    template = prepare_database(grove)
    with ExitStack() as held:
        n, resumed, changes = allocate(grove, request, held)
        made = finish(
            grove, n, request=request, template=template, resumed=resumed, changes=changes
        )
    # After slot n's lock is released: main's lock is never taken while holding another's.
    made.main_database = provision_main(grove, made.setup.notes)
    made.setup.notes += reap_orphans(grove)
    return made


def provision_main(grove: Grove, notes: list[str]) -> dict[str, Any] | None:
    """Main's database, when it has none yet: the README promises every slot one, main
    included, and before this the first create left main without until `grove refresh 0`
    (issue 15). A failure here leaves the new slot as it is and says how to finish."""
    if grove.config.database is None:
        return None
    from grove import database
    from grove.errors import GroveError
    from grove.lifecycle.locks import slot_lock

    if database.status(grove, 0).provisioned:
        return None
    try:
        with slot_lock(grove, 0, "create: main's database"):
            if database.status(grove, 0).provisioned:  # again, under main's lock
                return None
            synced = steps.sync(grove, 0)
    except GroveError as exc:
        notes.append(f"main's database was not made: {exc.message}; `grove refresh 0` retries")
        return None
    report = dict(synced.database or {})
    report["migrated"] = [c for c in synced.ran if c in database.config_of(grove).migrate]
    return report


def finish(
    grove: Grove,
    n: int,
    *,
    request: Request,
    template: dict[str, Any] | None,
    resumed: bool,
    changes: list[Change],
) -> CreateResult:
    """Everything after the worktree exists: links, local file, setup, database. Callers
    hold slot n's lock."""
    grove = reread_registry(grove)
    links, notes = converge.link_shared(grove, n)
    changes += links + converge.write_local(grove, n)
    if approval.record_initial(grove):
        notes.append(
            "recorded the shared files' current state as approved "
            "(`grove env approve` after you review a change)"
        )
    setup = steps.run_setup(grove, n)
    setup.notes[:0] = notes
    db_report = provision_database(grove, n, template)
    path = grove.slot_path(n)
    status = git.status(path)
    return CreateResult(
        slot=n,
        path=path,
        branch=status.branch,
        head=status.oid or request.start_sha,
        ports=grove.config.ports_for(n),
        resumed=resumed,
        changes=changes,
        setup=setup,
        database=db_report,
    )
