"""Per-slot records under git's common dir: which setup steps have run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from grove import fsio


def slot_state_path(state_dir: Path, n: int) -> Path:
    return state_dir / "slots" / f"{n}.json"


def read_slot_state(state_dir: Path, n: int) -> dict[str, Any]:
    path = slot_state_path(state_dir, n)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def write_slot_state(state_dir: Path, n: int, data: dict[str, Any]) -> None:
    fsio.write_atomic(
        slot_state_path(state_dir, n), json.dumps(data, indent=2, sort_keys=True) + "\n"
    )


def forget_slot(state_dir: Path, n: int) -> None:
    path = slot_state_path(state_dir, n)
    if path.exists():
        path.unlink()
