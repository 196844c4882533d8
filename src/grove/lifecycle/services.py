"""A slot's services: long-running commands (`[services]`) started in the background with
the slot's environment, waited for on their port, stopped as a whole process group.

Every start and stop runs under the slot's lock and decides from the record it reads there,
so two `grove up` at once start a service once, and a `down` never races an `up`.
"""

from __future__ import annotations

import time

from grove import fsio, output, proc
from grove.config import ServiceSpec
from grove.errors import GroveError, Refused, UsageError
from grove.lifecycle.locks import slot_lock
from grove.record import field, record
from grove.slots import Grove, existing_slot
from grove.state import services as records

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing
if TYPE_CHECKING:
    from typing import Any

LOG_TAIL = 20


class ServiceFailed(GroveError):
    code = "service-failed"


@record
class ServiceState:
    slot: int
    name: str
    state: str  # up | down | crashed | starting
    port: int | None
    pid: int | None = None
    exit_code: int | None = None
    changed: bool = False  # this command started or stopped it
    command: str = ""
    log: str = ""

    @property
    def url(self) -> str | None:
        return f"http://127.0.0.1:{self.port}" if self.port is not None else None

    def as_json(self) -> dict[str, Any]:
        return {
            "slot": self.slot,
            "name": self.name,
            "state": self.state,
            "port": self.port,
            "url": self.url,
            "pid": self.pid,
            "exit_code": self.exit_code,
            "changed": self.changed,
            "command": self.command,
            "log": self.log,
        }

    def summary(self) -> str:
        if self.state == "crashed" and self.exit_code is not None:
            return f"{self.name}: crashed (exit {self.exit_code})"
        return f"{self.name}: {self.state}"


@record
class ServicesResult:
    action: str
    services: list[ServiceState] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {"action": self.action, "services": [s.as_json() for s in self.services]}

    def as_text(self) -> str:
        if not self.services:
            return "no services: add them under [services] in grove.toml"
        rows = []
        for s in self.services:
            if self.action == "up":
                what = "started" if s.changed else "already up"
            elif self.action == "down":
                what = "stopped" if s.changed else "was not running"
            else:
                what = s.state if s.exit_code is None else f"{s.state} (exit {s.exit_code})"
            rows.append([f"slot {s.slot}", s.name, what, s.url or "-", s.pid or "-"])
        return output.table(["slot", "service", "state", "url", "pid"], rows)


def specs(grove: Grove, names: list[str] | None) -> list[ServiceSpec]:
    """The named services (all when none are named); an unknown name is a usage error."""
    known = {spec.name: spec for spec in grove.config.services}
    if not names:
        return list(known.values())
    unknown = [name for name in names if name not in known]
    if unknown:
        listed = ", ".join(known) or "none: add them under [services] in grove.toml"
        raise UsageError(f"no service named {unknown[0]!r}", hint=f"services: {listed}")
    return [known[name] for name in dict.fromkeys(names)]


def port_of(grove: Grove, n: int, spec: ServiceSpec) -> int | None:
    return grove.config.ports_for(n).get(spec.port) if spec.port else None


def state_of(grove: Grove, n: int, name: str, port: int | None) -> ServiceState:
    """up, crashed (its record stays but the process is gone) or down (no record)."""
    record = records.read(grove.state_dir, n, name)
    log = str(records.log_path(grove.state_dir, n, name))
    if record is None:
        return ServiceState(n, name, "down", port, log=log)
    if record.alive:
        return ServiceState(n, name, "up", record.port, record.pid, command=record.command, log=log)
    code = records.exit_code(grove.state_dir, n, name)
    return ServiceState(
        n, name, "crashed", record.port, record.pid, code, False, record.command, log
    )


def status(grove: Grove, n: int, names: list[str] | None = None) -> list[ServiceState]:
    """Read-only: takes no lock (a record is written whole, atomically)."""
    configured = [spec.name for spec in specs(grove, names)]
    extra = (
        []
        if names
        else [x for x in records.recorded_names(grove.state_dir, n) if x not in configured]
    )
    ports = {spec.name: port_of(grove, n, spec) for spec in grove.config.services}
    return [state_of(grove, n, name, ports.get(name)) for name in [*configured, *extra]]


