"""Release a slot's lease, optionally returning the slot to a clean start first."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from grove import converge, fsio, git, output, steps
from grove.errors import GroveError, Refused, UnsafePath, UsageError
from grove.lifecycle import services, stopping
from grove.lifecycle.gate import require_approved
from grove.lifecycle.holders import Caller, check_not_held
from grove.lifecycle.locks import grove_lock, slot_lock
from grove.lifecycle.remove import DISCARDS, risks
from grove.record import record
from grove.slots import Grove, discover, existing_slot
from grove.state import leases


@record
class ReleaseResult:
    released: list[dict[str, Any]]
    reset: dict[str, Any] | None = None

    def as_json(self) -> dict[str, Any]:
        return {"released": self.released, "reset": self.reset}

    def as_text(self) -> str:
        lines = [
            f"released slot {r['slot']} ({r['label'] or 'unlabelled'})" + _claim_text(r)
            for r in self.released
        ]
        if self.reset:
            lines.append(f"slot {self.reset['slot']} reset to {self.reset['head'][:12]}")
            if self.reset["discarded"]:
                lines.append("--force discarded: " + ", ".join(self.reset["discarded"]))
            if self.reset["removed"]:
                lines.append("removed build output: " + ", ".join(self.reset["removed"]))
            for kept in self.reset["kept"]:
                lines.append(f"kept {kept['path']}: {kept['reason']}, not followed")
            if self.reset["database"]:
                lines.append("database reset to the template")
            lines += [f"--force ended pid {p['pid']} ({p['command']})" for p in self.reset["ended"]]
            if self.reset["restarted"]:
                lines.append("services up again: " + ", ".join(self.reset["restarted"]))
            for name, why in self.reset["restart_failed"].items():
                lines.append(f"service {name} did not come back: {why}")
        return "\n".join(lines) or "nothing to release"


def _claim_text(released: dict[str, Any]) -> str:
    claim = released.get("claim")
    return f"; claim on {claim['branch']} ended" if claim and claim["released"] else ""


def reset_slot(grove: Grove, n: int, start: str | None, caller: Caller) -> dict[str, Any]:
    """A clean start for the next task: detached at main's HEAD (or start), build output
    gone, dependencies and database kept warm (the database back at the template)."""
    if n == 0:
        raise Refused("main (slot 0) is not reset by grove")
    start_sha = git.rev_parse(grove.main, start or "HEAD")
    if start_sha is None:
        raise UsageError(f"--from {start!r} is not a commit")
    with slot_lock(grove, n, "release --reset"):
        slot = existing_slot(grove, n)
        with grove_lock(grove, "grove release --reset"):
            check_not_held(grove, n, caller, "a reset")
        reasons, files = risks(grove, n, slot.path, None)
        discarded = [*files.get("changed", []), *files.get("untracked", [])]
        if reasons and not caller.force:
            raise Refused(
                f"slot {n} has work a reset would lose: " + "; ".join(reasons),
                hint=f"commit or push it, or `grove release {n} --reset --force` to discard it",
                details={"slot": n, "reasons": reasons, **files},
            )
        found = stopping.check(
            grove, n, caller, action="a reset", retry=f"grove release {n} --reset", also=DISCARDS
        )
        # Stopped first: a server would hold the database open through its reset, and serve
        # the old checkout while it changes.
        stopped = stopping.stop(grove, n, found)
        try:
            done = _reset_stopped(grove, n, slot.path, start_sha, discarded)
        except Exception:
            # A failed reset leaves its services running as it found them, so running it
            # again knows which to bring back.
            _restart(grove, n, stopped.services)
            raise
        restarted, failed = _restart(grove, n, stopped.services)
    return {
        "slot": n,
        "head": start_sha,
        "discarded": discarded if caller.force else [],
        **done,
        **stopped.as_json(),
        "restarted": restarted,
        "restart_failed": failed,
    }


def _reset_stopped(
    grove: Grove, n: int, path: Path, start_sha: str, discarded: list[str]
) -> dict[str, Any]:
    """The reset itself, its services stopped. Callers hold slot n's lock."""
    if discarded:
        git.discard_changes(path)
    git.switch_detached(path, start_sha)
    record = steps.read_record(grove, n)
    if record.pop("task_branch", None) is not None:
        steps.write_record(grove, n, record)
    removed: list[str] = []
    kept: list[dict[str, str]] = []
    for relative in grove.config.reset_disposable:
        try:
            if fsio.remove_inside(path, relative):
                removed.append(relative)
        except UnsafePath as exc:
            # A folder on the way is a link (the slot's content made it): what it leads
            # to is not grove's to delete. The reset goes on; the answer says so.
            kept.append({"path": relative, "reason": f"{exc.details['component']} is a link"})
    links, _ = converge.link_shared(grove, n)
    converge.write_local(grove, n)
    database_reset = False
    if grove.config.database is not None:
        from grove import database

        database.reset(grove, n, steps.slot_identity(grove, n, create=True))
        database.run_migrations(grove, n)
        database_reset = True
    synced = steps.sync(grove, n)  # the install follows the lockfile at the new HEAD
    return {
        "removed": removed,
        "kept": kept,
        "database": database_reset,
        "synced": synced.as_json(),
        "relinked": [c.path for c in links],
    }


