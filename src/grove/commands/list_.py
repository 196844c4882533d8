"""grove list: every slot at a glance. Strictly read-only; per-slot git runs concurrently."""

from __future__ import annotations

from pathlib import Path

from grove import git, output
from grove.errors import GitError, GroveError
from grove.record import field, record
from grove.slots import Grove, Slot, discover
from grove.state import leases

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing
if TYPE_CHECKING:
    from typing import Any


@record
class SlotRow:
    slot: int
    path: Path
    exists: bool
    registered: bool
    branch: str | None = None
    head: str | None = None
    dirty: bool = False
    changes: int = 0
    untracked: int = 0
    upstream: str | None = None
    ahead: int | None = None
    behind: int | None = None
    ports: dict[str, dict[str, Any]] = field(default_factory=dict)
    env_problems: list[str] = field(default_factory=list)
    setup_complete: bool = True
    current: bool = False
    database: str | None = None  # "up" | "down" | "none"; None without [database]
    lease: leases.Lease | None = None
    adopted: bool = False
    services: list[dict[str, Any]] = field(default_factory=list)
    claimed_by: dict[str, Any] | None = None  # [team]: another holder's claim on the branch

    @property
    def where(self) -> str:
        return f"{self.path} (adopted)" if self.adopted else str(self.path)

    def as_json(self) -> dict[str, Any]:
        return {
            "slot": self.slot,
            "path": str(self.path),
            "current": self.current,
            "exists": self.exists,
            "registered": self.registered,
            "adopted": self.adopted,
            "branch": self.branch,
            "head": self.head,
            "detached": self.branch is None and self.head is not None,
            "dirty": self.dirty,
            "changes": self.changes,
            "untracked": self.untracked,
            "upstream": self.upstream,
            "ahead": self.ahead,
            "behind": self.behind,
            "ports": self.ports,
            "env": {"ok": not self.env_problems, "problems": self.env_problems},
            "setup_complete": self.setup_complete,
            "database": self.database,
            "held": self.lease is not None,
            "lease": self.lease.as_json() if self.lease else None,
            "services": self.services,
            "claimed_by": self.claimed_by,
        }

    def services_text(self) -> str:
        return ", ".join(
            f"{s['name']} {s['state']}" + (f" :{s['port']}" if s["state"] == "up" else "")
            for s in self.services
        )


@record
class ListResult:
    rows: list[SlotRow]
    limit: int
    has_database: bool = False
    has_services: bool = False

    def as_json(self) -> dict[str, Any]:
        return {"slots": [row.as_json() for row in self.rows], "limit": self.limit}

    def as_text(self) -> str:
        table_rows = []
        for row in self.rows:
            name = "main" if row.slot == 0 else f"wt{row.slot}"
            if not row.exists:
                blanks = ["", "", "", "", "", ""] + ([""] if self.has_database else [])
                blanks += [""] if self.has_services else []
                table_rows.append([f" {name}", "(missing)", *blanks[1:], row.where])
                continue
            where = row.branch or f"({(row.head or '')[:8]})"
            if row.claimed_by is not None:
                who = f"{row.claimed_by['user']}@{row.claimed_by['host']}"
                where += f" (claimed by {row.claimed_by['holder'] or who}, {who})"
            state = "dirty" if row.dirty else "clean"
            sync = ""
            if row.ahead is not None:
                sync = f"+{row.ahead}/-{row.behind}"
            port_text = " ".join(
                f"{p['port']}{'*' if p['listening'] else ''}" for p in row.ports.values()
            )
            env = "ok" if not row.env_problems else f"{len(row.env_problems)} problem(s)"
            if not row.setup_complete:
                env += ", setup incomplete"
            held = row.lease.describe() if row.lease else ("-" if row.slot == 0 else "free")
            cells = [
                f"{'>' if row.current else ' '}{name}",
                where,
                state,
                sync,
                port_text,
                env,
                held,
            ]
            if self.has_database:
                cells.append(row.database or "")
            if self.has_services:
                cells.append(row.services_text() or "-")
            table_rows.append([*cells, row.where])
        legend = "ports: " + " ".join(self.rows[0].ports) + "  (* = listening)" if self.rows else ""
        headers = ["slot", "branch", "state", "+/-", "ports", "env", "held by"]
        headers += ["db"] if self.has_database else []
        headers += ["services"] if self.has_services else []
        body = output.table([*headers, "path"], table_rows)
        return body + ("\n" + legend if legend else "")


