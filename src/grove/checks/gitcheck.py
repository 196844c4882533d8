"""git consistency: slot folders vs registered worktrees, prunable and locked worktrees."""

from __future__ import annotations

from grove.checks import Finding, error, warning
from grove.slots import Grove, Layout


def check_layout(grove: Grove, layout: Layout) -> list[Finding]:
    findings: list[Finding] = []
    for slot in layout.slots:
        if slot.n == 0:
            continue
        wt = slot.worktree
        if slot.abandoned:
            findings.append(
                warning(
                    slot.n,
                    "git.adopted-gone",
                    f"slot {slot.n} was adopted from {slot.path}, which its tool has deleted",
                    f"nothing is lost: the next `grove take --here` reuses slot {slot.n}, "
                    f"or `grove remove {slot.n}` forgets it and drops its database",
                )
            )
            continue
        if not slot.registered:
            findings.append(
                error(
                    slot.n,
                    "git.unregistered",
                    f"{slot.path} looks like slot {slot.n} but git does not know it as a worktree",
                    f"move the folder away, then `grove create {slot.n}`",
                )
            )
        elif not slot.exists or (wt is not None and wt.prunable is not None):
            findings.append(
                error(
                    slot.n,
                    "git.prunable",
                    f"slot {slot.n} is registered but its folder {slot.path} is gone",
                    f"`git worktree prune`, then `grove create {slot.n}`",
                )
            )
        if wt is not None and wt.locked is not None:
            reason = f" ({wt.locked})" if wt.locked else ""
            findings.append(
                warning(
                    slot.n,
                    "git.locked",
                    f"slot {slot.n} is locked{reason}",
                    f"`git worktree unlock {slot.path}` when it is no longer needed",
                )
            )
        if slot.n >= grove.config.slots:
            findings.append(
                warning(
                    slot.n,
                    "git.beyond-limit",
                    f"slot {slot.n} is beyond [grove] slots = {grove.config.slots}",
                    f"raise slots in grove.toml or `grove remove {slot.n}`",
                )
            )
    from grove.state import leases

    for slot in layout.slots:
        lease = leases.read(grove.state_dir, slot.n)
        if lease is not None and lease.stale and not slot.abandoned:
            findings.append(
                warning(
                    slot.n,
                    "git.stale-lease",
                    f"slot {slot.n} is held by {lease.label or 'a task'} "
                    f"whose pid {lease.pid} is gone",
                    f"`grove release {slot.n} --stale` frees it",
                )
            )
    for wt in layout.foreign:
        if wt.bare:
            continue
        findings.append(
            warning(
                None,
                "git.unparsed-name",
                f"worktree {wt.path} is not a slot: its name does not match "
                f"'{grove.config.naming}'",
                "grove leaves it alone; `grove take --here` inside it adopts it as a slot",
            )
        )
    return findings
