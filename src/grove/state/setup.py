"""Per-slot records: which setup steps have run, the digests sync compares, the branch a
task put on the slot. Each record belongs to one worktree (its identity, see
`lifecycle.identity`), not to its number: a slot removed and made again, by grove or by
hand, starts from an empty record instead of inheriting the old one's progress."""

from __future__ import annotations

from pathlib import Path

from grove.state import store

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing
if TYPE_CHECKING:
    from typing import Any


def slot_state_path(state_dir: Path, n: int) -> Path:
    return state_dir / "slots" / f"{n}.json"


def _repair(state_dir: Path, n: int) -> str:
    return (
        f"delete {slot_state_path(state_dir, n)}; `grove refresh {n}` then runs slot {n}'s "
        "setup again"
    )


def _parse(data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise TypeError("expected an object")
    done = data.get("setup_done", [])
    if not isinstance(done, list) or not all(isinstance(step, str) for step in done):
        raise ValueError("setup_done must be a list of step ids")
    for key in ("install_digest", "migrations_digest", "identity", "task_branch"):
        if data.get(key) is not None and not isinstance(data[key], str):
            raise ValueError(f"{key} must be text")
    return data


def read_slot_state(state_dir: Path, n: int, identity: str | None) -> dict[str, Any]:
    """Slot n's record; empty when there is none, or when it belongs to another worktree
    than `identity` (an earlier slot with the same number)."""
    record = store.read_record(slot_state_path(state_dir, n), _repair(state_dir, n), _parse)
    if record is None:
        return {}
    owner = record.get("identity")
    if owner is not None and owner != identity:
        return {}  # an earlier worktree's (a record with no identity predates them)
    return record


def write_slot_state(state_dir: Path, n: int, data: dict[str, Any], identity: str) -> None:
    store.write_json(slot_state_path(state_dir, n), {**data, "identity": identity})


def forget_slot(state_dir: Path, n: int) -> None:
    store.remove(slot_state_path(state_dir, n))
