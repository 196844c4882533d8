"""What runs in a slot stops before a command takes the slot from under it (release --reset,
remove, switch). Its services are stopped. Any other process of the slot (one listening on
its ports or working in its folder, see grove.processes) refuses the command, naming it,
unless --force, which ends it the way `grove down` ends a service.

A server left running would keep the slot's port (the next task's server fails with
EADDRINUSE) or answer from a deleted folder; so the command refuses rather than leave it.
"""

from __future__ import annotations

import os
from typing import Any

from grove import output, proc, processes
from grove.errors import GroveError, Refused
from grove.lifecycle import services
from grove.lifecycle.holders import Caller
from grove.processes import SlotProcess
from grove.record import field, record
from grove.slots import Grove
from grove.state import leases

LISTED = 5  # processes named in a refusal's message; details list them all


@record
class Stopped:
    services: list[str] = field(default_factory=list)  # the services that were running
    ended: list[SlotProcess] = field(default_factory=list)  # ended by --force

    def as_json(self) -> dict[str, Any]:
        return {
            "stopped": self.services,
            "ended": [
                {"pid": p.pid, "command": p.command, "reasons": p.reasons} for p in self.ended
            ],
        }

    def lines(self) -> list[str]:
        lines = [f"--force ended pid {p.pid} ({p.command})" for p in self.ended]
        if self.services:
            lines.append("stopped services: " + ", ".join(self.services))
        return lines


def check(
    grove: Grove, n: int, caller: Caller, *, action: str, retry: str, also: str = ""
) -> list[SlotProcess]:
    """Slot n's processes other than its services; Refused when there are any and the caller
    has no --force. `also` says what else that --force does, so the hint misleads no one.
    Callers hold slot n's lock, so no `grove up` starts one meanwhile."""
    found = processes.scan(grove, [n]).of(n)
    if found and not caller.force:
        listed = "; ".join(p.describe() for p in found[:LISTED])
        more = f"; and {len(found) - LISTED} more" if len(found) > LISTED else ""
        raise Refused(
            f"slot {n} has processes that are not its services, and {action} would leave them "
            f"running: {listed}{more}",
            hint=f"stop them (start servers with `grove up` and grove stops them for you), or "
            f"`{retry} --force` to end them" + (f" ({also})" if also else ""),
            details={"slot": n, "processes": [p.as_json() for p in found]},
        )
    return found


def stop(grove: Grove, n: int, found: list[SlotProcess]) -> Stopped:
    """End what check found (with --force), then stop the services. Callers hold slot n's
    lock (services take it again: it is re-entrant)."""
    _refuse_own_group(found)
    ended: list[SlotProcess] = []
    # Group leaders first: ending one ends its members, which then count as ended.
    for found_one in sorted(found, key=lambda p: processes.group_of(p.pid) != p.pid):
        output.narrate(f"slot {n}: ending pid {found_one.pid} ({found_one.command})")
        if not proc.end_process_group(found_one.pid):
            raise GroveError(
                f"slot {n}: pid {found_one.pid} ({found_one.command}) did not end after SIGKILL",
                hint="it may be stuck in the kernel, or belong to another user; check `ps`",
                details={"slot": n, "pid": found_one.pid},
            )
        ended.append(found_one)
    return Stopped(services.stop_all(grove, n), ended)


def _refuse_own_group(found: list[SlotProcess]) -> None:
    """Ending a process that leads a group signals the whole group. proc signals only the
    pid when that group is grove's own; this also spares a group that an ancestor of grove is
    in (a shell that runs grove, reparented away from the leader): ending it would end the
    command midway."""
    if not found:
        return
    ancestors = {processes.group_of(pid) for pid in leases.caller_pids()} - {os.getpgrp()}
    for found_one in found:
        if processes.group_of(found_one.pid) == found_one.pid and found_one.pid in ancestors:
            raise Refused(
                f"pid {found_one.pid} ({found_one.command}) leads the process group this grove "
                "command runs in; ending it would end grove too",
                hint=f"stop pid {found_one.pid} yourself, then run the command again",
                details={"pid": found_one.pid},
            )
