"""Leases: a slot is held while a task works in it, free otherwise.

A lease is a small record under git's common dir: a label, the pid that holds it and that
process's start time, since when. Pids are reused, so a lease is alive only while a
process with that pid *and* that start time exists. Leases are written under the grove
lock by the lifecycle layer, so two takes never hand out the same slot.

A take in progress writes a lease held by its own process (`taking`): if the take is
killed, that pid is gone and the lease is stale, so it never blocks the slot.
"""

from __future__ import annotations

import time
from pathlib import Path

from grove import output
from grove.record import asdict, record
from grove.state import store

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing
if TYPE_CHECKING:
    from typing import Any

# Process start times come from /proc in clock ticks; allow for rounding.
START_TIME_TOLERANCE = 1.0


def process_start_time(pid: int) -> float | None:
    """When process pid started, or None when there is no such process. A zombie (ended,
    not yet collected by its parent) counts as gone."""
    if _BOOT_TIME is not None:
        return _linux_start_time(pid)
    import psutil

    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return None
        return float(process.create_time())
    except (psutil.Error, OSError, OverflowError, ValueError):
        return None


def _read_boot_time() -> float | None:
    """Linux's boot time, from /proc/stat (None elsewhere: psutil answers there)."""
    try:
        with Path("/proc/stat").open("rb") as handle:
            for line in handle:
                if line.startswith(b"btime "):
                    return float(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


_BOOT_TIME = _read_boot_time()
_CLOCK_TICKS = 100.0
try:
    import os as _os

    _CLOCK_TICKS = float(_os.sysconf("SC_CLK_TCK"))
except (AttributeError, ValueError, OSError):
    pass


def _linux_start_time(pid: int) -> float | None:
    """The same start time psutil reports (boot time + start ticks), read straight from
    /proc/<pid>/stat: importing psutil costs more than the whole check, and agents ask
    often (`grove up`, `grove list`)."""
    try:
        with Path(f"/proc/{int(pid)}/stat").open("rb") as handle:
            data = handle.read()
    except (OSError, ValueError):
        return None
    # The command name sits in parentheses and may hold spaces or ')': split after the last.
    fields = data[data.rfind(b")") + 2 :].split()
    if len(fields) < 20 or fields[0] == b"Z":
        return None
    assert _BOOT_TIME is not None
    return _BOOT_TIME + int(fields[19]) / _CLOCK_TICKS


def process_alive(pid: int, started: float | None) -> bool:
    now = process_start_time(pid)
    if now is None:
        return False
    return started is None or abs(now - started) <= START_TIME_TOLERANCE


def caller_pids() -> set[int]:
    """This process and its ancestors: a task that calls grove is one of them."""
    import psutil

    pids: set[int] = set()
    try:
        process: Any = psutil.Process()
        while process is not None and process.pid not in pids:
            pids.add(process.pid)
            process = process.parent()
    except psutil.Error:
        pass
    return pids


@record(frozen=True)
class Lease:
    slot: int
    label: str
    pid: int | None
    since: float
    session: str | None = None
    pid_started: float | None = None  # the holder's start time: a reused pid is not it
    taking: bool = False  # written by a take still at work; its pid is that take's

    @classmethod
    def new(cls, slot: int, label: str, pid: int | None, session: str | None = None) -> Lease:
        started = process_start_time(pid) if pid is not None else None
        return cls(slot, label, pid, time.time(), session, started)

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["since_iso"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.since))
        data["stale"] = self.stale
        return data

    @property
    def stale(self) -> bool:
        """The process that holds it is gone (a lease taken without a pid never goes stale;
        it is held until released)."""
        if self.pid is None:
            return False
        return not process_alive(self.pid, self.pid_started)

    @property
    def anonymous(self) -> bool:
        """Nothing names a holder, so any caller may end it."""
        return not self.label and self.pid is None and not self.session

    def held_by(self, label: str | None, pid: int | None) -> bool:
        """Whether a caller who says it is `label` / `pid` is this lease's holder. A caller
        running inside the holder process (an agent's shell) is it too."""
        if self.anonymous:
            return True
        if label is not None and label == self.label:
            return True
        if pid is not None and pid == self.pid:
            return True
        return self.pid is not None and self.pid in caller_pids()

    def describe(self) -> str:
        age = output.duration(time.time() - self.since)
        if self.taking:
            who = f"a take in progress, pid {self.pid}"
        else:
            who = f"pid {self.pid}" if self.pid else "no pid"
        return f"{self.label or 'unlabelled'} ({who}, {age} ago{', stale' if self.stale else ''})"


def lease_path(state_dir: Path, n: int) -> Path:
    return state_dir / "leases" / f"{n}.json"


def _repair(state_dir: Path, n: int) -> str:
    return (
        f"delete {lease_path(state_dir, n)} if nobody works in slot {n} "
        f"(or `grove release {n} --force`), then take it again"
    )


def _optional_int(value: object, key: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 1 << 31:
        raise ValueError(f"{key} must be a process id")
    return value


def _optional_float(value: object, key: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{key} must be a number")
    return float(value)


def _optional_text(value: object, key: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError(f"{key} must be text")
    return value


def reclaimable(lease: Lease | None) -> bool:
    """No lease, or one a killed take left (the task never started)."""
    return lease is None or (lease.taking and lease.stale)


def read(state_dir: Path, n: int) -> Lease | None:
    def parse(data: Any) -> Lease:
        if not isinstance(data, dict):
            raise TypeError("expected an object")
        since = _optional_float(data.get("since"), "since")
        if since is None:
            raise ValueError("since is missing")
        return Lease(
            n,
            _optional_text(data.get("label", ""), "label") or "",
            _optional_int(data.get("pid"), "pid"),
            since,
            _optional_text(data.get("session"), "session"),
            _optional_float(data.get("pid_started"), "pid_started"),
            bool(data.get("taking", False)),
        )

    return store.read_record(lease_path(state_dir, n), _repair(state_dir, n), parse)


def write(state_dir: Path, lease: Lease) -> None:
    """Callers hold the grove lock."""
    body = asdict(lease)
    del body["slot"]
    store.write_json(lease_path(state_dir, lease.slot), body)


def end(state_dir: Path, n: int) -> bool:
    """Callers hold the grove lock."""
    return store.remove(lease_path(state_dir, n))
