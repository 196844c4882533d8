"""The machine-wide record of which ports each grove repository uses.

Every repository's slots take ports from a formula, and two projects on one machine would
otherwise both take 3000 + N. The record lives in the user's state folder
(`$XDG_STATE_HOME/grove/ports.json`, by default `~/.local/state/grove/`), keyed by the
repository's git common dir. `create` and `refresh` write this repository's ports, `init`
picks bases no other project uses, and `validate` names the project that holds a clashing
port. A project whose folder is gone no longer counts.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from grove import fsio
from grove.record import record
from grove.state import store

LOCK_TIMEOUT = 30.0


def state_file() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "grove" / "ports.json"


@record(frozen=True)
class Project:
    key: str  # the repository's git common dir
    main: str
    ports: tuple[int, ...]

    @property
    def name(self) -> str:
        return Path(self.main).name


def _repair() -> str:
    return f"delete {state_file()}; each repository's next `grove refresh` records it again"


def _read() -> dict[str, Any]:
    data = store.read_json(state_file(), _repair())
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise store.damaged(state_file(), "expected an object", _repair())
    return data


def projects() -> list[Project]:
    """Every recorded project whose main folder still exists."""
    found = []
    for key, entry in _read().items():
        if not isinstance(entry, dict) or not Path(str(entry.get("main", ""))).is_dir():
            continue
        ports = entry.get("ports", [])
        if isinstance(ports, list):
            found.append(
                Project(key, str(entry["main"]), tuple(p for p in ports if isinstance(p, int)))
            )
    return found


def others(common_dir: Path) -> list[Project]:
    key = str(common_dir.resolve())
    return [project for project in projects() if project.key != key]


def record_ports(common_dir: Path, main: Path, ports: list[int]) -> bool:
    """Write this repository's ports; False when the record already said so."""
    key = str(common_dir.resolve())
    path = state_file()
    with fsio.exclusive_lock(path.with_suffix(".lock"), LOCK_TIMEOUT, "recording ports"):
        data = _read()
        entry = data.get(key)
        wanted = sorted(set(ports))
        if (
            isinstance(entry, dict)
            and entry.get("ports") == wanted
            and entry.get("main") == str(main)
        ):
            return False
        # Projects whose folder is gone are dropped on the way: their ports are free again.
        data = {
            k: v
            for k, v in data.items()
            if isinstance(v, dict) and Path(str(v.get("main", ""))).is_dir()
        }
        data[key] = {"main": str(main), "ports": wanted, "at": time.time()}
        store.write_json(path, data)
    return True


def holder(port: int, projects_: list[Project]) -> Project | None:
    return next((project for project in projects_ if port in project.ports), None)
