"""The port table: duplicates, range, and listeners that belong to another slot."""

from __future__ import annotations

from grove import processes
from grove.checks import Finding, error, warning
from grove.errors import GroveError
from grove.ports import Listener
from grove.slots import Grove
from grove.state import leases


def check_table(grove: Grove, slots: list[int]) -> list[Finding]:
    findings: list[Finding] = []
    seen: dict[int, tuple[int, str]] = {}
    for n in slots:
        for name, port in grove.config.ports_for(n).items():
            if not 1 <= port <= 65535:
                findings.append(
                    error(n, "ports.out-of-range", f"{name}={port} is outside 1..65535")
                )
            if port in seen:
                m, other = seen[port]
                findings.append(
                    error(
                        n,
                        "ports.duplicate",
                        f"{name}={port} collides with slot {m}'s {other}",
                        "move a base in [ports] or raise the stride",
                    )
                )
            seen[port] = (n, name)
    return findings


def check_listeners(
    grove: Grove,
    slots: list[int],
    listening: dict[int, list[Listener]],
    present: list[int] | None = None,
) -> list[Finding]:
    """A slot's port held by a process that is not that slot's: an error naming it, a
    crosswire when it runs in another slot's folder (that slot's code answers on this slot's
    port). A process left in a free slot's folder (no lease) on that slot's port, not one of
    its services, is a warning: the next task's server would fail to listen.

    The ports of the other present slots are looked at for crosswires only, reported on the
    slot whose folder the process runs in: an agent validating its own slot sees them."""
    findings: list[Finding] = []
    chosen = set(slots)
    everyone = sorted(chosen | set(present or []))
    locate = processes.locator(grove, everyone)
    groups = processes.service_groups(grove, slots)
    for n in everyone:
        free = n in chosen and _free(grove, n)
        for name, port in grove.config.ports_for(n).items():
            for holder in listening.get(port, []):
                kind, home = locate(holder.cwd) if holder.cwd is not None else ("", None)
                if kind == "slot" and home is not None and home != n and holder.pid is not None:
                    if n in chosen or home in chosen:
                        where = n if n in chosen else home
                        findings.append(_crosswire(where, n, f"{name}={port}", holder, home))
                    continue
                if n not in chosen:
                    continue
                if kind in ("slot", "db") and home == n:
                    # A slot's processes run in its folder; its PostgreSQL in its data folder.
                    if kind == "slot" and free and holder.pid is not None:
                        group = processes.group_of(holder.pid)
                        if group is not None and groups.get(group) != n:
                            findings.append(_leftover(n, name, port, holder.pid))
                    continue
                if holder.pid is None:
                    findings.append(
                        warning(
                            n,
                            "ports.held-unknown",
                            f"{name}={port} is in use by a process grove cannot see "
                            "(another user's?)",
                            f"find it with `ss -ltnp 'sport = :{port}'`",
                        )
                    )
                    continue
                findings.append(
                    error(
                        n,
                        "ports.held-by-other",
                        f"{name}={port} is held by pid {holder.pid} "
                        f"({processes.command_of(holder.pid)}) running in {holder.cwd}, not in "
                        f"slot {n}",
                        f"stop pid {holder.pid}, or it will answer for slot {n}",
                    )
                )
    return findings


def _free(grove: Grove, n: int) -> bool:
    """No task holds slot n (no lease, or its holder is gone)."""
    if n == 0:
        return False  # main is a person's checkout, never handed out
    try:
        lease = leases.read(grove.state_dir, n)
    except GroveError:
        return False  # a damaged lease is reported elsewhere; no guess here
    return lease is None or lease.stale


def _crosswire(slot: int, n: int, variable: str, holder: Listener, home: int) -> Finding:
    assert holder.pid is not None
    return error(
        slot,
        "ports.crosswire",
        f"slot {n}'s {variable} is held by pid {holder.pid} "
        f"({processes.command_of(holder.pid)}), which runs in slot {home}'s folder "
        f"({holder.cwd}): slot {home}'s code answers on slot {n}'s port",
        f"it read another slot's environment: stop pid {holder.pid}, then start it with "
        f"`grove up {home}` or `grove exec {home} -- ...`",
    )


def _leftover(n: int, name: str, port: int, pid: int) -> Finding:
    return warning(
        n,
        "ports.leftover",
        f"{name}={port} is held by pid {pid} ({processes.command_of(pid)}), left running in "
        f"slot {n}'s folder although no task holds the slot",
        f"stop pid {pid}; a server meant to stay warm between tasks belongs in [services], "
        f"started with `grove up {n}`",
    )
