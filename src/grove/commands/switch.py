"""grove switch N BRANCH: move a branch into an evergreen slot, then converge it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from grove import converge, git, output, steps
from grove.commands import existing_slot
from grove.commands.create import check_branch_free
from grove.converge import Change
from grove.errors import Refused, UsageError
from grove.slots import Grove


@dataclass
class SwitchResult:
    slot: int
    path: Path
    branch: str
    created: bool
    previous: str | None
    changes: list[Change] = field(default_factory=list)
    ran: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "slot": self.slot,
            "path": str(self.path),
            "branch": self.branch,
            "created": self.created,
            "previous": self.previous,
            "changes": [c.as_json() for c in self.changes],
            "ran": self.ran,
            "skipped": self.skipped,
        }

    def as_text(self) -> str:
        made = " (new branch)" if self.created else ""
        return f"slot {self.slot}: {self.previous or 'detached'} -> {self.branch}{made}"


def run(grove: Grove, n: int, branch: str, start: str | None) -> SwitchResult:
    if n == 0:
        raise UsageError(
            "grove switch moves branches through slots; main is slot 0",
            hint="use `git switch` in main yourself",
        )
    slot = existing_slot(grove, n)
    if not git.valid_branch_name(grove.main, branch):
        raise UsageError(f"{branch!r} is not a valid branch name")
    st = git.status(slot.path)
    if st.branch == branch:
        raise UsageError(f"slot {n} is already on {branch}")
    if st.dirty:
        files = [*st.tracked_changes, *st.untracked]
        raise Refused(
            f"slot {n} has uncommitted work ({len(files)} path(s): {', '.join(files[:5])}"
            f"{', ...' if len(files) > 5 else ''}); switching could carry it onto {branch}",
            hint=f"commit or stash in {slot.path} first",
            details={"files": files},
        )
    created = not git.branch_exists(grove.main, branch)
    if created:
        start_sha = git.rev_parse(grove.main, start or "HEAD")
        if start_sha is None:
            raise UsageError(f"--from {start!r} is not a commit")
        output.narrate(f"slot {n}: creating {branch} from {start or 'main HEAD'}")
        git.switch(slot.path, branch, create_from=start_sha)
    else:
        check_branch_free(grove, branch)
        git.switch(slot.path, branch)
    result = SwitchResult(n, slot.path, branch, created, st.branch)
    links, _ = converge.link_shared(grove, n)
    result.changes += links + converge.write_local(grove, n)
    synced = steps.sync(grove, n)
    result.ran += synced.ran
    result.skipped = synced.skipped
    result.ran += steps.run_commands(grove, n, grove.config.switch_run, "switch")
    return result
