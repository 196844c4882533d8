"""grove peek N: what the agent in slot N is doing, without disturbing it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from grove import git
from grove.commands import existing_slot
from grove.lifecycle import services
from grove.record import field, record
from grove.slots import Grove
from grove.state import leases


@record
class PeekResult:
    slot: int
    path: Path
    branch: str | None
    head: str | None
    commits: list[git.Commit]
    diff_stat: str
    staged: int
    modified: int
    untracked: int
    ahead: int | None
    behind: int | None
    lease: leases.Lease | None = None
    services: list[services.ServiceState] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "slot": self.slot,
            "path": str(self.path),
            "branch": self.branch,
            "head": self.head,
            "detached": self.branch is None,
            "commits": [{"sha": c.sha, "subject": c.subject, "age": c.age} for c in self.commits],
            "diff_stat": self.diff_stat,
            "staged": self.staged,
            "modified": self.modified,
            "untracked": self.untracked,
            "ahead": self.ahead,
            "behind": self.behind,
            "lease": self.lease.as_json() if self.lease else None,
            "services": [s.as_json() for s in self.services],
        }

    def as_text(self) -> str:
        where = self.branch or f"detached at {(self.head or '')[:12]}"
        lines = [f"slot {self.slot}: {where}  ({self.path})"]
        if self.lease:
            lines.append(f"held by {self.lease.describe()}")
        for service in self.services:
            at = f" at {service.url} (pid {service.pid})" if service.state == "up" else ""
            lines.append(f"service {service.summary()}{at}")
        if self.ahead is not None:
            lines.append(f"upstream: +{self.ahead} -{self.behind}")
        lines.append(
            f"changes: {self.staged} staged, {self.modified} modified, {self.untracked} untracked"
        )
        if self.commits:
            lines.append("recent commits:")
            lines += [f"  {c.sha}  {c.subject}  ({c.age})" for c in self.commits]
        if self.diff_stat:
            lines.append("diff:")
            lines += [f"  {line.strip()}" for line in self.diff_stat.splitlines()]
        return "\n".join(lines)


def run(grove: Grove, n: int | None, count: int = 5) -> PeekResult:
    n = grove.resolve_slot(n)
    slot = existing_slot(grove, n)
    st = git.status(slot.path)
    return PeekResult(
        slot=n,
        path=slot.path,
        branch=st.branch,
        head=st.oid,
        commits=git.log(slot.path, count),
        diff_stat=git.diff_stat(slot.path),
        staged=len(st.staged),
        modified=len(st.modified),
        untracked=len(st.untracked),
        ahead=st.ahead,
        behind=st.behind,
        lease=leases.read(grove.state_dir, n),
        services=services.status(grove, n),
    )