@record
class _Reading:
    """What a row shows besides git's answer: read while the slots' git processes run."""

    env_problems: list[str]
    database: str | None
    setup_complete: bool
    services: list[dict[str, Any]]


def _read_slot(grove: Grove, n: int) -> _Reading:
    # Imported here, not at the top: the first row loads them while git runs.
    from grove import steps
    from grove.checks import env as env_checks
    from grove.lifecycle import services

    problems = [f.message for f in env_checks.check_slot(grove, n) if f.level == "error"]
    database = None
    if grove.config.database is not None:
        from grove import database as database_mod

        try:
            state = database_mod.status(grove, n)
            database = "up" if state.running else ("down" if state.provisioned else "none")
        except GroveError:
            database = "unknown"
    in_use = [s.as_json() for s in services.status(grove, n)]
    return _Reading(problems, database, steps.setup_complete(grove, n), in_use)


def _row(
    grove: Grove, slot: Slot, st: git.Status | GitError | None, reading: _Reading | None
) -> SlotRow:
    row = SlotRow(slot.n, slot.path, slot.exists, slot.registered, adopted=slot.adopted)
    row.current = grove.current == slot.n
    row.lease = leases.read(grove.state_dir, slot.n)
    if st is None or reading is None:  # the folder is gone
        return row
    if isinstance(st, GitError):
        row.env_problems.append("git status failed")
        return row
    row.branch, row.head = st.branch, st.oid
    row.dirty = st.dirty
    row.changes = len(st.tracked_changes)
    row.untracked = len(st.untracked)
    row.upstream, row.ahead, row.behind = st.upstream, st.ahead, st.behind
    row.env_problems = reading.env_problems
    row.database = reading.database
    row.setup_complete = reading.setup_complete
    row.services = reading.services
    return row


def run(grove: Grove) -> ListResult:
    # Which worktrees are registered, from git's records: a row needs nothing else that
    # `git worktree list` tells, and that was one more git process of every list.
    layout = discover(grove, from_records=True)
    present = [slot for slot in layout.slots if slot.exists]
    # Every slot's git status runs at once, and the rows' own reading (env files, records,
    # services) is done while they run: the two took 70 and 20 ms one after the other.
    statuses = git.start_statuses([s.path for s in present])
    try:
        readings = {slot.n: _read_slot(grove, slot.n) for slot in present}
    finally:
        found = dict(zip((s.n for s in present), statuses(), strict=True))
    rows = [_row(grove, slot, found.get(slot.n), readings.get(slot.n)) for slot in layout.slots]
    table = {row.slot: grove.config.ports_for(row.slot) for row in rows}
    from grove import processes

    listening = processes.listening([p for ports in table.values() for p in ports.values()])
    for row in rows:
        row.ports = {
            name: {"port": port, "listening": port in listening}
            for name, port in table[row.slot].items()
        }
    if grove.config.team is not None:
        _mark_claimed(grove, rows)
    has_services = any(row.services for row in rows)
    return ListResult(rows, grove.config.slots, grove.config.database is not None, has_services)


def _mark_claimed(grove: Grove, rows: list[SlotRow]) -> None:
    """[team]: a slot whose branch another holder claims, from the claims as last fetched
    (`grove claims`, and this clone's own takes): one local git call, no network, since
    agents list at every step."""
    import time

    from grove.lifecycle import claims

    try:
        others = claims.others_claims(grove)
    except GitError:
        return  # list only reads: a mirror git cannot read marks nothing
    now = time.time()
    for row in rows:
        claim = others.get(row.branch) if row.branch else None
        if claim is not None:
            row.claimed_by = claim.as_json(now)
