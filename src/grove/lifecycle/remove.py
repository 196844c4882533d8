"""Remove a slot, refusing when work would be lost or another task holds it. Every check is
made again under the locks, right before the worktree goes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from grove import envfile, git, steps
from grove.errors import Refused
from grove.lifecycle import stopping
from grove.lifecycle.create import leftover_of_removal
from grove.lifecycle.database import reap_orphans
from grove.lifecycle.holders import Caller, check_not_held
from grove.lifecycle.locks import grove_lock, slot_lock
from grove.record import field, record
from grove.slots import Grove, discover, existing_slot, reread_registry
from grove.state import leases, registry
from grove.state import setup as records

DISCARDS = "which also discards uncommitted work"


@record
class RemoveResult:
    slot: int
    path: Path
    forced: bool
    deleted_ignored: list[str] = field(default_factory=list)
    overridden: list[str] = field(default_factory=list)
    database: str | None = None  # "deleted" | "kept" | None when not configured
    adopted: bool = False  # an adopted worktree is forgotten, never deleted
    stopped: stopping.Stopped = field(default_factory=stopping.Stopped)

    @property
    def removed(self) -> bool:
        return not self.adopted

    def as_json(self) -> dict[str, Any]:
        return {
            "slot": self.slot,
            "path": str(self.path),
            "removed": self.removed,
            "adopted": self.adopted,
            "forced": self.forced,
            "deleted_ignored": self.deleted_ignored,
            "overridden": self.overridden,
            "database": self.database,
            **self.stopped.as_json(),
        }

    def as_text(self) -> str:
        if self.adopted:
            lines = [
                f"forgot slot {self.slot}: {self.path} is no longer a slot; grove did not "
                "create it, so it is left in place"
            ]
        else:
            lines = [f"removed slot {self.slot}: {self.path}"]
        lines += self.stopped.lines()
        if self.overridden:
            lines.append("--force discarded: " + "; ".join(self.overridden))
        if self.deleted_ignored:
            lines.append("git-ignored content deleted: " + ", ".join(self.deleted_ignored))
        if self.database:
            lines.append(f"database: {self.database}")
        return "\n".join(lines)


def _user_lines_in_local_files(grove: Grove, path: Path) -> list[str]:
    """Local files (and grove's .envrc) holding lines a person wrote (outside grove's
    block): grove cannot recreate those, so they are work."""
    return [
        name
        for name in grove.config.own_files
        if (path / name).is_file()
        and not (path / name).is_symlink()
        and not envfile.holds_only_managed_block(path / name)
    ]


def risks(
    grove: Grove, n: int, path: Path, locked: str | None
) -> tuple[list[str], dict[str, list[str]]]:
    """Reasons removal would lose work, each readable on its own, plus the files behind them."""
    st = git.status(path)
    reasons: list[str] = []
    files: dict[str, list[str]] = {}
    if st.tracked_changes:
        files["changed"] = st.tracked_changes
        reasons.append(
            f"{len(st.tracked_changes)} modified or staged file(s): "
            + ", ".join(st.tracked_changes[:5])
        )
    if st.untracked:
        files["untracked"] = st.untracked
        reasons.append(f"{len(st.untracked)} untracked path(s): " + ", ".join(st.untracked[:5]))
    if locked is not None:
        reasons.append("the worktree is locked" + (f" ({locked})" if locked else ""))
    if st.branch is None:
        orphans = git.commits_on_no_branch(path)
        if orphans:
            files["commits_on_no_branch"] = orphans
            reasons.append(
                f"HEAD has {len(orphans)}{'+' if len(orphans) == 20 else ''} commit(s) on no "
                f"branch ({orphans[0][:12]}); git would garbage-collect them"
            )
    return reasons, files


def _removal_risks(
    grove: Grove, n: int, path: Path, locked: str | None
) -> tuple[list[str], dict[str, list[str]], list[str]]:
    reasons, files = risks(grove, n, path, locked)
    ignored = git.ignored(path)
    lost = steps.unrecreatable(grove, ignored)
    lost += [name for name in _user_lines_in_local_files(grove, path) if name not in lost]
    if lost:
        files["ignored_unrecreatable"] = lost
        reasons.append(
            f"{len(lost)} git-ignored path(s) grove cannot recreate (git deletes them without "
            f"asking): {', '.join(lost[:5])}"
        )
    return reasons, files, ignored


def _drop_database(grove: Grove, n: int, keep_db: bool) -> str | None:
    if grove.config.database is None:
        return None
    from grove import database

    if keep_db:
        database.disown(grove, n)  # the next worktree with this number takes it, on purpose
        return "kept"

    return "deleted" if database.delete(grove, n) else "none"


def forget_adopted(grove: Grove, n: int, caller: Caller, keep_db: bool) -> RemoveResult:
    """An adopted worktree belongs to the tool that made it: grove forgets the slot (record,
    lease, database) and leaves the folder and its files alone, so nothing can be lost."""
    with slot_lock(grove, n, "remove"):
        # Its folder stays, but the slot number (and its ports) goes to the next worktree.
        found = stopping.check(grove, n, caller, action="removing it", retry=f"grove remove {n}")
        with grove_lock(grove, "grove remove"):
            fresh = reread_registry(grove)
            if n not in fresh.adopted:
                raise Refused(f"slot {n} is no longer adopted", hint="`grove list`")
            path = fresh.slot_path(n)
            check_not_held(fresh, n, caller, "removing it")
            stopped = stopping.stop(grove, n, found)
            registry.forget(grove.state_dir, n)
            leases.end(grove.state_dir, n)
            records.forget_slot(grove.state_dir, n)
        result = RemoveResult(n, path, caller.force, adopted=True, stopped=stopped)
        result.database = _drop_database(grove, n, keep_db)
    return result


def remove(grove: Grove, n: int, caller: Caller, keep_db: bool = False) -> RemoveResult:
    if n == 0:
        raise Refused("main (slot 0) cannot be removed")
    if n in grove.adopted:
        return forget_adopted(grove, n, caller, keep_db)
    with slot_lock(grove, n, "remove"):
        leftover = _finish_interrupted_removal(grove, n)
        if leftover is not None:
            leftover.database = _drop_database(grove, n, keep_db)
            return leftover
        slot = existing_slot(grove, n, with_git_state=True)
        locked = slot.worktree.locked if slot.worktree else None
        found = stopping.check(
            grove, n, caller, action="removing it", retry=f"grove remove {n}", also=DISCARDS
        )
        with grove_lock(grove, "grove remove"):
            # Taken again under both locks: a take may have handed the slot out, or a task
            # written files, since this command started.
            lease = check_not_held(grove, n, caller, "removing it")
            reasons, files, ignored = _removal_risks(grove, n, slot.path, locked)
            if lease is not None and not lease.stale:
                reasons.append(f"a task holds it: {lease.describe()}")
            if reasons and not caller.force:
                raise Refused(
                    f"slot {n} has work that removing would lose: " + "; ".join(reasons),
                    hint=f"commit or push it first, or `grove remove {n} --force` to discard it",
                    details={"slot": n, "reasons": reasons, **files},
                )
            # Only once nothing refuses: a refused remove leaves the services running.
            stopped = stopping.stop(grove, n, found)
            git.worktree_remove(grove.main, slot.path, locked is not None)
            records.forget_slot(grove.state_dir, n)
            leases.end(grove.state_dir, n)  # the folder is gone: nobody holds it any more
        result = RemoveResult(n, slot.path, caller.force, ignored, reasons if caller.force else [])
        result.stopped = stopped
        result.database = _drop_database(grove, n, keep_db)
    reap_orphans(grove)
    return result


def _finish_interrupted_removal(grove: Grove, n: int) -> RemoveResult | None:
    """A folder left by an interrupted removal (not a worktree, only grove's files in it) is
    deleted; anything else unregistered is refused by existing_slot as before. Callers hold
    slot n's lock."""
    slot = next((s for s in discover(grove).slots if s.n == n), None)
    if slot is None or slot.registered or slot.adopted or not slot.exists:
        return None
    with grove_lock(grove, "grove remove"):
        if not leftover_of_removal(grove, slot.path):
            return None
        from grove import fsio

        fsio.remove_tree(slot.path)
        records.forget_slot(grove.state_dir, n)
        leases.end(grove.state_dir, n)
    return RemoveResult(n, slot.path, False)
