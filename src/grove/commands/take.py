"""grove take [--branch B [--claim]] [--label L] [--pid P] [--here]: hand a warm slot to a
new task."""

from __future__ import annotations

from grove.lifecycle import headstart
from grove.slots import Grove

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing
if TYPE_CHECKING:
    from grove.lifecycle.take import TakeResult


def run(
    grove: Grove,
    *,
    branch: str | None,
    start: str | None,
    label: str,
    pid: int | None,
    here: bool,
    allow_unapproved: bool = False,
    claim: bool = False,
) -> TakeResult:
    claiming = branch is not None and (claim or grove.config.team is not None)
    if here or claiming:
        # A claiming take asks the team's remote first, which can take seconds: no slot's
        # lock is held early for that long. take --here takes the slot it stands in.
        headstart.end()
    else:
        headstart.begin(grove, branch, start)  # git works on the request while take loads
    try:
        from grove.lifecycle import take

        if here:
            return take.take_here(grove, label=label, pid=pid, allow_unapproved=allow_unapproved)
        return take.take(
            grove,
            branch=branch,
            start=start,
            label=label,
            pid=pid,
            allow_unapproved=allow_unapproved,
            claim=claim,
        )
    finally:
        headstart.end()