def up(
    grove: Grove, n: int, names: list[str] | None, allow_unapproved: bool = False
) -> ServicesResult:
    chosen = specs(grove, names)
    result = ServicesResult("up")
    _renew_claim(grove, n)
    # All already up: nothing starts, so no approval check and no lock (the fast path an
    # agent hits on every `grove up`). Anything to start is decided again under the lock.
    current = [state_of(grove, n, spec.name, port_of(grove, n, spec)) for spec in chosen]
    if current and all(state.state == "up" for state in current):
        result.services = current
        return result
    from grove.lifecycle.gate import require_approved

    require_approved(grove, f"grove up {n}", allow_unapproved)
    existing_slot(grove, n)
    injected = _injected(grove, n) if chosen else {}  # before the lock: it may take seconds
    with slot_lock(grove, n, "grove up"):
        existing_slot(grove, n)
        for spec in chosen:
            result.services.append(_up_one(grove, n, spec, injected))
    return result


def _renew_claim(grove: Grove, n: int) -> None:
    """The holder is at work: its claim on the team's remote is renewed when due (a
    quarter of its lifetime since the last renewal), so most calls push nothing. Only a
    slot with a claim (claims.held_path) imports anything; a failure is a line on stderr."""
    if not (grove.state_dir / "claims" / f"{n}.json").exists():
        return
    from grove.lifecycle import claims

    claims.renew_slot(grove, n)


def _injected(grove: Grove, n: int) -> dict[str, str]:
    """[secrets] inject's values for the services' environment (memory only); a failing
    manager or a production value raises, and nothing starts."""
    if grove.config.security.inject is None:
        return {}
    from grove import injected

    return injected.for_slot(grove, n)


def _up_one(grove: Grove, n: int, spec: ServiceSpec, injected: dict[str, str]) -> ServiceState:
    port = port_of(grove, n, spec)
    current = state_of(grove, n, spec.name, port)
    if current.state == "up":
        return current
    if port is not None and _accepts(port):
        raise Refused(
            f"slot {n}: port {port} ({spec.port}) is already taken by another process, so "
            f"{spec.name} would fail to listen or answer for someone else",
            hint="`grove validate` names the process; stop it, then `grove up` again",
            details={"slot": n, "service": spec.name, "port": port},
        )
    command = spec.run.format_map(grove.template_fields(n))
    log = records.log_path(grove.state_dir, n, spec.name)
    status_file = records.status_path(grove.state_dir, n, spec.name)
    status_file.parent.mkdir(parents=True, exist_ok=True)
    status_file.unlink(missing_ok=True)
    from grove import slotenv

    env = {**slotenv.process_env(grove, n), **injected}
    env["GROVE_SLOT"] = str(n)
    pid = proc.start_service(command, grove.slot_path(n), env, log, status_file)
    from grove.state.leases import process_start_time

    record = records.ServiceRecord(
        n, spec.name, pid, process_start_time(pid), port, command, time.time()
    )
    records.write(grove.state_dir, record)
    output.narrate(f"slot {n}: starting {spec.name} (pid {pid})")
    _wait_ready(grove, n, spec, record)
    return ServiceState(n, spec.name, "up", port, pid, changed=True, command=command, log=str(log))


def _accepts(port: int) -> bool:
    import socket  # only a service being started is probed

    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


def _wait_ready(grove: Grove, n: int, spec: ServiceSpec, record: records.ServiceRecord) -> None:
    """Until the port accepts a connection; a service that exits or stays silent past
    ready_timeout fails with its log's last lines (and is stopped, so up can try again)."""
    if record.port is None:
        time.sleep(0.2)  # no port to wait for: only catch a command that fails at once
        if not record.alive:
            _fail(grove, n, spec=spec, record=record, what="exited at once")
        return
    deadline = time.monotonic() + spec.ready_timeout
    delay = 0.01
    while True:
        if _accepts(record.port):
            return
        if not record.alive:
            _fail(
                grove,
                n,
                spec=spec,
                record=record,
                what="exited before its port accepted connections",
            )
        if time.monotonic() >= deadline:
            proc.end_process_group(record.pid)
            records.forget(grove.state_dir, n, spec.name)
            _fail(
                grove,
                n,
                spec=spec,
                record=record,
                what=f"did not listen on port {record.port} within {spec.ready_timeout:g}s and "
                "was stopped",
                forgotten=True,
            )
        time.sleep(delay)
        delay = min(delay * 1.5, 0.1)


