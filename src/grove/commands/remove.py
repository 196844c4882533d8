"""grove remove N: delete a slot, refusing when work would be lost."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from grove import fsio, git, leases, output, registry, state, steps
from grove.commands import existing_slot
from grove.errors import Refused, UsageError
from grove.slots import LOCK_TIMEOUT, Grove


@dataclass
class RemoveResult:
    slot: int
    path: Path
    forced: bool
    deleted_ignored: list[str] = field(default_factory=list)
    overridden: list[str] = field(default_factory=list)
    database: str | None = None  # "deleted" | "kept" | None when not configured
    adopted: bool = False  # an adopted worktree is forgotten, never deleted

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
        }

    def as_text(self) -> str:
        if self.adopted:
            lines = [
                f"forgot slot {self.slot}: {self.path} is no longer a slot; grove did not "
                "create it, so it is left in place"
            ]
        else:
            lines = [f"removed slot {self.slot}: {self.path}"]
        if self.overridden:
            lines.append("--force discarded: " + "; ".join(self.overridden))
        if self.deleted_ignored:
            lines.append("git-ignored content deleted: " + ", ".join(self.deleted_ignored))
        if self.database:
            lines.append(f"database: {self.database}")
        return "\n".join(lines)


def risks(path: Path, locked: str | None) -> tuple[list[str], dict[str, list[str]]]:
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


def _drop_database(grove: Grove, n: int, keep_db: bool) -> str | None:
    if grove.config.database is None:
        return None
    if keep_db:
        return "kept"
    from grove import database

    return "deleted" if database.delete(grove, n) else "none"


def forget_adopted(grove: Grove, n: int, keep_db: bool) -> RemoveResult:
    """An adopted worktree belongs to the tool that made it: grove forgets the slot (record,
    lease, database) and leaves the folder and its files alone, so nothing can be lost."""
    path = grove.slot_path(n)
    with fsio.exclusive_lock(grove.lock_path, LOCK_TIMEOUT, "grove remove"):
        registry.forget(grove.state_dir, n)
        leases.end(grove.state_dir, n)
        state.forget_slot(grove.state_dir, n)
    result = RemoveResult(n, path, False, adopted=True)
    result.database = _drop_database(grove, n, keep_db)
    return result


def run(grove: Grove, n: int, force: bool, keep_db: bool = False) -> RemoveResult:
    if n == 0:
        raise UsageError("main (slot 0) cannot be removed")
    if n in grove.adopted:
        return forget_adopted(grove, n, keep_db)
    slot = existing_slot(grove, n)
    locked = slot.worktree.locked if slot.worktree else None
    reasons, files = risks(slot.path, locked)
    ignored = git.ignored(slot.path)
    lost = steps.unrecreatable(grove, ignored)
    if lost:
        files["ignored_unrecreatable"] = lost
        reasons.append(
            f"{len(lost)} git-ignored path(s) grove cannot recreate (git deletes them without "
            f"asking): {', '.join(lost[:5])}"
        )
    lease = leases.read(grove.state_dir, n)
    if lease is not None and not lease.stale:
        reasons.append(f"a task holds it: {lease.describe()} (`grove release {n}` ends that)")
    if reasons and not force:
        raise Refused(
            f"slot {n} has work that removing would lose: " + "; ".join(reasons),
            hint=f"commit or push it first, or `grove remove {n} --force` to discard it",
            details={"slot": n, "reasons": reasons, **files},
        )
    if ignored:
        output.narrate(f"git-ignored content that goes with slot {n}: {', '.join(ignored)}")
    with fsio.exclusive_lock(grove.lock_path, LOCK_TIMEOUT, "grove remove"):
        git.worktree_remove(grove.main, slot.path, locked is not None)
        state.forget_slot(grove.state_dir, n)
        leases.end(grove.state_dir, n)  # the folder is gone: nobody holds it any more
    result = RemoveResult(n, slot.path, force, ignored, reasons if force else [])
    result.database = _drop_database(grove, n, keep_db)
    return result
