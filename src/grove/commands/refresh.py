"""grove refresh [N... | --all] [--dry-run]: converge slots (idempotent)."""

from __future__ import annotations

from grove.lifecycle import refresh
from grove.lifecycle.refresh import RefreshResult
from grove.slots import Grove


def run(
    grove: Grove,
    numbers: list[int],
    all_slots: bool,
    dry_run: bool,
    allow_unapproved: bool = False,
) -> RefreshResult:
    return refresh.refresh(grove, numbers, all_slots, dry_run, allow_unapproved)
