"""Ports another grove project on this machine also uses (the machine-wide record)."""

from __future__ import annotations

from grove.checks import Finding, warning
from grove.slots import Grove


def check_other_projects(grove: Grove, slots: list[int]) -> list[Finding]:
    """A port of this repository that another project's slots also take: when both run,
    one of them fails to listen (or answers for the other). Named by that project."""
    from grove.errors import DamagedState
    from grove.state import machine

    try:
        others = machine.others(grove.common_dir)
    except DamagedState as exc:
        return [warning(None, "ports.machine-record", exc.message, exc.hint)]
    findings: list[Finding] = []
    for n in slots:
        for name, port in grove.config.ports_for(n).items():
            holder = machine.holder(port, others)
            if holder is not None:
                findings.append(
                    warning(
                        n,
                        "ports.other-project",
                        f"{name}={port} is also a port of project {holder.name} ({holder.main})",
                        "move this project's [ports] bases to a range no other project uses "
                        "(`grove init --dry-run` in a fresh clone proposes free ones)",
                    )
                )
    return findings
