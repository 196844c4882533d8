"""grove release [N] [--stale] [--reset [--from REF]] [--label L | --pid P] [--force]."""

from __future__ import annotations

from grove.lifecycle import release
from grove.lifecycle.holders import Caller
from grove.lifecycle.release import ReleaseResult
from grove.slots import Grove


def run(
    grove: Grove,
    n: int | None,
    *,
    stale_only: bool,
    reset: bool,
    start: str | None,
    caller: Caller,
    allow_unapproved: bool = False,
) -> ReleaseResult:
    return release.release(
        grove,
        n,
        stale_only,
        reset=reset,
        start=start,
        caller=caller,
        allow_unapproved=allow_unapproved,
    )
