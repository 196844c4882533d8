"""grove db: status, start, stop, reset, psql, reseed and drop for the per-slot databases."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from grove import database, output, proc
from grove.commands import targets
from grove.errors import Refused
from grove.lifecycle import database as slot_database
from grove.lifecycle.holders import Caller
from grove.record import field, record
from grove.slots import Grove


@record
class StatusResult:
    rows: list[database.DbStatus]

    def as_json(self) -> dict[str, Any]:
        return {"slots": [row.as_json() for row in self.rows]}

    def as_text(self) -> str:
        rows = [
            [
                r.slot,
                "up" if r.running else ("down" if r.provisioned else "none"),
                r.mode,
                r.database,
                f"{r.host}:{r.port}",
                r.pid or "",
            ]
            for r in self.rows
        ]
        return output.table(["slot", "db", "mode", "database", "address", "pid"], rows)


def status(grove: Grove, numbers: list[int], all_slots: bool) -> StatusResult:
    database.config_of(grove)
    return StatusResult([database.status(grove, n) for n in targets(grove, numbers, all_slots)])


@record
class ActionResult:
    action: str
    slots: list[dict[str, Any]] = field(default_factory=list)
    template: dict[str, Any] | None = None

    def as_json(self) -> dict[str, Any]:
        return {"action": self.action, "slots": self.slots, "template": self.template}

    def as_text(self) -> str:
        lines = []
        if self.template is not None:
            built = "rebuilt" if self.template["built"] else "up to date"
            lines.append(f"template {built} ({self.template['seconds']}s)")
        for row in self.slots:
            lines.append(f"slot {row['slot']}: {row['result']}")
        return "\n".join(lines)


def start(
    grove: Grove, numbers: list[int], all_slots: bool, allow_unapproved: bool = False
) -> ActionResult:
    database.config_of(grove)
    result = ActionResult("start")
    for n in targets(grove, numbers, all_slots):
        result.slots.append(slot_database.start(grove, n, allow_unapproved))
    return result


def stop(grove: Grove, numbers: list[int], all_slots: bool) -> ActionResult:
    database.config_of(grove)
    result = ActionResult("stop")
    for n in targets(grove, numbers, all_slots):
        stopped = database.stop(grove, n)
        result.slots.append(
            {"slot": n, "result": "stopped" if stopped else "not running", "changed": stopped}
        )
    return result


def reset(grove: Grove, n: int, caller: Caller, allow_unapproved: bool = False) -> ActionResult:
    database.config_of(grove)
    row, template = slot_database.reset(grove, n, caller, allow_unapproved)
    return ActionResult("reset", [row], template)


def reseed(grove: Grove, allow_unapproved: bool = False) -> ActionResult:
    database.config_of(grove)
    template = slot_database.reseed(grove, allow_unapproved)
    return ActionResult("reseed", [], template.as_json())


def drop(grove: Grove, n: int, yes: bool) -> ActionResult:
    database.config_of(grove)
    if not yes:
        what = "main's database" if n == 0 else f"slot {n}'s database"
        raise Refused(
            f"dropping {what} deletes its data for good",
            hint=f"`grove db drop {n} --yes` if you mean it",
        )
    dropped = slot_database.drop(grove, n)
    return ActionResult(
        "drop", [{"slot": n, "result": "dropped" if dropped else "no database", "changed": dropped}]
    )


def psql(grove: Grove, n: int | None, args: list[str]) -> None:
    """Become psql connected to slot n's database (exec: signals and exit code are psql's)."""
    n = grove.resolve_slot(n)
    argv, env = database.psql_command(grove, n, args)
    if not database.status(grove, n).running:
        raise Refused(f"slot {n}'s database is not running", hint=f"`grove db start {n}`")
    import shutil

    program = shutil.which(argv[0], path=env.get("PATH")) or argv[0]
    proc.replace_process(program, argv, env, Path.cwd())
