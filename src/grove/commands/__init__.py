"""One module per verb: run(...) -> a result object; none of them prints."""

from __future__ import annotations

from grove.errors import UsageError
from grove.slots import Grove, Slot, discover


def targets(grove: Grove, numbers: list[int], all_slots: bool) -> list[int]:
    """The slots a command acts on: --all, the numbers given, else the current one."""
    if all_slots:
        return [s.n for s in discover(grove).slots if s.registered and s.exists]
    if numbers:
        return sorted(set(numbers))
    return [grove.resolve_slot(None)]


def existing_slot(grove: Grove, n: int) -> Slot:
    """Slot n as a registered worktree with its folder present, or a usage error."""
    for slot in discover(grove).slots:
        if slot.n == n:
            if not slot.registered:
                raise UsageError(
                    f"{slot.path} is not a registered worktree",
                    hint="`grove validate` explains what is wrong with it",
                )
            if not slot.exists:
                raise UsageError(
                    f"slot {n}'s folder {slot.path} is gone",
                    hint=f"`git worktree prune`, then `grove create {n}`",
                )
            return slot
    raise UsageError(
        f"slot {n} does not exist", hint="`grove list` shows the slots; `grove create` adds one"
    )