def _fail(
    grove: Grove,
    n: int,
    *,
    spec: ServiceSpec,
    record: records.ServiceRecord,
    what: str,
    forgotten: bool = False,
) -> None:
    tail = log_tail(grove, n, spec.name, LOG_TAIL)
    starts = [i for i, line in enumerate(tail) if line.startswith(proc.SERVICE_START_MARK)]
    tail = tail[starts[-1] + 1 :] if starts else tail  # this start's output only
    code = records.exit_code(grove.state_dir, n, spec.name)
    exit_text = f" (exit {code})" if code is not None and not forgotten else ""
    raise ServiceFailed(
        f"slot {n}: {spec.name} `{record.command}` {what}{exit_text}"
        + ("; last output:\n" + "\n".join(tail) if tail else "; it printed nothing"),
        hint=f"fix the command in [services] {spec.name}; `grove logs {n} {spec.name}` shows "
        "its whole log",
        details={"slot": n, "service": spec.name, "exit_code": code, "tail": tail},
    )


def down(grove: Grove, n: int, names: list[str] | None) -> ServicesResult:
    result = ServicesResult("down")
    with slot_lock(grove, n, "grove down"):
        wanted = (
            [s.name for s in specs(grove, names)]
            if names
            else list(
                dict.fromkeys(
                    [
                        *(s.name for s in grove.config.services),
                        *records.recorded_names(grove.state_dir, n),
                    ]
                )
            )
        )
        for name in wanted:
            result.services.append(_down_one(grove, n, name))
    return result


def _down_one(grove: Grove, n: int, name: str) -> ServiceState:
    record = records.read(grove.state_dir, n, name)
    log = str(records.log_path(grove.state_dir, n, name))
    if record is None:
        return ServiceState(n, name, "down", None, log=log)
    was_up = record.alive
    if was_up and not proc.end_process_group(record.pid):
        raise ServiceFailed(
            f"slot {n}: {name} (pid {record.pid}) did not end after SIGKILL",
            hint="it may be stuck in the kernel; check `ps` for its process group",
        )
    records.forget(grove.state_dir, n, name)
    return ServiceState(n, name, "down", record.port, record.pid, changed=was_up, log=log)


# For the other lifecycle steps (release --reset, remove, switch) and process inspection.


def stop_all(grove: Grove, n: int) -> list[str]:
    """Stop every service of slot n; the names that were running."""
    return [s.name for s in down(grove, n, None).services if s.changed]


def start(grove: Grove, n: int, names: list[str]) -> None:
    """Start these services again (after a reset), waiting for their ports. The approval
    check was made by the command that stopped them."""
    known = {spec.name for spec in grove.config.services}
    chosen = specs(grove, [name for name in names if name in known])
    injected = _injected(grove, n) if chosen else {}
    with slot_lock(grove, n, "restarting services"):
        for spec in chosen:
            _up_one(grove, n, spec, injected)


def log_tail(grove: Grove, n: int, name: str, lines: int) -> list[str]:
    """The last lines of a service's log (the rotated file too when the current one is
    short), each cut to a bounded length; the file is read from its end, never whole."""
    log = records.log_path(grove.state_dir, n, name)
    chunks: list[bytes] = []
    for path in (log, log.with_name(log.name + ".1")):
        data = fsio.read_end(path, lines * 1024)
        chunks.insert(0, data)
        if data.count(b"\n") > lines:
            break
    text = b"".join(chunks).decode("utf-8", errors="replace")
    return [line[:500] for line in text.splitlines()[-lines:]]