def _restart(grove: Grove, n: int, names: list[str]) -> tuple[list[str], dict[str, str]]:
    """Start again the services a reset stopped, on the same ports. One that fails does not
    undo the reset: the answer names it and why (`grove logs` has the rest)."""
    restarted: list[str] = []
    failed: dict[str, str] = {}
    for name in names:
        try:
            services.start(grove, n, [name])
        except GroveError as exc:
            output.narrate(f"slot {n}: {name} did not come back after the reset: {exc.message}")
            failed[name] = exc.message
        else:
            restarted.append(name)
    return restarted, failed


def release(
    grove: Grove,
    n: int | None,
    stale_only: bool,
    *,
    reset: bool = False,
    start: str | None = None,
    caller: Caller | None = None,
    allow_unapproved: bool = False,
) -> ReleaseResult:
    caller = caller or Caller()
    if reset:
        target = grove.resolve_slot(n)
        # A reset re-runs the install and migrations; ending a lease alone runs nothing.
        require_approved(grove, "grove release --reset", allow_unapproved)
        # One hold of the slot's lock across both: no take can hand the slot out between
        # the reset and the end of the lease, so the lease that ends is the one checked.
        with slot_lock(grove, target, "release --reset"):
            result = reset_slot(grove, target, start, caller)
            ended = _end_leases(grove, [target], explicit=False, stale_only=False, caller=caller)
        ended.reset = result
        return ended
    if n is None and stale_only:
        targets = [s.n for s in discover(grove).slots if s.n > 0]
    else:
        targets = [grove.resolve_slot(n)]
    return _end_leases(grove, targets, explicit=n is not None, stale_only=stale_only, caller=caller)


def _end_leases(
    grove: Grove, targets: list[int], *, explicit: bool, stale_only: bool, caller: Caller
) -> ReleaseResult:
    released: list[dict[str, Any]] = []
    with grove_lock(grove, "grove release"):
        # Decided under the lock: the lease read here is the one that ends.
        gone = {s.n for s in discover(grove).slots if s.abandoned} if stale_only else set()
        for slot in targets:
            lease = leases.read(grove.state_dir, slot)
            if lease is None:
                if explicit and not stale_only:
                    raise Refused(f"slot {slot} is not held", hint="`grove list` shows leases")
                continue
            if stale_only and not (lease.stale or slot in gone):
                if explicit:
                    raise Refused(
                        f"slot {slot}'s lease is not stale: pid {lease.pid} is alive"
                        if lease.pid
                        else f"slot {slot}'s lease has no pid, so it never goes stale",
                        hint=f"`grove release {slot}` ends it, as its holder or with --force",
                    )
                continue
            if not stale_only:
                check_not_held(grove, slot, caller, "releasing it")
            leases.end(grove.state_dir, slot)
            released.append({"slot": slot, "label": lease.label, "pid": lease.pid})
    for entry in released:
        _end_claim(grove, entry)
    return ReleaseResult(released)


def _end_claim(grove: Grove, entry: dict[str, Any]) -> None:
    """The slot's claim on the team's remote ends with its lease (after the grove lock:
    the network is never waited for while other commands wait for the lock)."""
    if not (grove.state_dir / "claims" / f"{entry['slot']}.json").exists():
        return  # no claim: no import, no process
    from grove.lifecycle import claims

    ended = claims.end(grove, entry["slot"])
    if ended is not None:
        entry["claim"] = ended
