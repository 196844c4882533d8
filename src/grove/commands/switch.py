"""grove switch N BRANCH [--from REF]: move a branch into an evergreen slot."""

from __future__ import annotations

from grove.lifecycle import switch
from grove.lifecycle.holders import Caller
from grove.lifecycle.switch import SwitchResult
from grove.slots import Grove


def run(
    grove: Grove,
    n: int,
    branch: str,
    start: str | None,
    caller: Caller,
    *,
    allow_unapproved: bool = False,
) -> SwitchResult:
    return switch.switch(grove, n, branch, start, caller, allow_unapproved=allow_unapproved)
