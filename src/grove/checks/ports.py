"""The port table: duplicates, range, and listeners that belong to another slot."""

from __future__ import annotations

from pathlib import Path

from grove.checks import Finding, error, warning
from grove.ports import Listener
from grove.slots import Grove


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
    grove: Grove, slots: list[int], listening: dict[int, list[Listener]]
) -> list[Finding]:
    """A slot's port held by a process whose working directory is not in that slot."""
    findings: list[Finding] = []
    for n in slots:
        # A slot's processes run in its folder; its PostgreSQL runs in its data directory.
        own = [grove.slot_path(n).resolve(), (grove.state_dir / "pg" / f"slot-{n}").resolve()]
        for name, port in grove.config.ports_for(n).items():
            for holder in listening.get(port, []):
                if holder.cwd is not None and any(Path(holder.cwd).is_relative_to(d) for d in own):
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
                        f"{name}={port} is held by pid {holder.pid} ({holder.program}) running in "
                        f"{holder.cwd}, not in slot {n}",
                        f"stop pid {holder.pid}, or it will answer for slot {n}",
                    )
                )
    return findings
