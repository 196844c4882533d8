"""grove remove N [--force] [--keep-db]: delete a slot, refusing when work would be lost."""

from __future__ import annotations

from grove.lifecycle import remove
from grove.lifecycle.holders import Caller
from grove.lifecycle.remove import RemoveResult
from grove.slots import Grove


def run(grove: Grove, n: int, caller: Caller, keep_db: bool = False) -> RemoveResult:
    return remove.remove(grove, n, caller, keep_db)
