"""grove create [N] [--branch B] [--from REF]: add a slot (or complete slot N)."""

from __future__ import annotations

from grove.lifecycle import create
from grove.lifecycle.create import CreateResult
from grove.slots import Grove


def run(
    grove: Grove,
    n: int | None,
    branch: str | None,
    start: str | None,
    allow_unapproved: bool = False,
) -> CreateResult:
    return create.create(grove, n, branch, start, allow_unapproved)
