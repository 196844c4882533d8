"""Bring a slot's files to the state its config describes. Safe to repeat.

Each function returns the changes it made (or, with dry_run, would make), so refresh can
report "nothing changed" honestly and --dry-run can list without writing.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass

from grove import envfile, fsio, git
from grove.errors import ConfigError
from grove.slotenv import managed_values
from grove.slots import Grove


@dataclass(frozen=True)
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


def link_shared(grove: Grove, n: int, dry_run: bool = False) -> tuple[list[Change], list[str]]:
    """Point every shared file in slot n at main's copy; back up a stray regular file."""
    changes: list[Change] = []
    notes: list[str] = []
    if n == 0:
        return changes, notes
    slot_dir = grove.slot_path(n)
    tracked = git.tracked(slot_dir, list(grove.config.shared))
    for shared in grove.config.shared:
        link = slot_dir / shared
        target = link_target(grove, n, shared)
        if shared in tracked:
            notes.append(f"slot {n}: {shared} is tracked by git, so it is not linked")
            continue
        if not (grove.main / shared).exists():
            notes.append(f"{shared} does not exist in main, so slot {n} has no link to it yet")
            continue
        if link.is_symlink():
            if os.readlink(link) == target:
                continue
            changes.append(Change(n, "relinked", shared, f"was -> {os.readlink(link)}"))
            if not dry_run:
                fsio.replace_symlink(link, target)
            continue
        if link.exists():
            if link.is_dir():
                notes.append(f"slot {n}: {shared} is a folder, so it is not linked")
                continue
            # The seed's failure: a copy instead of a link goes stale silently. Keep it.
            backup = fsio.backup_path(link)
            changes.append(Change(n, "backed-up", shared, f"regular file moved to {backup.name}"))
            if not dry_run:
                fsio.move_aside(link)
        changes.append(Change(n, "linked", shared, f"-> {target}"))
        if not dry_run:
            fsio.replace_symlink(link, target)
    return changes, notes


def write_local(grove: Grove, n: int, dry_run: bool = False) -> list[Change]:
    """Rewrite the managed block of each of slot n's local files; user lines stay as they are."""
    changes: list[Change] = []
    for name in grove.config.local_files:
        changes += _write_one_local(grove, n, name, dry_run)
    return changes


def _write_one_local(grove: Grove, n: int, name: str, dry_run: bool) -> list[Change]:
    local = grove.slot_path(n) / name
    if not local.parent.is_dir():
        return []  # a package folder this slot's checkout does not have
    try:
        block = envfile.render_block(n, managed_values(grove, n))
    except envfile.UnsafeValue as exc:
        raise ConfigError(
            f"{grove.config.path or 'grove.toml'}: [env.derived] {exc.key}: {exc.reason}",
            hint='write the value without " \\ ` $ or newlines',
        ) from None
    if local.is_symlink():
        raise ConfigError(
            f"{local} is a symlink; the local file must be the slot's own file",
            hint=f"remove the link and run `grove refresh {n}`",
        )
    current = envfile.read_text(local) or ""
    try:
        updated = envfile.replace_block(current, block)
    except envfile.BrokenBlock as exc:
        raise ConfigError(
            f"{local}: {exc}",
            hint="restore the '# <<< grove' line or delete the block, then run `grove refresh`",
        ) from None
    if updated == current:
        return []
    action = "block-updated" if envfile.read_block(current) is not None else "block-written"
    if not dry_run:
        fsio.write_atomic(local, updated)
    return [Change(n, action, name)]


def ensure_ignored(grove: Grove, dry_run: bool = False) -> list[Change]:
    """Keep the local file and shared links out of `git status` in every slot.

    Uses info/exclude in git's common dir, which applies to every worktree and changes no
    tracked file. Tracked shared files are left alone.
    """
    names = [*grove.config.local_files, *grove.config.shared]
    tracked = git.tracked(grove.main, names)
    candidates = [name for name in names if name not in tracked]
    missing = [name for name in candidates if name not in git.check_ignore(grove.main, [name])]
    if not missing:
        return []
    exclude = grove.common_dir / "info" / "exclude"
    current = exclude.read_text(encoding="utf-8") if exclude.exists() else ""
    lines = [f"/{name}" for name in missing]
    if not dry_run:
        prefix = current if not current or current.endswith("\n") else current + "\n"
        fsio.write_atomic(
            exclude, prefix + "# grove: per-slot env files\n" + "\n".join(lines) + "\n"
        )
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
        path = grove.main / name
        if path.is_file() and not path.is_symlink() and path.stat().st_mode & WRITE_BITS:
            changes.append(Change(0, "protected", name, "made read-only"))
            if not dry_run:
                path.chmod(path.stat().st_mode & ~WRITE_BITS & 0o7777)
    return changes
