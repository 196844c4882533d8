"""grove create: allocate a slot under the lock, add the worktree, link, write, set up."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from grove import converge, fsio, git, output, steps
from grove.converge import Change
from grove.errors import NoFreeSlot, Refused, UsageError
from grove.slots import LOCK_TIMEOUT, Grove, discover, lowest_free


@dataclass
class CreateResult:
    slot: int
    path: Path
    branch: str | None
    head: str
    ports: dict[str, int]
    resumed: bool
    changes: list[Change] = field(default_factory=list)
    setup: steps.StepsReport = field(default_factory=steps.StepsReport)

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
        }

    def as_text(self) -> str:
        where = self.branch or f"detached at {self.head[:12]}"
        verb = "completed" if self.resumed else "created"
        lines = [f"{verb} slot {self.slot}: {self.path} ({where})"]
        lines.append("  " + "  ".join(f"{k}={v}" for k, v in self.ports.items()))
        lines += [f"  note: {note}" for note in self.setup.notes]
        return "\n".join(lines)


def branch_holder(grove: Grove, branch: str) -> Path | None:
    for wt in git.worktrees(grove.main):
        if wt.branch == branch:
            return wt.path
    return None


def check_branch_free(grove: Grove, branch: str) -> None:
    holder = branch_holder(grove, branch)
    if holder is not None:
        n = grove.index_for(holder)
        who = f"slot {n}" if n is not None else "another worktree"
        raise UsageError(
            f"branch '{branch}' is already checked out in {who} ({holder})",
            hint="git allows a branch in one worktree at a time; use a new branch name",
        )


def run(grove: Grove, n: int | None, branch: str | None, start: str | None) -> CreateResult:
    if n is not None and n == 0:
        raise UsageError("slot 0 is main, which always exists", hint="pick N from 1")
    if n is not None and n >= grove.config.slots:
        raise UsageError(
            f"slot {n} is beyond [grove] slots = {grove.config.slots} "
            f"(slots 1..{grove.config.slots - 1})",
            hint="raise slots in grove.toml to allow more",
        )
    start_sha = git.rev_parse(grove.main, start or "HEAD")
    if start_sha is None:
        raise UsageError(
            f"--from {start!r} is not a commit" if start else "main has no commits yet",
            hint="pass a branch, tag or commit" if start else "commit something first",
        )
    new_branch = False
    if branch is not None:
        if not git.valid_branch_name(grove.main, branch):
            raise UsageError(f"--branch {branch!r} is not a valid branch name")
        new_branch = not git.branch_exists(grove.main, branch)

    resumed = False
    changes: list[Change] = []
    with fsio.exclusive_lock(grove.lock_path, LOCK_TIMEOUT, "grove create"):
        layout = discover(grove)
        if n is None:
            n = lowest_free(grove, layout)
            if n is None:
                raise NoFreeSlot(
                    f"no free slot: main and all {grove.config.slots - 1} slots exist "
                    f"([grove] slots = {grove.config.slots})",
                    hint="raise [grove] slots in grove.toml, or reuse a slot with `grove switch`",
                )
        existing = next((s for s in layout.slots if s.n == n), None)
        path = grove.slot_path(n)
        if existing is not None and existing.registered and existing.exists:
            resumed = True  # `grove create N` again completes an unfinished slot
        elif existing is not None and existing.registered:
            raise Refused(
                f"slot {n} is registered but its folder is gone",
                hint=f"`git worktree prune` first, then `grove create {n}`",
            )
        elif path.exists() or path.is_symlink():
            raise Refused(
                f"{path} already exists and is not a worktree; grove will not overwrite it",
                hint="move it away or pick another slot",
            )
        else:
            if branch is not None and not new_branch:
                check_branch_free(grove, branch)
            output.narrate(f"adding worktree {path}")
            git.worktree_add(grove.main, path, start_sha, branch, new_branch)
        changes += converge.ensure_ignored(grove)
        changes += converge.write_local(grove, 0)

    links, notes = converge.link_shared(grove, n)
    changes += links
    changes += converge.write_local(grove, n)
    setup = steps.run_setup(grove, n)
    setup.notes[:0] = notes
    status = git.status(path)
    return CreateResult(
        slot=n,
        path=path,
        branch=status.branch,
        head=status.oid or start_sha,
        ports=grove.config.ports_for(n),
        resumed=resumed,
        changes=changes,
        setup=setup,
    )
