"""Adopted slots: worktrees grove did not create, recorded by path.

Sibling slots are found by their folder name and need no record. A worktree made by another
tool (Cursor makes its own under ~/.cursor/worktrees) can still get a slot's runtime with
`grove take --here`: its slot number is recorded here, under git's common dir, so every
command maps that path to that number. Written only under the grove lock.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from grove import fsio

FILE = "registry.json"


def _path(state_dir: Path) -> Path:
    return state_dir / FILE


def read_entries(state_dir: Path) -> dict[int, dict[str, Any]]:
    """Slot number -> {"path", "label", "since"}; a damaged file reads as empty."""
    try:
        data = json.loads(_path(state_dir).read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError, UnicodeDecodeError):
        return {}
    slots = data.get("adopted") if isinstance(data, dict) else None
    if not isinstance(slots, dict):
        return {}
    entries: dict[int, dict[str, Any]] = {}
    for key, entry in slots.items():
        if str(key).isdigit() and isinstance(entry, dict) and isinstance(entry.get("path"), str):
            entries[int(key)] = entry
    return entries


def read(state_dir: Path) -> dict[int, Path]:
    return {n: Path(entry["path"]) for n, entry in read_entries(state_dir).items()}


def _write(state_dir: Path, entries: dict[int, dict[str, Any]]) -> None:
    body = {"adopted": {str(n): entries[n] for n in sorted(entries)}}
    fsio.write_atomic(_path(state_dir), json.dumps(body, indent=2) + "\n")


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
