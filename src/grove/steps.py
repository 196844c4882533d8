"""Setup, refresh and switch steps, with setup progress recorded per slot.

Setup steps are recorded one by one as they finish, so a slot whose setup failed halfway
is completed (not restarted) by `grove refresh N` or `grove create N`.
"""

from __future__ import annotations

import time
from pathlib import Path

from grove import fsio, output, proc, slotenv
from grove.record import field, record
from grove.slots import Grove
from grove.state import digests, identity
from grove.state import setup as records

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing
if TYPE_CHECKING:
    from typing import Any


@record(frozen=True)
class Step:
    id: str
    kind: str  # "copy" or "run"
    label: str


@record
class StepsReport:
    ran: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


LOCKFILES = (
    "package-lock.json",
    "npm-shrinkwrap.json",
    "pnpm-lock.yaml",
    "yarn.lock",
    "bun.lockb",
    "bun.lock",
    "uv.lock",
    "poetry.lock",
    "Pipfile.lock",
    "pdm.lock",
    "Gemfile.lock",
    "composer.lock",
    "Cargo.lock",
    "go.sum",
)


def copy_paths(grove: Grove) -> list[str]:
    """What setup copies from main: [setup] copy, else what .worktreeinclude names.

    .worktreeinclude (gitignore syntax, read by Claude Code and worktrunk) lists ignored files
    a new worktree needs; only paths that git ignores are taken, and never grove's own env
    files, which every slot gets its own way.
    """
    if grove.config.setup_copy_configured:
        return list(grove.config.setup_copy)
    include = grove.main / ".worktreeinclude"
    if not include.is_file():
        return []
    from grove import git

    candidates = git.untracked_matching(grove.main, include)
    ignored = git.check_ignore(grove.main, candidates)
    own = {*grove.config.own_files, *grove.config.shared}
    return [p.rstrip("/") for p in candidates if p in ignored and p.rstrip("/") not in own]


def unrecreatable(grove: Grove, ignored: list[str]) -> list[str]:
    """Ignored entries grove could not bring back: not the local file or a shared link, not
    copied by setup, not disposable build output. Deleting them loses someone's work."""
    keep = {
        *grove.config.own_files,
        *grove.config.shared,
        *copy_paths(grove),
        *grove.config.reset_disposable,
    }
    keep = {k.rstrip("/") for k in keep}

    def covered(entry: str) -> bool:
        name = entry.rstrip("/")
        return any(name == k or name.startswith(k + "/") for k in keep)

    return [entry for entry in ignored if not covered(entry)]


def setup_steps(grove: Grove) -> list[Step]:
    steps = [Step(f"copy:{path}", "copy", path) for path in copy_paths(grove)]
    for i, command in enumerate(grove.config.setup_run):
        digest = digests.sha256(command.encode()).hexdigest()[:12]
        steps.append(Step(f"run:{i}:{digest}", "run", command))
    return steps


def slot_identity(grove: Grove, n: int, *, create: bool = False) -> str | None:
    """Which worktree slot n is now: its records and database belong to that one."""
    if n == 0:
        return identity.MAIN
    return identity.of_worktree(grove.common_dir, grove.slot_path(n), create=create)


def read_record(grove: Grove, n: int) -> dict[str, Any]:
    return records.read_slot_state(grove.state_dir, n, slot_identity(grove, n))


def write_record(grove: Grove, n: int, record: dict[str, Any]) -> None:
    """Callers hold slot n's lock."""
    owner = slot_identity(grove, n, create=True)
    if owner is None:
        return  # the worktree is gone: nothing to record for it
    records.write_slot_state(grove.state_dir, n, record, owner)


def pending_setup(grove: Grove, n: int) -> list[Step]:
    done = set(read_record(grove, n).get("setup_done", []))
    return [step for step in setup_steps(grove) if step.id not in done]


def setup_complete(grove: Grove, n: int) -> bool:
    return n == 0 or not pending_setup(grove, n)


def run_setup(grove: Grove, n: int) -> StepsReport:
    """Run the setup steps slot n has not finished yet, recording each as it completes."""
    report = StepsReport()
    record = read_record(grove, n)
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
        if all(s.id in done for s in steps):
            # The install now matches these inputs: the next sync skips it if they stay put.
            record["install_digest"] = install_digest(grove, n)
        write_record(grove, n, record)
    return report


def _digest_files(grove: Grove, kind: str, root: Path, names: list[str]) -> str:
    """One hash of these files' names and contents, reused while none of them changed."""
    key = f"{kind}:{root}"
    return digests.digest(grove.state_dir, key, root, names, lambda: _hash_files(root, names))


