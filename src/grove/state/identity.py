"""Which worktree a slot number currently is.

Slot numbers are reused: a slot removed (by grove, by git, by hand) and made again has the
same number and path. Setup records and databases must belong to the worktree that made
them, or a new slot inherits an old one's finished setup and its data. git gives every
linked worktree a private folder under `<common>/worktrees/`, made by `git worktree add`
and deleted with the worktree; grove keeps a random id there, so the id dies with the
worktree it names.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from grove import dotgit, fsio
from grove.state import store

MAIN = "main"
FILE = "grove-id"
_ID = re.compile(r"[0-9a-f]{32}")
_ID_LIMIT = 4096  # an id is 32 characters and a newline


def _same(a: Path, b: Path) -> bool:
    if os.path.normpath(a) == os.path.normpath(b):
        return True
    try:
        return a.resolve() == b.resolve()
    except OSError:
        return False


def admin_folder(common_dir: Path, worktree: Path) -> Path | None:
    """git's private folder for the linked worktree at `worktree` (its `gitdir` file names
    the worktree's `.git`). Read from the common dir, never from inside the slot."""
    root = common_dir / "worktrees"
    # git names the folder after the worktree's own (with a number added on a clash): try
    # that one first, so finding every slot's folder does not read every slot's pointer.
    if _points_at(root / worktree.name, worktree):
        return root / worktree.name
    try:
        entries = list(root.iterdir())
    except OSError:
        return None
    return next((entry for entry in entries if _points_at(entry, worktree)), None)


def _points_at(entry: Path, worktree: Path) -> bool:
    # As dotgit.registered_worktrees reads it: None for missing, a link, a FIFO, too long.
    pointer = (dotgit.read_small(str(entry / "gitdir")) or "").strip()
    if not pointer:
        return False
    return _same(Path(pointer).parent, worktree)


def of_worktree(common_dir: Path, worktree: Path, *, create: bool) -> str | None:
    """The id of the linked worktree at `worktree`; made when `create` and missing (callers
    hold the slot's lock). None when git has no such worktree."""
    admin = admin_folder(common_dir, worktree)
    if admin is None:
        return None
    path = admin / FILE
    repair = f"delete {path}; grove gives the worktree a new id (and a fresh setup record)"
    try:
        text = fsio.read_regular(path, _ID_LIMIT, follow=False).decode("ascii").strip()
    except FileNotFoundError:
        if not create:
            return None
        text = os.urandom(16).hex()  # as random as a uuid4, without importing uuid
        fsio.write_atomic(path, text + "\n")
        return text
    except (OSError, UnicodeDecodeError):
        raise store.damaged(path, "not a grove worktree id", repair) from None
    if not _ID.fullmatch(text):
        raise store.damaged(path, "not a grove worktree id", repair)
    return text
