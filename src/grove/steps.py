"""Setup, refresh and switch steps, with setup progress recorded per slot.

Setup steps are recorded one by one as they finish, so a slot whose setup failed halfway
is completed (not restarted) by `grove refresh N` or `grove create N`.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field

from grove import converge, fsio, output, proc, state
from grove.errors import StepFailed
from grove.slots import Grove


@dataclass(frozen=True)
class Step:
    id: str
    kind: str  # "copy" or "run"
    label: str


@dataclass
class StepsReport:
    ran: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def setup_steps(grove: Grove) -> list[Step]:
    steps = [Step(f"copy:{path}", "copy", path) for path in grove.config.setup_copy]
    for i, command in enumerate(grove.config.setup_run):
        digest = hashlib.sha256(command.encode()).hexdigest()[:12]
        steps.append(Step(f"run:{i}:{digest}", "run", command))
    return steps


def pending_setup(grove: Grove, n: int) -> list[Step]:
    done = set(state.read_slot_state(grove.state_dir, n).get("setup_done", []))
    return [step for step in setup_steps(grove) if step.id not in done]


def setup_complete(grove: Grove, n: int) -> bool:
    return n == 0 or not pending_setup(grove, n)


def run_setup(grove: Grove, n: int) -> StepsReport:
    """Run the setup steps slot n has not finished yet, recording each as it completes."""
    report = StepsReport()
    record = state.read_slot_state(grove.state_dir, n)
    done: list[str] = list(record.get("setup_done", []))
    steps = setup_steps(grove)
    for index, step in enumerate(steps, 1):
        if step.id in done:
            report.skipped.append(step.label)
            continue
        output.narrate(f"[{index}/{len(steps)}] {step.kind} {step.label}")
        if step.kind == "copy":
            _copy_from_main(grove, n, step.label, report)
        else:
            _run(grove, n, step.label, "setup")
        report.ran.append(step.label)
        done.append(step.id)
        record["setup_done"] = done
        record["setup_updated"] = time.time()
        state.write_slot_state(grove.state_dir, n, record)
    return report


def _copy_from_main(grove: Grove, n: int, relative: str, report: StepsReport) -> None:
    source = grove.main / relative
    if not source.exists():
        report.notes.append(f"[setup] copy: {relative} does not exist in main; nothing copied")
        return
    method = fsio.copy_tree(source, grove.slot_path(n) / relative)
    if method == "exists":
        report.notes.append(f"[setup] copy: {relative} already exists in slot {n}; kept")


def _run(grove: Grove, n: int, command: str, phase: str) -> None:
    outcome = proc.run_shell_step(command, grove.slot_path(n), converge.process_env(grove, n))
    if outcome.returncode != 0:
        tail = "\n".join(outcome.tail[-10:])
        raise StepFailed(
            f"[{phase}] `{command}` exited with {outcome.returncode} in slot {n}"
            + (f"; last output:\n{tail}" if tail else ""),
            hint=f"fix the command, then `grove refresh {n}` runs the remaining steps",
            details={
                "slot": n,
                "command": command,
                "returncode": outcome.returncode,
                "tail": outcome.tail,
            },
        )


def run_commands(grove: Grove, n: int, commands: tuple[str, ...], phase: str) -> list[str]:
    """Run [refresh] or [switch] commands in slot n; they are not recorded, they re-run."""
    for index, command in enumerate(commands, 1):
        output.narrate(f"[{phase} {index}/{len(commands)}] {command}")
        _run(grove, n, command, phase)
    return list(commands)
