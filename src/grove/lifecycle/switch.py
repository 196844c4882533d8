"""Switch: move a branch into an evergreen slot, then converge it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from grove import converge, git, output, steps
from grove.converge import Change
from grove.errors import Refused, UsageError
from grove.lifecycle import stopping
from grove.lifecycle.create import check_branch_free
from grove.lifecycle.gate import require_approved
from grove.lifecycle.holders import Caller, check_not_held
from grove.lifecycle.locks import grove_lock, slot_lock
from grove.record import field, record
from grove.slots import Grove, existing_slot


@record
class SwitchResult:
    slot: int
    path: Path
    branch: str
    created: bool
    previous: str | None
    changes: list[Change] = field(default_factory=list)
    ran: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    stopped: stopping.Stopped = field(default_factory=stopping.Stopped)

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
            **self.stopped.as_json(),
        }

    def as_text(self) -> str:
        made = " (new branch)" if self.created else ""
        line = f"slot {self.slot}: {self.previous or 'detached'} -> {self.branch}{made}"
        return "\n".join([line, *self.stopped.lines()])


def switch(
    grove: Grove,
    n: int,
    branch: str,
    start: str | None,
    caller: Caller,
    *,
    allow_unapproved: bool = False,
) -> SwitchResult:
    if n == 0:
        raise Refused(
            "grove switch moves branches through slots; main is slot 0",
            hint="use `git switch` in main yourself",
        )
    if not git.valid_branch_name(grove.main, branch):
        raise UsageError(f"{branch!r} is not a valid branch name")
    # Caller.force (a holder's slot) does not cover this: see lifecycle.gate.
    require_approved(grove, "grove switch", allow_unapproved)
    with slot_lock(grove, n, "switch"):
        slot = existing_slot(grove, n)
        with grove_lock(grove, "grove switch"):
            check_not_held(grove, n, caller, "switching its branch")
        st = git.status(slot.path)
        if st.branch == branch:
            raise Refused(f"slot {n} is already on {branch}")
        if st.dirty:
            files = [*st.tracked_changes, *st.untracked]
            raise Refused(
                f"slot {n} has uncommitted work ({len(files)} path(s): {', '.join(files[:5])}"
                f"{', ...' if len(files) > 5 else ''}); switching could carry it onto {branch}",
                hint=f"commit or stash in {slot.path} first",
                details={"files": files},
            )
        found = stopping.check(
            grove, n, caller, action="switching its branch", retry=f"grove switch {n} {branch}"
        )
        created = not git.branch_exists(grove.main, branch)
        start_sha = None
        if created:
            start_sha = git.rev_parse(grove.main, start or "HEAD")
            if start_sha is None:
                raise UsageError(f"--from {start!r} is not a commit")
        else:
            if start is not None:
                raise UsageError(
                    f"--from applies to a new branch; {branch} exists, so it would be ignored"
                )
            check_branch_free(grove, branch)
        # The old branch's servers stop with it; only once nothing above refused.
        stopped = stopping.stop(grove, n, found)
        if start_sha is not None:
            output.narrate(f"slot {n}: creating {branch} from {start or 'main HEAD'}")
            git.switch(slot.path, branch, create_from=start_sha)
        else:
            git.switch(slot.path, branch)
        # A branch a person moved in: the slot is theirs until a reset, not a task's.
        record = steps.read_record(grove, n)
        if record.pop("task_branch", None) is not None:
            steps.write_record(grove, n, record)
        result = SwitchResult(n, slot.path, branch, created, st.branch, stopped=stopped)
        links, _ = converge.link_shared(grove, n)
        result.changes += links + converge.write_local(grove, n)
        synced = steps.sync(grove, n)
        result.ran += synced.ran
        result.skipped = synced.skipped
        result.ran += steps.run_commands(grove, n, grove.config.switch_run, "switch")
    return result
