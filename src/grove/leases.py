"""Leases: a slot is held while a task works in it, free otherwise.

A lease is a small record under git's common dir (label, the pid that asked, since when).
Leases are written under the grove lock, so two takes never hand out the same slot.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from grove import fsio


@dataclass(frozen=True)
class Lease:
    slot: int
    label: str
    pid: int | None
    since: float
    session: str | None = None

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["since_iso"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.since))
        data["stale"] = self.stale
        return data

    @property
    def stale(self) -> bool:
        """The pid that asked is gone (when a pid was given)."""
        if self.pid is None:
            return False
        import psutil

        return not psutil.pid_exists(self.pid)

    def describe(self) -> str:
        age = _age(time.time() - self.since)
        who = f"pid {self.pid}" if self.pid else "no pid"
        return f"{self.label or 'unlabelled'} ({who}, {age} ago{', stale' if self.stale else ''})"


def _age(seconds: float) -> str:
    if seconds < 120:
        return f"{int(seconds)}s"
    if seconds < 7200:
        return f"{int(seconds // 60)}m"
    if seconds < 172800:
        return f"{int(seconds // 3600)}h"
    return f"{int(seconds // 86400)}d"


def lease_path(state_dir: Path, n: int) -> Path:
    return state_dir / "leases" / f"{n}.json"


def read(state_dir: Path, n: int) -> Lease | None:
    try:
        data = json.loads(lease_path(state_dir, n).read_text(encoding="utf-8"))
        return Lease(
            n,
            str(data.get("label", "")),
            data.get("pid"),
            float(data["since"]),
            data.get("session"),
        )
    except (FileNotFoundError, json.JSONDecodeError, KeyError, TypeError, ValueError):
        return None


def write(state_dir: Path, lease: Lease) -> None:
    """Callers hold the grove lock."""
    body = {"label": lease.label, "pid": lease.pid, "since": lease.since, "session": lease.session}
    fsio.write_atomic(lease_path(state_dir, lease.slot), json.dumps(body, indent=2) + "\n")


def end(state_dir: Path, n: int) -> bool:
    path = lease_path(state_dir, n)
    if path.exists():
        path.unlink()
        return True
    return False
