"""grove take [--branch B [--claim]] [--label L] [--pid P] [--here]: hand a warm slot to a
new task."""

from __future__ import annotations

from grove.lifecycle import take
from grove.lifecycle.take import TakeResult
from grove.slots import Grove


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
