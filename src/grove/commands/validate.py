"""grove validate: read-only health check; exit 1 when any finding is an error."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from grove import git, output, ports
from grove.checks import Finding, escapes, gitcheck, protected, services
from grove.checks import env as env_checks
from grove.checks import machine as machine_checks
from grove.checks import ports as port_checks
from grove.checks import secrets as secret_checks
from grove.record import record
from grove.slots import Grove, discover


@record
class ValidateResult:
    slots: list[int]
    findings: list[Finding]

    @property
    def errors(self) -> int:
        return sum(1 for f in self.findings if f.level == "error")

    @property
    def warnings(self) -> int:
        return sum(1 for f in self.findings if f.level == "warning")

    def as_json(self) -> dict[str, Any]:
        return {
            "ok": self.errors == 0,
            "slots": self.slots,
            "errors": self.errors,
            "warnings": self.warnings,
            "findings": [f.as_json() for f in self.findings],
        }

    def as_text(self) -> str:
        if not self.findings:
            return f"ok: {len(self.slots)} slot(s) checked, no problems"
        rows = [
            [
                "-" if f.slot is None else f.slot,
                f.level,
                f.check,
                f.message + (f"\n  hint: {f.hint}" if f.hint else ""),
            ]
            for f in self.findings
        ]
        summary = f"{self.errors} error(s), {self.warnings} warning(s)"
        return output.table(["slot", "level", "check", "message"], rows) + "\n" + summary


def run(grove: Grove, numbers: list[int], all_slots: bool) -> ValidateResult:
    layout = discover(grove)
    present = [s.n for s in layout.slots if s.registered and s.exists]
    if numbers and not all_slots:
        chosen = sorted(set(numbers))
    elif all_slots or grove.current is None or grove.current == 0:
        chosen = present
    else:
        chosen = [grove.current]
    findings: list[Finding] = []
    findings += gitcheck.check_layout(grove, layout)
    every_slot = sorted({*present, *range(grove.config.slots)})
    findings += port_checks.check_table(grove, every_slot)
    findings += machine_checks.check_other_projects(grove, every_slot)
    targets = [n for n in chosen if n in present]
    with ThreadPoolExecutor(max_workers=8) as pool:
        listening = pool.submit(ports.listeners)
        tracked = pool.submit(git.tracked, grove.main, list(grove.config.shared))
        per_slot = pool.map(lambda n: env_checks.check_slot(grove, n, tracked.result()), targets)
        for items in per_slot:
            findings += items
        for items in pool.map(lambda n: services.check_slot(grove, n), targets):
            findings += items
        findings += port_checks.check_listeners(grove, targets, listening.result(), present)
    findings += services.check_compose_projects(grove, targets)
    findings += env_checks.check_overrides(grove, targets, present)
    findings += secret_checks.check_secrets(grove, targets)
    findings += secret_checks.check_approval(grove)
    findings += secret_checks.check_protection(grove)
    findings += protected.check(grove, targets)
    findings += escapes.check(grove)
    if not chosen:
        chosen = present
    findings = [
        f for f in findings if f.slot is None or f.slot in chosen or f.check.startswith("git.")
    ]
    return ValidateResult(chosen, findings)
