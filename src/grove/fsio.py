"""File-system writes: atomic files, symlink replacement, locks, tree copies; and the reads
that must not be steered by what was planted (no link followed, no FIFO waited on).

Every write grove makes goes through this module, so "no half-written file" holds in
one place.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import time
from collections.abc import Iterator
from pathlib import Path

from grove.errors import LockTimeout, UnsafePath


class NotRegularFile(OSError):
    """A folder, FIFO, socket or device where a file was expected. `kind` names which."""

    def __init__(self, path: Path | str, kind: str) -> None:
        super().__init__(errno.EINVAL, f"a {kind}, not a regular file", str(path))
        self.kind = kind


class FileTooLarge(OSError):
    def __init__(self, path: Path | str, limit: int) -> None:
        super().__init__(errno.EFBIG, f"larger than {limit} bytes", str(path))
        self.limit = limit


_READ = os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC


def read_regular(path: Path | str, limit: int, *, follow: bool = True) -> bytes:
    """The bytes of the regular file at path, at most `limit` of them.

    Anything in a slot or in .git may be planted: a FIFO there would block a plain open()
    until someone writes to it, so the file is opened non-blocking and refused unless it
    is regular (NotRegularFile), and more than `limit` bytes is refused (FileTooLarge)
    rather than read into memory. follow=False refuses a link at the end too (ELOOP).
    FileNotFoundError and NotADirectoryError pass through, as from open()."""
    flags = _READ if follow else _READ | os.O_NOFOLLOW
    return _read_opened(os.open(path, flags), path, limit)


def _read_opened(fd: int, path: Path | str, limit: int) -> bytes:
    """Read and close fd, opened with _READ: refused unless a regular file of limit bytes
    or fewer."""
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise NotRegularFile(path, _kind(mode))
        chunks, size = [], 0
        while chunk := os.read(fd, limit + 1 - size):
            chunks.append(chunk)
            size += len(chunk)
            if size > limit:
                raise FileTooLarge(path, limit)
        return b"".join(chunks)
    finally:
        os.close(fd)


def read_end(path: Path, size: int) -> bytes:
    """The last `size` bytes of the regular file at path (a log's tail, never the whole
    log); b"" when it is missing or not a regular file (never waiting on a FIFO)."""
    try:
        fd = os.open(path, _READ | os.O_NOFOLLOW)
    except OSError:
        return b""
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return b""
        end = os.lseek(fd, 0, os.SEEK_END)
        os.lseek(fd, max(0, end - size), os.SEEK_SET)
        chunks, wanted = [], min(size, end)
        while wanted > 0 and (chunk := os.read(fd, wanted)):
            chunks.append(chunk)
            wanted -= len(chunk)
        return b"".join(chunks)
    except OSError:
        return b""
    finally:
        os.close(fd)


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "folder"
    if stat.S_ISFIFO(mode):
        return "FIFO"
    if stat.S_ISSOCK(mode):
        return "socket"
    if stat.S_ISLNK(mode):
        return "symlink"
    return "device"


def write_atomic(path: Path, text: str, mode: int | None = None, durable: bool = True) -> None:
    """Write text to path via a temp file in the same folder, fsync, then os.replace.

    os.replace onto a symlink replaces the link itself, never its target; callers that
    mean to write through a shared link must resolve it first (grove never does).
    durable=False skips the fsync, for a note that means nothing after a crash: the file
    is still whole or absent, never half-written.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    if mode is None:
        try:
            mode = path.lstat().st_mode & 0o7777 if not path.is_symlink() else 0o644
        except FileNotFoundError:
            mode = 0o644
    # As tempfile.mkstemp makes one (0600, unguessable, exclusive, never through a link),
    # without importing tempfile and random.
    tmp = path.parent / _temp_name(path.name)
    fd = os.open(tmp, _NEW_FILE, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
            handle.flush()
            if durable:
                os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


def _temp_name(name: str) -> str:
    """An unguessable name beside `name`, for a file or link about to replace it."""
    return f".{name}.{os.getpid()}.{os.urandom(4).hex()}.grove-tmp"


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
            note = read_regular(owner, 4096, follow=False)
            holder = note.decode("utf-8", errors="replace").strip()[:200]
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
        # Not durable: a crash ends the lock, and with it what its owner note says. Each
        # fsync cost a take 0.5-1 ms, and a take takes three locks.
        note = f"pid {os.getpid()} ({purpose})\n"
        write_atomic(lock_path.with_suffix(".owner"), note, durable=False)
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
    """Copy a file or tree grove owns (a template's data) to destination, copy-on-write
    where the file system allows it. Never hard links, which would let one copy mutate
    another. For anything inside a worktree use copy_into, which follows no link."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    folder = os.open(destination.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        return _copy_named(source, folder, destination.name, destination)
    finally:
        os.close(folder)


def remove_tree(path: Path) -> None:
    import shutil  # here: it brings bz2, lzma and zlib, which most calls never need

    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.exists():
        shutil.rmtree(path)


# Paths inside a slot are walked one component at a time from an open folder, each opened
# with O_NOFOLLOW, and the final step (create, rename, unlink) is made relative to the last
# folder's descriptor. A link planted anywhere on the way, even after a check, cannot send a
# write or a delete outside the slot: grove refuses instead of following it.
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def _parts(relative: str) -> list[str]:
    parts = [part for part in Path(relative).parts if part not in ("", ".")]
    if not parts or Path(relative).is_absolute() or ".." in parts:
        raise UnsafePath(
            f"{relative!r}: expected a path inside the folder, without '..'",
            details={"path": relative},
        )
    return parts


def _refuse(root: Path, parts: list[str], upto: int) -> UnsafePath:
    where = "/".join(parts[: upto + 1])
    return UnsafePath(
        f"{root}: {where} is a symlink or not a folder; grove does not follow links inside "
        f"a worktree (one could lead outside it), so {'/'.join(parts)} was left alone",
        hint=f"replace {where} with a real folder if it should be one",
        details={"root": str(root), "component": where},
    )


@contextlib.contextmanager
def _folder_of(root: Path, relative: str, make_parents: bool) -> Iterator[tuple[int, str]]:
    """Yield (descriptor of the folder holding root/relative, final name). Raises
    FileNotFoundError when a parent is missing and make_parents is False."""
    parts = _parts(relative)
    try:
        fd = os.open(root, _DIR_FLAGS)
    except OSError as exc:
        if exc.errno not in (errno.ELOOP, errno.ENOTDIR):
            raise
        raise UnsafePath(
            f"{root} is a symlink or not a folder; grove does not follow it",
            details={"root": str(root), "component": "."},
        ) from None
    try:
        for index, part in enumerate(parts[:-1]):
            try:
                child = os.open(part, _DIR_FLAGS, dir_fd=fd)
            except FileNotFoundError:
                if not make_parents:
                    raise
                with contextlib.suppress(FileExistsError):
                    os.mkdir(part, 0o777, dir_fd=fd)
                try:
                    child = os.open(part, _DIR_FLAGS, dir_fd=fd)
                except OSError:
                    raise _refuse(root, parts, index) from None
            except OSError as exc:
                if isinstance(exc, PermissionError):
                    raise
                raise _refuse(root, parts, index) from None  # ELOOP (a link) or ENOTDIR
            os.close(fd)
            fd = child
        yield fd, parts[-1]
    finally:
        os.close(fd)


def _lstat_at(fd: int, name: str) -> os.stat_result | None:
    try:
        return os.stat(name, dir_fd=fd, follow_symlinks=False)
    except FileNotFoundError:
        return None


def check_inside(root: Path, relative: str) -> None:
    """Refuse (UnsafePath) when a folder on the way to root/relative is a link. A missing
    folder is fine: nothing is there to follow."""
    with contextlib.suppress(FileNotFoundError), _folder_of(root, relative, False):
        pass


def lstat_inside(root: Path, relative: str) -> os.stat_result | None:
    """What root/relative is (a link is reported as a link), or None when it is missing;
    UnsafePath when a folder on the way is a link."""
    if relative in ("", "."):
        return root.lstat()
    try:
        with _folder_of(root, relative, False) as (folder, name):
            return _lstat_at(folder, name)
    except FileNotFoundError:
        return None


def readlink_inside(root: Path, relative: str) -> str:
    with _folder_of(root, relative, False) as (folder, name):
        return os.readlink(name, dir_fd=folder)


MAX_READ_BYTES = 16 << 20  # what read_inside reads at most: the files grove reads are small


def read_inside(root: Path, relative: str, limit: int = MAX_READ_BYTES) -> bytes | None:
    """The bytes of root/relative, following no link on the way or at the end; None when
    there is nothing there. UnsafePath for a link; NotRegularFile (never blocking on a FIFO)
    and FileTooLarge as read_regular."""
    try:
        with _folder_of(root, relative, False) as (folder, name):
            try:
                fd = os.open(name, _READ | os.O_NOFOLLOW, dir_fd=folder)
            except (FileNotFoundError, NotADirectoryError):
                return None
            except OSError as exc:
                if exc.errno == errno.ELOOP:
                    raise _refuse(root, _parts(relative), len(_parts(relative)) - 1) from None
                raise
            return _read_opened(fd, root / relative, limit)
    except FileNotFoundError:
        return None


def write_inside(
    root: Path, relative: str, text: str | bytes, mode: int | None, make_parents: bool = False
) -> None:
    """Write root/relative atomically (temp file, fsync, rename), all relative to the
    folder's descriptor. Refuses when the file itself is a link: grove writes a slot's own
    file, never a link's target. mode None keeps the file's mode (0644 for a new one).
    Text is written as UTF-8; bytes as they are."""
    with _folder_of(root, relative, make_parents) as (folder, name):
        current = _lstat_at(folder, name)
        if current is not None and stat.S_ISLNK(current.st_mode):
            raise _refuse(root, _parts(relative), len(_parts(relative)) - 1)
        if mode is None:
            mode = stat.S_IMODE(current.st_mode) if current is not None else 0o644
        tmp = _temp_name(name)
        fd = os.open(tmp, _NEW_FILE, mode, dir_fd=folder)
        data = text.encode("utf-8") if isinstance(text, str) else text
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fchmod(handle.fileno(), mode)  # the umask must not widen or narrow it
                os.fsync(handle.fileno())
            os.replace(tmp, name, src_dir_fd=folder, dst_dir_fd=folder)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp, dir_fd=folder)
            raise


def link_inside(root: Path, relative: str, target: str) -> None:
    """Point root/relative at target atomically; the folders on the way must be real."""
    with _folder_of(root, relative, True) as (folder, name):
        tmp = _temp_name(name)
        os.symlink(target, tmp, dir_fd=folder)
        try:
            os.replace(tmp, name, src_dir_fd=folder, dst_dir_fd=folder)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp, dir_fd=folder)
            raise


def chmod_inside(root: Path, relative: str, mode: int) -> None:
    """Change root/relative's mode; a link on the way or at the end is refused."""
    with _folder_of(root, relative, False) as (folder, name):
        try:
            # O_NOFOLLOW, then fchmod: a link swapped in after a check is refused (ELOOP).
            fd = os.open(name, _READ | os.O_NOFOLLOW, dir_fd=folder)  # a FIFO: no wait
        except OSError as exc:
            if exc.errno != errno.ELOOP:
                raise
            raise _refuse(root, _parts(relative), len(_parts(relative)) - 1) from None
        try:
            os.fchmod(fd, mode)
        finally:
            os.close(fd)


def move_aside_inside(root: Path, relative: str) -> str:
    """Rename root/relative to a timestamped backup beside it; returns the backup's name."""
    with _folder_of(root, relative, False) as (folder, name):
        stamp = time.strftime("%Y%m%d-%H%M%S")
        backup, counter = f"{name}.grove-backup-{stamp}", 1
        while _lstat_at(folder, backup) is not None:
            backup, counter = f"{name}.grove-backup-{stamp}-{counter}", counter + 1
        os.rename(name, backup, src_dir_fd=folder, dst_dir_fd=folder)
        return backup


def remove_inside(root: Path, relative: str) -> bool:
    """Delete root/relative, refusing to pass through a symlink on the way: a link planted
    in a slot (`apps/web -> /elsewhere`) must not turn a reset into a delete outside it.
    A link at the end is removed itself, never its target. Returns whether something was
    removed."""
    import shutil  # here: it brings bz2, lzma and zlib, which most calls never need

    try:
        with _folder_of(root, relative, False) as (folder, name):
            current = _lstat_at(folder, name)
            if current is None:
                return False
            if stat.S_ISDIR(current.st_mode):
                # rmtree with dir_fd walks by descriptors and never follows a link inside.
                shutil.rmtree(name, dir_fd=folder)
            else:
                os.unlink(name, dir_fd=folder)
            return True
    except FileNotFoundError:
        return False


def copy_into(source_root: Path, relative: str, destination_root: Path) -> str:
    """Copy source_root/relative to destination_root/relative (copy-on-write where the file
    system allows it), following no link on the way on either side. Copies into a temp name
    first and renames, so a crash leaves no half-copied tree under the real name. Returns
    the method used, or "exists" when the destination is already there."""
    check_inside(source_root, relative)
    source = source_root / relative
    with _folder_of(destination_root, relative, True) as (folder, name):
        return _copy_named(source, folder, name, destination_root / relative)


def _copy_named(source: Path, folder: int, name: str, shown: Path) -> str:
    if _lstat_at(folder, name) is not None:
        return "exists"
    tmp = f".{name}.grove-tmp"
    _remove_at(folder, tmp)
    method = _copy_to(source, folder, tmp, shown)
    os.replace(tmp, name, src_dir_fd=folder, dst_dir_fd=folder)
    return method


def _remove_at(folder: int, name: str) -> None:
    import shutil  # here: it brings bz2, lzma and zlib, which most calls never need

    found = _lstat_at(folder, name)
    if found is not None and stat.S_ISDIR(found.st_mode):
        shutil.rmtree(name, dir_fd=folder)
    elif found is not None:
        os.unlink(name, dir_fd=folder)


def _copy_to(source: Path, folder: int, tmp: str, shown: Path) -> str:
    import shutil  # here: it brings bz2, lzma and zlib, which most calls never need

    cp = shutil.which("cp")
    failures: list[str] = []
    for method, flags in _CP_VARIANTS if cp is not None else ():
        from grove import proc

        # cp starts inside the checked folder (by descriptor) and writes a relative name.
        result = proc.run([str(cp), *flags, str(source), tmp], cwd_fd=folder)
        if result.returncode == 0:
            return method
        last = (result.stderr.strip().splitlines() or [f"exit code {result.returncode}"])[-1]
        failures.append(f"{method}: {last[:200]}")
        _remove_at(folder, tmp)
    try:
        # No cp: Python copies by path. The folder was checked just above; this fallback
        # is for systems without cp, not for a hostile race.
        target = Path(f"/proc/self/fd/{folder}/{tmp}")
        if not target.parent.exists():
            target = shown.with_name(tmp)
        if source.is_dir() and not source.is_symlink():
            shutil.copytree(source, target, symlinks=True)
        else:
            shutil.copy2(source, target, follow_symlinks=False)
    except OSError as exc:
        _remove_at(folder, tmp)
        from grove.errors import GroveError

        raise GroveError(
            f"cannot copy {source} to {shown}: {exc.strerror or exc}",
            hint="check free space and permissions; " + "; ".join(failures),
        ) from None
    return "copy"
