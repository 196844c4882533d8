"""Where a slot's services are recorded: one small file per running service, kept under
git's common dir with the service's log beside it.

A service is known by its supervisor's pid and that process's start time, so a pid the
system reused for another program is never taken for the service.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from grove import fsio
from grove.record import asdict, record
from grove.state import store
from grove.state.leases import process_alive

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing
if TYPE_CHECKING:
    from typing import Any


def folder(state_dir: Path, n: int) -> Path:
    return state_dir / "services" / str(n)


def record_path(state_dir: Path, n: int, name: str) -> Path:
    return folder(state_dir, n) / f"{name}.json"


def status_path(state_dir: Path, n: int, name: str) -> Path:
    """Written by the supervisor when the command ends: its exit code."""
    return folder(state_dir, n) / f"{name}.exit.json"


def log_path(state_dir: Path, n: int, name: str) -> Path:
    return state_dir / "logs" / str(n) / f"{name}.log"


@record(frozen=True)
class ServiceRecord:
    slot: int
    name: str
    pid: int  # the supervisor's: it leads the service's session and process group
    pid_started: float | None
    port: int | None
    command: str
    started: float

    @property
    def alive(self) -> bool:
        return process_alive(self.pid, self.pid_started)

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def _repair(state_dir: Path, n: int, name: str) -> str:
    return f"delete {record_path(state_dir, n, name)}; `grove up {n} {name}` starts it again"


def _parse(data: Any) -> ServiceRecord:
    if not isinstance(data, dict):
        raise TypeError("expected an object")
    pid, port, started = data.get("pid"), data.get("port"), data.get("pid_started")
    if not isinstance(pid, int) or pid <= 0:
        raise ValueError("pid is not a positive number")
    if port is not None and not isinstance(port, int):
        raise ValueError("port is not a number")
    if started is not None and not isinstance(started, int | float):
        raise ValueError("pid_started is not a time")
    return ServiceRecord(
        slot=int(data.get("slot", -1)),
        name=str(data.get("name", "")),
        pid=pid,
        pid_started=float(started) if started is not None else None,
        port=port,
        command=str(data.get("command", "")),
        started=float(data.get("started", 0.0)),
    )


def read(state_dir: Path, n: int, name: str) -> ServiceRecord | None:
    return store.read_record(record_path(state_dir, n, name), _repair(state_dir, n, name), _parse)


def write(state_dir: Path, record: ServiceRecord) -> None:
    status_path(state_dir, record.slot, record.name).unlink(missing_ok=True)
    store.write_json(record_path(state_dir, record.slot, record.name), record.as_json())


def forget(state_dir: Path, n: int, name: str) -> None:
    store.remove(record_path(state_dir, n, name))
    status_path(state_dir, n, name).unlink(missing_ok=True)


def recorded_names(state_dir: Path, n: int) -> list[str]:
    """Names with a record in slot n (running or crashed), including services no longer in
    the config, so nothing started earlier is ever lost track of."""
    where = folder(state_dir, n)
    if not where.is_dir():
        return []
    return sorted(
        p.name[: -len(".json")]
        for p in where.iterdir()
        if p.name.endswith(".json") and not p.name.endswith(".exit.json")
    )


def exit_code(state_dir: Path, n: int, name: str) -> int | None:
    """How a service that ended by itself exited, when its supervisor recorded it."""
    try:
        path = status_path(state_dir, n, name)
        data = json.loads(fsio.read_regular(path, store.MAX_RECORD_BYTES, follow=False))
    except (OSError, ValueError):
        return None
    code = data.get("exit") if isinstance(data, dict) else None
    return code if isinstance(code, int) else None


def now() -> float:
    return time.time()
