"""grove env approve and grove secrets pull: keep the shared file known and dev-only."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from grove import approval, envfile, fsio, output, proc, secretscan
from grove.errors import ConfigError, Refused, StepFailed, UsageError
from grove.lifecycle.gate import require_approved
from grove.record import field, record
from grove.slots import Grove


@record
class ApproveResult:
    files: dict[str, dict[str, Any]]
    changes: list[approval.Drift]

    def as_json(self) -> dict[str, Any]:
        return {
            "approved": [
                {"file": name, "exists": info["digest"] is not None, "keys": len(info["keys"])}
                for name, info in self.files.items()
            ],
            "changes": [c.as_json() for c in self.changes],
        }

    def as_text(self) -> str:
        lines = [change.summary() for change in self.changes]
        for name, info in self.files.items():
            state = f"{len(info['keys'])} keys" if info["digest"] else "missing"
            lines.append(f"approved {name} ({state})")
        return "\n".join(lines)


def approve(grove: Grove) -> ApproveResult:
    """Record the shared files as reviewed. It also repairs a lost key and migrates an old
    unkeyed record (the changes it lists are then computed the old way)."""
    record = approval.read(grove)
    try:
        changes = approval.drift(grove, record) if record else []
    except approval.KeyLost:
        changes = []  # nothing to compare with; approving makes a new key
    return ApproveResult(approval.approve(grove), changes)


def _change_of(grove: Grove, name: str) -> approval.Drift | None:
    """What changed in one shared file since its approval, before it is approved again."""
    record = approval.read(grove)
    if record is None:
        return None
    try:
        return next((d for d in approval.drift(grove, record) if d.file == name), None)
    except approval.KeyLost:
        return None


@record
class PullResult:
    file: Path
    backup: Path | None
    keys: int
    change: approval.Drift | None
    warnings: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "file": str(self.file),
            "backup": str(self.backup) if self.backup else None,
            "keys": self.keys,
            "change": self.change.as_json() if self.change else None,
            "warnings": self.warnings,
        }

    def as_text(self) -> str:
        lines = [f"wrote {self.file} ({self.keys} keys, mode 0600); approved"]
        if self.backup:
            lines.append(f"previous file kept as {self.backup.name}")
        if self.change:
            lines.append(self.change.summary())
        lines += [f"warning: {w}" for w in self.warnings]
        return "\n".join(lines)


def _parse_or_refuse(text: str, command: str) -> int:
    keys = 0
    for binding in envfile.parse_stream(text):
        if binding.error:
            raise StepFailed(
                f"`{command}` printed a line that is not KEY=value "
                f"(line {binding.original.line}); nothing was changed",
                hint="make the command print dotenv format (e.g. --format env)",
            )
        if binding.key is not None:
            keys += 1
    if keys == 0:
        raise StepFailed(
            f"`{command}` printed no KEY=value lines; nothing was changed",
            hint="check the command's output format and its login",
        )
    return keys


def pull(grove: Grove, allow_unapproved: bool = False) -> PullResult:
    security = grove.config.security
    if security.pull is None:
        raise ConfigError(
            f"{grove.config.path or grove.main / 'grove.toml'}: [secrets] pull is not set",
            hint='e.g. [secrets] pull = "doppler secrets download --no-file --format env"',
        )
    # A pull replaces the file and approves it: an unreviewed change would vanish unseen.
    require_approved(grove, "grove secrets pull", allow_unapproved)
    name = security.pull_file or grove.config.shared[0]
    target = grove.main / name
    output.narrate(f"running {security.pull}")
    result = proc.run(["/bin/sh", "-c", security.pull], cwd=grove.main)
    if result.returncode != 0:
        tail = " | ".join(result.stderr.strip().splitlines()[-3:])
        raise StepFailed(
            f"`{security.pull}` exited with {result.returncode}; nothing was changed"
            + (f": {tail}" if tail else ""),
            hint="check that the secret manager's CLI is installed and logged in",
        )
    text = result.stdout if result.stdout.endswith("\n") else result.stdout + "\n"
    keys = _parse_or_refuse(text, security.pull)
    hits = secretscan.scan_text(text, target, security.allow, security.production_aws_accounts)
    blocking = [h for h in hits if h.level == secretscan.ERROR]
    if blocking:
        listed = "; ".join(h.named() for h in blocking)
        raise Refused(
            f"the pulled values include production secrets, so nothing was written: {listed}",
            hint="pull from the dev/staging config of your secret manager; the shared file "
            "reaches every slot",
            details={"findings": [h.as_finding() for h in blocking]},
        )
    backup = None
    if target.exists():
        backup = fsio.backup_path(target)
        shutil.copy2(target, backup)
    fsio.write_atomic(target, text, mode=0o400 if grove.config.protect else 0o600)
    change = _change_of(grove, name)
    approval.approve(grove, only=name)  # the pulled file; another one's change stays unapproved
    warnings = [h.named() for h in hits]
    return PullResult(target, backup, keys, change, warnings)


@record
class EditResult:
    file: Path
    change: approval.Drift | None
    protected: bool

    def as_json(self) -> dict[str, Any]:
        return {
            "file": str(self.file),
            "change": self.change.as_json() if self.change else None,
            "protected": self.protected,
            "approved": True,
        }

    def as_text(self) -> str:
        lines = [self.change.summary() if self.change else f"{self.file.name} unchanged"]
        lines.append("approved" + ("; read-only again" if self.protected else ""))
        return "\n".join(lines)


def edit(grove: Grove, name: str | None) -> EditResult:
    """Open main's shared file in $VISUAL/$EDITOR with its protection lifted, then put the
    protection back and approve what you saved (you reviewed it: you wrote it)."""
    import os
    import shlex

    chosen = name or grove.config.shared[0]
    if chosen not in grove.config.shared:
        raise UsageError(
            f"{chosen} is not a shared file", hint=f"shared files: {', '.join(grove.config.shared)}"
        )
    target = grove.main / chosen
    editor = os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi"
    mode = target.stat().st_mode & 0o7777 if target.exists() else 0o600
    if target.exists():
        target.chmod(mode | 0o200)
    try:
        returncode = proc.run_interactive([*shlex.split(editor), str(target)])
    finally:
        if target.exists() and grove.config.protect:
            target.chmod(target.stat().st_mode & ~0o222 & 0o7777)
        elif target.exists():
            target.chmod(mode | 0o200 if mode & 0o200 else mode)
    if returncode != 0:
        raise StepFailed(f"{editor} exited with {returncode}; nothing was approved")
    change = _change_of(grove, chosen)
    approval.approve(grove, only=chosen)  # what you saved; another file's change is not yours
    return EditResult(target, change, grove.config.protect)


def _require_inject(grove: Grove) -> None:
    if grove.config.security.inject is None:
        raise ConfigError(
            f"{grove.config.path or grove.main / 'grove.toml'}: [secrets] inject is not set",
            hint='e.g. [secrets] inject = "doppler secrets download --no-file --format env"',
        )


def check(grove: Grove, n: int | None) -> Any:
    """grove secrets check [N]: run [secrets] inject and judge its values, in memory; list
    the keys slot N gets, masked. `grove env` never runs the manager (it stays fast and its
    answer may be cached on disk): this is where the injected keys are seen."""
    from grove import injected

    _require_inject(grove)
    return injected.check(grove, grove.resolve_slot(n))


@record
class ExportResult:
    """grove secrets export [N]: the injected values slot N's processes get, as `export`
    lines for a shell's eval (the SessionStart hook's line). Printed, never written."""

    slot: int
    env: dict[str, str]

    def as_json(self) -> dict[str, Any]:
        return {"slot": self.slot, "env": self.env}

    def as_text(self) -> str:
        from grove.shellenv import export_lines

        return "\n".join(export_lines(self.env))


def export(grove: Grove, n: int | None) -> ExportResult:
    from grove import injected

    _require_inject(grove)
    slot = grove.resolve_slot(n)
    return ExportResult(slot, injected.for_slot(grove, slot))
