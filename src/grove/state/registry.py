"""Adopted slots: worktrees grove did not create, recorded by path.

Sibling slots are found by their folder name and need no record. A worktree made by another
tool (Cursor makes its own under ~/.cursor/worktrees) can still get a slot's runtime with
`grove take --here`: its slot number is recorded here, under git's common dir, so every
command maps that path to that number. Written only under the grove lock.
"""

from __future__ import annotations

import time
from pathlib import Path

from grove.state import store

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing
if TYPE_CHECKING:
    from typing import Any

FILE = "registry.json"


def _path(state_dir: Path) -> Path:
    return state_dir / FILE


def _repair(state_dir: Path) -> str:
    return (
        f"it only maps adopted worktrees to slot numbers: fix {_path(state_dir)}, or delete it "
        "and run `grove take --here` again in each adopted worktree"
    )


def _parse(data: Any) -> dict[int, dict[str, Any]]:
    slots = data.get("adopted") if isinstance(data, dict) else None
    if not isinstance(slots, dict):
        raise TypeError('expected an object with an "adopted" table')
    entries: dict[int, dict[str, Any]] = {}
    for key, entry in slots.items():
        well_formed = isinstance(entry, dict) and isinstance(entry.get("path"), str)
        if not (str(key).isdigit() and well_formed and "\0" not in entry["path"]):
            raise ValueError(f'adopted.{key}: expected a slot number with a "path" string')
        entries[int(key)] = entry
    return entries


def read_entries(state_dir: Path) -> dict[int, dict[str, Any]]:
    """Slot number -> {"path", "label", "since"}. A damaged file is an error for every
    command, never read as empty: a write after that would lose every adopted slot."""
    entries = store.read_record(_path(state_dir), _repair(state_dir), _parse)
    return entries or {}


def read(state_dir: Path) -> dict[int, Path]:
    return {n: Path(entry["path"]) for n, entry in read_entries(state_dir).items()}


def _write(state_dir: Path, entries: dict[int, dict[str, Any]]) -> None:
    store.write_json(_path(state_dir), {"adopted": {str(n): entries[n] for n in sorted(entries)}})


def record(state_dir: Path, n: int, path: Path, label: str) -> None:
    """Callers hold the grove lock."""
    entries = read_entries(state_dir)
    entries[n] = {"path": str(path), "label": label, "since": time.time()}
    _write(state_dir, entries)


def forget(state_dir: Path, n: int) -> bool:
    """Callers hold the grove lock."""
    entries = read_entries(state_dir)
    if entries.pop(n, None) is None:
        return False
    _write(state_dir, entries)
    return True
