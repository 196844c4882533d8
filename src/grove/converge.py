"""Bring a slot's files to the state its config describes. Safe to repeat.

Each function returns the changes it made (or, with dry_run, would make), so refresh can
report "nothing changed" honestly and --dry-run can list without writing.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from grove import envfile, fsio, git, output, shellenv
from grove.config import ENVRC
from grove.errors import ConfigError
from grove.record import asdict, record
from grove.slotenv import managed_values
from grove.slots import Grove


@record(frozen=True)
class Change:
    slot: int
    action: str  # linked | relinked | backed-up | block-written | excluded | copied | ...
    path: str
    detail: str = ""

    def as_json(self) -> dict[str, object]:
        return asdict(self)


def link_target(grove: Grove, n: int, shared: str) -> str:
    """The relative target of slot n's link to main's copy (`../myproject/.env`)."""
    link = grove.slot_path(n) / shared
    return os.path.relpath(grove.main / shared, link.parent)


def link_shared(
    grove: Grove, n: int, dry_run: bool = False, tracked: set[str] | None = None
) -> tuple[list[Change], list[str]]:
    """Point every shared file in slot n at main's copy; back up a stray regular file.
    `tracked`: which shared files the slot's index holds, when the caller already knows.

    Every step looks at and changes the slot's entries without following a link on the
    way (fsio's *_inside functions): a folder the slot's content turned into a link is
    refused, never written through."""
    changes: list[Change] = []
    notes: list[str] = []
    if n == 0:
        return changes, notes
    slot_dir = grove.slot_path(n)
    if tracked is None:
        tracked = git.tracked(slot_dir, list(grove.config.shared))
    for shared in grove.config.shared:
        target = link_target(grove, n, shared)
        if shared in tracked:
            notes.append(f"slot {n}: {shared} is tracked by git, so it is not linked")
            continue
        if fsio.lstat_inside(grove.main, shared) is None:
            notes.append(f"{shared} does not exist in main, so slot {n} has no link to it yet")
            continue
        found = fsio.lstat_inside(slot_dir, shared)
        if found is not None and stat.S_ISLNK(found.st_mode):
            was = fsio.readlink_inside(slot_dir, shared)
            if was == target:
                continue
            changes.append(Change(n, "relinked", shared, f"was -> {output.safe(was)}"))
            if not dry_run:
                fsio.link_inside(slot_dir, shared, target)
            continue
        if found is not None:
            if stat.S_ISDIR(found.st_mode):
                notes.append(f"slot {n}: {shared} is a folder, so it is not linked")
                continue
            # The seed's failure: a copy instead of a link goes stale silently. Keep it.
            changes.append(Change(n, "backed-up", shared, "regular file moved aside"))
            if not dry_run:
                backup = fsio.move_aside_inside(slot_dir, shared)
                changes[-1] = Change(n, "backed-up", shared, f"regular file moved to {backup}")
        changes.append(Change(n, "linked", shared, f"-> {target}"))
        if not dry_run:
            fsio.link_inside(slot_dir, shared, target)
    return changes, notes


def write_local(grove: Grove, n: int, dry_run: bool = False) -> list[Change]:
    """Rewrite the managed block of each of slot n's local files, and of its .envrc with
    [env] envrc; user lines stay as they are."""
    changes: list[Change] = []
    for name in grove.config.local_files:
        changes += _write_one_local(grove, n, name, dry_run)
    if grove.config.envrc:
        block = shellenv.envrc_block(n, shellenv.exported_values(grove, n))
        changes += _write_one_local(grove, n, ENVRC, dry_run, block)
        if not dry_run:
            # take and switch write without refresh's ensure_ignored: an .envrc turned on
            # since must not show up as the slot's untracked work.
            changes += ensure_ignored(grove)
    return changes


LOCAL_FILE_MODE = 0o600  # the block carries credentials (a database password, rewritten URLs)


def _write_one_local(
    grove: Grove, n: int, name: str, dry_run: bool, block: str | None = None
) -> list[Change]:
    slot_dir = grove.slot_path(n)
    parent = str(Path(name).parent)
    if parent != ".":
        folder = fsio.lstat_inside(slot_dir, parent)
        if folder is None:
            return []  # a package folder this slot's checkout does not have
        if not stat.S_ISDIR(folder.st_mode):
            fsio.check_inside(slot_dir, name)  # raises UnsafePath naming the link
            return []
    try:
        block = block or envfile.render_block(n, managed_values(grove, n))
    except envfile.UnsafeValue as exc:
        raise ConfigError(
            f"{grove.config.path or 'grove.toml'}: [env.derived] {exc.key}: {exc.reason}",
            hint='write the value without " \\ ` $ or newlines',
        ) from None
    local = slot_dir / name
    found = fsio.lstat_inside(slot_dir, name)
    if found is not None and stat.S_ISLNK(found.st_mode):
        raise ConfigError(
            f"{local} is a symlink; grove writes it as the slot's own file",
            hint=f"remove the link and run `grove refresh {n}`",
        )
    try:  # a folder or FIFO where the file belongs is refused, never waited on
        data = fsio.read_inside(slot_dir, name, envfile.MAX_ENV_FILE_BYTES)
    except (fsio.NotRegularFile, fsio.FileTooLarge) as exc:
        raise envfile.unreadable(local, exc) from None
    current = "" if data is None else envfile.decode(data, local)
    try:
        updated = envfile.replace_block(current, block)
    except envfile.BrokenBlock as exc:
        raise ConfigError(
            f"{local}: {exc}",
            hint="restore the '# <<< grove' line or delete the block, then run `grove refresh`",
        ) from None
    loose = found is not None and found.st_mode & 0o077
    if updated == current and not loose:
        return []
    action = "block-updated" if envfile.read_block(current) is not None else "block-written"
    if updated == current:
        action = "restricted"  # same content, but others could read it: made 0600
    if not dry_run:
        fsio.write_inside(slot_dir, name, updated, LOCAL_FILE_MODE)
    return [Change(n, action, name)]


def ensure_ignored(grove: Grove, dry_run: bool = False) -> list[Change]:
    """Keep the local files and shared links out of `git status` in every slot.

    They go into info/exclude in git's common dir, which every worktree reads and no commit
    changes, even when main's .gitignore already lists them: an uncommitted .gitignore (a
    fresh `grove init`) is not in a new slot's checkout, and the slot would show them as
    untracked work. Tracked shared files are left alone.
    """
    names = [*grove.config.own_files, *grove.config.shared]
    tracked = git.tracked(grove.main, names)
    exclude = grove.common_dir / "info" / "exclude"
    current = exclude.read_text(encoding="utf-8") if exclude.exists() else ""
    listed = {line.strip() for line in current.splitlines()}
    missing = [name for name in names if name not in tracked and f"/{name}" not in listed]
    if not missing:
        return []
    if not dry_run:
        prefix = current if not current or current.endswith("\n") else current + "\n"
        lines = "\n".join(f"/{name}" for name in missing)
        fsio.write_atomic(exclude, prefix + "# grove: per-slot env files\n" + lines + "\n")
    return [Change(0, "excluded", str(exclude), ", ".join(missing))]


WRITE_BITS = 0o222


def protect_shared(grove: Grove, dry_run: bool = False) -> list[Change]:
    """With [env] protect, main's shared files lose their write bits, so a script that
    writes .env from any slot (through the link) fails loudly instead of changing every
    slot. `grove env edit` and `grove secrets pull` lift it and put it back."""
    if not grove.config.protect:
        return []
    changes: list[Change] = []
    for name in grove.config.shared:
        found = fsio.lstat_inside(grove.main, name)
        if found is not None and stat.S_ISREG(found.st_mode) and found.st_mode & WRITE_BITS:
            changes.append(Change(0, "protected", name, "made read-only"))
            if not dry_run:
                fsio.chmod_inside(grove.main, name, found.st_mode & ~WRITE_BITS & 0o7777)
    return changes
