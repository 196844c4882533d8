"""Refresh: converge slots, each under its lock. A second run changes nothing and says so."""

from __future__ import annotations

from typing import Any

from grove import approval, converge, steps
from grove.converge import Change
from grove.lifecycle import create
from grove.lifecycle.gate import pending_notes, require_approved
from grove.lifecycle.locks import grove_lock, slot_lock
from grove.record import field, record
from grove.slots import Grove, existing_slot, targets


@record
class RefreshResult:
    slots: list[int]
    dry_run: bool
    changed: list[Change] = field(default_factory=list)
    ran: list[dict[str, Any]] = field(default_factory=list)
    pending: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "slots": self.slots,
            "dry_run": self.dry_run,
            "changed": [c.as_json() for c in self.changed],
            "ran": self.ran,
            "pending": self.pending,
            "notes": self.notes,
        }

    def as_text(self) -> str:
        verb = "would change" if self.dry_run else "changed"
        lines = [
            f"slot {c.slot}: {verb} {c.path}: {c.action} {c.detail}".rstrip() for c in self.changed
        ]
        lines += [f"slot {p['slot']}: would run {p['step']}" for p in self.pending]
        lines += [f"slot {r['slot']}: ran {r['step']}" for r in self.ran]
        lines += [f"note: {note}" for note in self.notes]
        if not self.changed and not self.pending:
            # Files were already right; [refresh] run commands may still have run.
            what = "no file to change" if self.ran else "nothing to change"
            lines.insert(
                0,
                f"{what} in slot{'s' if len(self.slots) > 1 else ''} "
                f"{', '.join(map(str, self.slots))}",
            )
        return "\n".join(lines)


def _pending_database(grove: Grove, n: int) -> list[dict[str, Any]]:
    db = grove.config.database
    if db is None:
        return []
    from grove import database

    pending: list[dict[str, Any]] = []
    state = database.status(grove, n)
    if not state.provisioned:
        pending.append({"slot": n, "step": "clone the database template"})
    elif not state.running and db.mode == "cluster":
        pending.append({"slot": n, "step": "start the database"})
    return pending


def _converge_runtime(grove: Grove, n: int) -> list[dict[str, Any]]:
    """Make sure slot n's database exists and runs; install and migrate what changed."""
    if grove.config.database is None:
        return [{"slot": n, "step": cmd, "phase": "sync"} for cmd in steps.sync(grove, n).ran]
    from grove import database

    ran: list[dict[str, Any]] = []
    database.ensure_template(grove)
    report = steps.sync(grove, n)
    provisioned = report.database or {}
    if provisioned.get("cloned"):
        ran.append({"slot": n, "step": "clone the database template", "phase": "database"})
    if provisioned.get("started"):
        ran.append({"slot": n, "step": "start the database", "phase": "database"})
    ran += [{"slot": n, "step": cmd, "phase": "sync"} for cmd in report.ran]
    return ran


def refresh(
    grove: Grove,
    numbers: list[int],
    all_slots: bool,
    dry_run: bool,
    allow_unapproved: bool = False,
) -> RefreshResult:
    slots = targets(grove, numbers, all_slots)
    for n in slots:
        existing_slot(grove, n)
    result = RefreshResult(slots=slots, dry_run=dry_run)
    if dry_run:
        result.notes += pending_notes(grove)
        result.changed += converge.ensure_ignored(grove, dry_run=True)
        result.changed += converge.protect_shared(grove, dry_run=True)
    else:
        # Before anything is written: [env.rewrite] copies shared values into every slot's
        # local file, and the steps below read the shared file.
        require_approved(grove, "grove refresh", allow_unapproved)
        with grove_lock(grove, "grove refresh"):
            result.changed += converge.ensure_ignored(grove)
            result.changed += converge.protect_shared(grove)
            create.record_machine_ports(grove)
        if approval.record_initial(grove):
            result.notes.append(
                "recorded the shared files' current state as approved "
                "(`grove env approve` after you review a change)"
            )
    for n in slots:
        if dry_run:
            _refresh_slot(grove, n, result, dry_run)
            continue
        with slot_lock(grove, n, "refresh"):
            existing_slot(grove, n)  # again under its lock: a remove may have run meanwhile
            _refresh_slot(grove, n, result, dry_run)
        _renew_claim(grove, n, result)
    return result


def _renew_claim(grove: Grove, n: int, result: RefreshResult) -> None:
    """A refresh renews the slot's claim on the team's remote (claims.held_path); a remote
    that does not answer is a note, never a failure."""
    if not (grove.state_dir / "claims" / f"{n}.json").exists():
        return  # no claim: no import, no process
    from grove.lifecycle import claims

    renewed = claims.renew_slot(grove, n, force=True)
    if renewed is not None:
        result.notes.append(
            f"slot {n}: claim on {renewed['branch']} renewed"
            if renewed["renewed"]
            else f"slot {n}: claim on {renewed['branch']} not renewed: {renewed['reason']}"
        )


def _refresh_slot(grove: Grove, n: int, result: RefreshResult, dry_run: bool) -> None:
    links, notes = converge.link_shared(grove, n, dry_run)
    result.changed += links
    result.notes += notes
    result.changed += converge.write_local(grove, n, dry_run)
    if dry_run:
        result.pending += [{"slot": n, "step": s.label} for s in steps.pending_setup(grove, n)]
        result.pending += _pending_database(grove, n)
        result.pending += [{"slot": n, "step": cmd} for cmd in steps.pending_sync(grove, n)]
        result.pending += [{"slot": n, "step": cmd} for cmd in grove.config.refresh_run]
        return
    if n != 0:
        report = steps.run_setup(grove, n)
        result.ran += [{"slot": n, "step": label, "phase": "setup"} for label in report.ran]
        result.notes += report.notes
    result.ran += _converge_runtime(grove, n)
    for cmd in steps.run_commands(grove, n, grove.config.refresh_run, "refresh"):
        result.ran.append({"slot": n, "step": cmd, "phase": "refresh"})
