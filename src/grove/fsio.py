"""File-system writes: atomic files, symlink replacement, locks, tree copies.

Every write grove makes goes through this module, so "no half-written file" holds in
one place.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
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


# Locks this process holds: path -> depth. flock locks belong to an open file description,
# so a second open of the same lock file in one process would wait for itself forever.
_held: dict[str, int] = {}


def _open_lock(lock_path: Path) -> int:
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    try:
        return os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    except (IsADirectoryError, OSError) as exc:
        from grove.errors import DamagedState

        raise DamagedState(
            f"{lock_path}: cannot be opened as a lock file ({exc.strerror or exc})",
            hint=f"no grove command is running? then delete {lock_path}",
            details={"file": str(lock_path)},
        ) from None


@contextlib.contextmanager
def exclusive_lock(lock_path: Path, timeout: float, purpose: str) -> Iterator[None]:
    """Hold an exclusive flock on lock_path; on timeout, say which process holds it.

    Re-entrant within one process. The kernel drops the lock when the process dies, so a
    crash never leaves it held. The owner file beside it is informational only: it lets a
    waiting process name the holder.
    """
    if not try_lock_wait(lock_path, timeout, purpose):
        owner = lock_path.with_suffix(".owner")
        try:
            holder = owner.read_text(encoding="utf-8", errors="replace").strip()[:200]
        except OSError:
            holder = "unknown"
        raise LockTimeout(
            f"timed out after {timeout:g}s waiting for the grove lock ({purpose}); "
            f"held by {holder or 'unknown'}",
            hint=f"wait for that process to finish; the lock is {lock_path}",
        )
    try:
        yield
    finally:
        _unlock(lock_path)


@contextlib.contextmanager
def try_lock(lock_path: Path, purpose: str) -> Iterator[bool]:
    """Take the lock only if it is free right now; yields whether it was taken. For a
    caller that already holds another lock and must not wait (lock order)."""
    taken = try_lock_wait(lock_path, 0, purpose)
    try:
        yield taken
    finally:
        if taken:
            _unlock(lock_path)


_fds: dict[str, int] = {}


def try_lock_wait(lock_path: Path, timeout: float, purpose: str) -> bool:
    import fcntl

    key = str(lock_path)
    if key in _held:
        _held[key] += 1
        return True
    fd = _open_lock(lock_path)
    deadline = time.monotonic() + timeout
    delay = 0.005
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            if time.monotonic() >= deadline:
                os.close(fd)
                return False
            time.sleep(min(delay, max(deadline - time.monotonic(), 0)))
            delay = min(delay * 2, 0.1)
    _held[key] = 1
    _fds[key] = fd
    with contextlib.suppress(OSError):
        write_atomic(lock_path.with_suffix(".owner"), f"pid {os.getpid()} ({purpose})\n")
    return True


def _unlock(lock_path: Path) -> None:
    key = str(lock_path)
    _held[key] -= 1
    if _held[key]:
        return
    del _held[key]
    fd = _fds.pop(key)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(lock_path.with_suffix(".owner"))
    os.close(fd)  # closing the only descriptor releases the flock


# Tried in order: GNU cp clones extents where the file system can (btrfs, xfs); macOS's cp
# clones with -c (APFS); plain POSIX cp; then Python itself. A cp that rejects a flag (BSD
# cp knows no --reflink) fails fast and the next one is tried.
_CP_VARIANTS = (
    ("cp --reflink=auto", ["-a", "--reflink=auto"]),
    ("cp -c", ["-c", "-pPR"]),
    ("cp", ["-pPR"]),
)


def copy_tree(source: Path, destination: Path) -> str:
    """Copy a file or tree, copy-on-write where the file system allows it.

    Never hard links, which would let one slot's install mutate another's tree. Copies into
    a temp name first, so a crash leaves no half-copied tree under the real name. Returns
    the method used; a copy that cannot be made is a GroveError naming the paths, never a
    crash.
    """
    if destination.exists() or destination.is_symlink():
        return "exists"
    destination.parent.mkdir(parents=True, exist_ok=True)
    tmp = destination.with_name(f".{destination.name}.grove-tmp")
    remove_tree(tmp)
    cp = shutil.which("cp")
    failures: list[str] = []
    for method, flags in _CP_VARIANTS if cp is not None else ():
        from grove import proc

        result = proc.run([str(cp), *flags, str(source), str(tmp)])
        if result.returncode == 0:
            os.replace(tmp, destination)
            return method
        last = (result.stderr.strip().splitlines() or [f"exit code {result.returncode}"])[-1]
        failures.append(f"{method}: {last}")
        remove_tree(tmp)
    try:
        if source.is_dir() and not source.is_symlink():
            shutil.copytree(source, tmp, symlinks=True)
        else:
            shutil.copy2(source, tmp, follow_symlinks=False)
    except OSError as exc:
        remove_tree(tmp)
        from grove.errors import GroveError

        raise GroveError(
            f"cannot copy {source} to {destination}: {exc.strerror or exc}",
            hint="check free space and permissions; " + "; ".join(failures),
        ) from None
    os.replace(tmp, destination)
    return "copy"


def remove_tree(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.exists():
        shutil.rmtree(path)


def remove_inside(root: Path, relative: str) -> bool:
    """Delete root/relative, refusing to pass through a symlink on the way: a link planted
    in a slot (`apps/web -> /elsewhere`) must not turn a reset into a delete outside it.
    Returns whether something was removed."""
    current = root
    parts = Path(relative).parts
    for index, part in enumerate(parts):
        current = current / part
        try:
            mode = current.lstat().st_mode
        except (FileNotFoundError, NotADirectoryError):
            return False
        last = index == len(parts) - 1
        if not last and not stat.S_ISDIR(mode):
            return False  # a link or a file where a folder should be: nothing of ours
        if last:
            if stat.S_ISDIR(mode):
                shutil.rmtree(current)
            else:
                current.unlink()  # a link itself, never its target
    return True