def _hash_files(root: Path, names: list[str]) -> str:
    import hashlib

    digest = hashlib.sha256()
    for name in sorted(set(names)):
        path = root / name
        if path.is_file():
            digest.update(name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def _matching(root: Path, patterns: tuple[str, ...] | list[str]) -> list[str]:
    names: list[str] = []
    for pattern in patterns:
        names += [str(p.relative_to(root)) for p in root.glob(pattern) if p.is_file()]
    return names


def install_digest(grove: Grove, n: int) -> str:
    """The lockfiles and [setup] inputs of slot n, as one hash."""
    root = grove.slot_path(n)
    names = [name for name in LOCKFILES if (root / name).is_file()]
    names += _matching(root, ["requirements*.txt", *grove.config.setup_inputs])
    return _digest_files(grove, "install", root, names)


def migrations_digest(grove: Grove, n: int) -> str | None:
    db = grove.config.database
    if db is None or not db.migrations:
        return None  # unknown: migrate always runs
    root = grove.slot_path(n)
    return _digest_files(grove, "migrations", root, _matching(root, db.migrations))


@record
class SyncReport:
    ran: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    database: dict[str, Any] | None = None  # what provisioning did, when [database] is set

    def as_json(self) -> dict[str, Any]:
        return {"ran": self.ran, "skipped": self.skipped}


def pending_sync(grove: Grove, n: int) -> list[str]:
    """What sync would run now (for --dry-run), without running anything."""
    record = read_record(grove, n)
    pending: list[str] = []
    if (
        grove.config.setup_run
        and n != 0
        and record.get("install_digest") != install_digest(grove, n)
    ):
        pending += list(grove.config.setup_run)
    db = grove.config.database
    if db is not None and db.migrate:
        now = migrations_digest(grove, n)
        if now is None or record.get("migrations_digest") != now:
            pending += list(db.migrate)
    return pending


def sync(grove: Grove, n: int) -> SyncReport:
    """Bring a slot's runtime in line with its checkout: its database provisioned and up,
    the install re-run only when the lockfiles changed, and migrate only when the
    migrations did. Both digests are recorded, so the next sync can tell."""
    report = SyncReport()
    if grove.config.database is not None:
        from grove import database

        owner = slot_identity(grove, n, create=True)
        report.database = database.provision(grove, n, owner).as_json()
    record = read_record(grove, n)
    if grove.config.setup_run and n != 0:
        now = install_digest(grove, n)
        if record.get("install_digest") == now:
            report.skipped.append("install: lockfiles and [setup] inputs unchanged")
        else:
            for command in grove.config.setup_run:
                output.narrate(f"[install] {command} (lockfiles changed)")
                _run(grove, n, command, "setup")
                report.ran.append(command)
            record["install_digest"] = now
            write_record(grove, n, record)
    db = grove.config.database
    if db is not None and db.migrate:
        from grove import database

        now_migrations = migrations_digest(grove, n)
        if now_migrations is not None and record.get("migrations_digest") == now_migrations:
            report.skipped.append("migrate: migration files unchanged")
        else:
            report.ran += database.run_migrations(grove, n)
            if now_migrations is not None:
                record = read_record(grove, n)
                record["migrations_digest"] = now_migrations
                write_record(grove, n, record)
    return report


def _copy_from_main(grove: Grove, n: int, relative: str, report: StepsReport) -> None:
    # Both ends are worktrees agents write in: no link on the way is followed (fsio).
    if fsio.lstat_inside(grove.main, relative) is None:
        report.notes.append(f"[setup] copy: {relative} does not exist in main; nothing copied")
        return
    method = fsio.copy_into(grove.main, relative, grove.slot_path(n))
    if method == "exists":
        report.notes.append(f"[setup] copy: {relative} already exists in slot {n}; kept")


def _run(grove: Grove, n: int, command: str, phase: str) -> None:
    proc.run_checked(
        command,
        grove.slot_path(n),
        slotenv.process_env(grove, n),
        phase=phase,
        slot=n,
        hint=f"fix the command, then `grove refresh {n}` runs the remaining steps",
        timeout=grove.config.step_timeout,
    )


def run_commands(grove: Grove, n: int, commands: tuple[str, ...], phase: str) -> list[str]:
    """Run [refresh] or [switch] commands in slot n; they are not recorded, they re-run."""
    for index, command in enumerate(commands, 1):
        output.narrate(f"[{phase} {index}/{len(commands)}] {command}")
        _run(grove, n, command, phase)
    return list(commands)
