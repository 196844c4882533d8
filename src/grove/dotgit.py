"""git's own files, read without git and without pathlib: which repository a folder is in,
and which worktrees it has registered.

Every command locates its repository first, and git's start cost 2-3 ms of each; `grove env`
answers from its cache before pathlib is even loaded (state/envcache). So both read what
git would read, for the common layouts only: a main checkout (`.git` a folder) or a linked
worktree (`.git` a file naming its git dir, whose `commondir` names the shared one). For
anything else the answer is None, and git itself decides. Nothing here follows a link at
the last step, and each file is read up to a small limit.
"""

from __future__ import annotations

import os
import stat


def locate(cwd: str) -> tuple[str, str] | None:
    """(top of the worktree, git's common dir) for cwd, as `git rev-parse --show-toplevel
    --git-common-dir` answers; None for a `.git` owned by another user (git's
    safe.directory), a config that sets core.worktree or core.bare, a search that would
    cross into another filesystem, a cwd inside a git dir, or a pointer that leads nowhere."""
    device = os.stat(cwd).st_dev
    folder = cwd
    while True:
        if os.stat(folder).st_dev != device:
            return None
        dot_git = os.path.join(folder, ".git")
        try:
            found = os.lstat(dot_git)
            break
        except FileNotFoundError:
            parent = os.path.dirname(folder)
            if parent == folder:
                return None
            folder = parent
        except OSError:
            return None
    if ".git" in os.path.relpath(cwd, folder).split(os.sep) or found.st_uid != os.geteuid():
        return None
    if stat.S_ISDIR(found.st_mode):
        git_dir = common = dot_git
    elif stat.S_ISREG(found.st_mode):
        text = read_small(dot_git)
        if text is None or not text.startswith("gitdir: "):
            return None
        git_dir = os.path.join(folder, text[len("gitdir: ") :].strip())
        pointer = read_small(os.path.join(git_dir, "commondir"))
        common = os.path.join(git_dir, pointer.strip()) if pointer is not None else git_dir
    else:
        return None
    config = read_small(os.path.join(common, "config"), 1 << 20)
    if config is None or not _plain_repository(config, git_dir):
        return None
    return folder, os.path.normpath(common)


def _plain_repository(config: str, git_dir: str) -> bool:
    """A git dir git would use as it is: HEAD present, and no setting that moves the work
    tree (core.worktree, a worktree's config.worktree) or declares it bare."""
    squeezed = config.lower().replace(" ", "").replace("\t", "")
    if "bare=true" in squeezed or "worktree=" in squeezed or "worktreeconfig" in squeezed:
        return False
    return os.path.isfile(os.path.join(git_dir, "HEAD"))


def registered_worktrees(common: str, limit: int) -> list[str]:
    """The folders of the linked worktrees git has registered (`worktrees/*/gitdir`), in the
    order of their records, at most `limit`; a record that does not read is left out."""
    try:
        records = sorted(os.scandir(os.path.join(common, "worktrees")), key=lambda e: e.name)
    except OSError:
        return []
    found = []
    for record in records[:limit]:
        pointer = read_small(os.path.join(record.path, "gitdir"))
        if pointer is not None:
            dot_git = os.path.normpath(os.path.join(record.path, pointer.strip()))
            found.append(os.path.dirname(dot_git))
    return found


def read_small(path: str, limit: int = 4096) -> str | None:
    """A small text file git wrote; None when it is missing, a link, not a regular file (a
    FIFO is not waited on), longer than limit or not UTF-8."""
    data = read_bytes(path, limit)
    if data is None:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def read_bytes(path: str, limit: int, *, own: bool = False) -> bytes | None:
    """The bytes of a regular file of at most limit bytes (with own, one of this user's);
    None for anything else: missing, a link, a FIFO (opened without waiting on it), too
    long. fsio.read_regular without pathlib, for the paths that answer before it loads."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or (own and st.st_uid != os.geteuid()):
            return None
        chunks, size = [], 0
        while size <= limit and (chunk := os.read(fd, limit + 1 - size)):
            chunks.append(chunk)
            size += len(chunk)
    finally:
        os.close(fd)
    return b"".join(chunks) if size <= limit else None
