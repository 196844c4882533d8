"""File-system writes: atomic files, symlink replacement, locks, tree copies.

Every write grove makes goes through this module, so "no half-written file" holds in
one place.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from grove.errors import LockTimeout


def write_atomic(path: Path, text: str, mode: int | None = None) -> None:
    """Write text to path via a temp file in the same folder, fsync, then os.replace.

    os.replace onto a symlink replaces the link itself, never its target; callers that
    mean to write through a shared link must resolve it first (grove never does).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    if mode is None:
        try:
            mode = path.lstat().st_mode & 0o7777 if not path.is_symlink() else 0o644
        except FileNotFoundError:
            mode = 0o644
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".grove-tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def replace_symlink(link: Path, target: str) -> None:
    """Point link at target atomically (a temp link renamed over the old entry)."""
    link.parent.mkdir(parents=True, exist_ok=True)
    tmp = link.parent / f".{link.name}.{os.getpid()}.grove-tmp"
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    os.symlink(target, tmp)
    try:
        os.replace(tmp, link)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


def backup_path(path: Path) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    candidate = path.with_name(f"{path.name}.grove-backup-{stamp}")
    counter = 1
    while candidate.exists() or candidate.is_symlink():
        candidate = path.with_name(f"{path.name}.grove-backup-{stamp}-{counter}")
        counter += 1
    return candidate


def move_aside(path: Path) -> Path:
    """Rename path to a timestamped backup beside it; returns the backup's path."""
    backup = backup_path(path)
    os.rename(path, backup)
    return backup


@contextlib.contextmanager
def exclusive_lock(lock_path: Path, timeout: float, purpose: str) -> Iterator[None]:
    """Hold an exclusive lock; on timeout, say which process holds it.

    The owner file beside the lock is informational only (the lock itself is flock);
    it lets a waiting process name the holder.
    """
    from filelock import FileLock, Timeout

    lock_path.parent.mkdir(parents=True, exist_ok=True)
    owner = lock_path.with_suffix(".owner")
    lock = FileLock(str(lock_path))
    try:
        lock.acquire(timeout=timeout)
    except Timeout:
        holder = owner.read_text(encoding="utf-8").strip() if owner.exists() else "unknown"
        raise LockTimeout(
            f"timed out after {timeout:g}s waiting for the grove lock ({purpose}); "
            f"held by {holder}",
            hint=f"wait for that process to finish; the lock is {lock_path}",
        ) from None
    try:
        write_atomic(owner, f"pid {os.getpid()} ({purpose})\n")
        yield
    finally:
        with contextlib.suppress(FileNotFoundError):
            owner.unlink()
        lock.release()


def copy_tree(source: Path, destination: Path) -> str:
    """Copy a file or tree, copy-on-write where the file system allows it.

    GNU cp's --reflink=auto clones extents on btrfs/xfs/APFS-like file systems and falls
    back to a plain copy elsewhere; never hard links, which would let one slot's install
    mutate another's tree. Copies into a temp name first, so a crash leaves no
    half-copied tree under the real name. Returns the method used.
    """
    if destination.exists() or destination.is_symlink():
        return "exists"
    destination.parent.mkdir(parents=True, exist_ok=True)
    tmp = destination.with_name(f".{destination.name}.grove-tmp")
    remove_tree(tmp)
    cp = shutil.which("cp")
    if cp is not None:
        proc = subprocess.run(
            [cp, "-a", "--reflink=auto", str(source), str(tmp)],
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            remove_tree(tmp)
            raise OSError(f"cp {source} failed: {proc.stderr.strip()}")
        method = "cp --reflink=auto"
    elif source.is_dir():
        shutil.copytree(source, tmp, symlinks=True)
        method = "copy"
    else:
        shutil.copy2(source, tmp, follow_symlinks=False)
        method = "copy"
    os.replace(tmp, destination)
    return method


def remove_tree(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.exists():
        shutil.rmtree(path)
