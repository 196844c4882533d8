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
from grove.errors import ConfigError

FILE = "registry.json"


class Damaged(Exception):
    """The registry file exists but does not read as one."""


def _path(state_dir: Path) -> Path:
    return state_dir / FILE


def _load(state_dir: Path) -> dict[int, dict[str, Any]]:
    """Slot number -> {"path", "label", "since"}; Damaged names what is wrong."""
    try:
        data = json.loads(_path(state_dir).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise Damaged(f"not valid JSON ({exc})") from exc
    slots = data.get("adopted") if isinstance(data, dict) else None
    if not isinstance(slots, dict):
        raise Damaged('expected an object with an "adopted" table')
    entries: dict[int, dict[str, Any]] = {}
    for key, entry in slots.items():
        well_formed = isinstance(entry, dict) and isinstance(entry.get("path"), str)
        if not (str(key).isdigit() and well_formed):
            raise Damaged(f'adopted.{key}: expected a slot number with a "path" string')
        entries[int(key)] = entry
    return entries


def problem(state_dir: Path) -> str | None:
    """What is wrong with the registry file, for validate; None when it reads."""
    try:
        _load(state_dir)
    except Damaged as exc:
        return f"{_path(state_dir)}: {exc}"
    return None


def read(state_dir: Path) -> dict[int, Path]:
    """For every command: a damaged file reads as empty (validate reports it)."""
    try:
        return {n: Path(entry["path"]) for n, entry in _load(state_dir).items()}
    except Damaged:
        return {}


def read_entries(state_dir: Path) -> dict[int, dict[str, Any]]:
    """For writers: a damaged file is an error, never silently overwritten."""
    try:
        return _load(state_dir)
    except Damaged as exc:
        raise ConfigError(
            f"{_path(state_dir)}: {exc}",
            hint="it only maps adopted worktrees to slot numbers: fix it, or delete it and "
            "run `grove take --here` again in each adopted worktree",
        ) from exc


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
