"""A warm take's git work, begun before the rest of take loads.

Loading take's modules, checking the shared files' approval and reading the leases took
about 20 ms before a take's first git process started, and then the take waited on git:
for the three questions about the request (start commit, branch name valid, branch new)
and for the status of the slot it hands out. Both now start first: the status as the CLI
starts (`begin_status`, before argparse loads), the questions once the arguments are
parsed (`begin`).

The status is of the slot the take will most likely get, and it is read under that slot's
lock: `begin_status` takes the lock (it never waits for it) before the status starts, and
holds it until the take has chosen its slot (`end`). A slot's lock is held for the whole of any
change to the slot, and may be taken before the grove lock (the lifecycle's discipline),
so no other grove command changes the slot while its status is read, and none is kept
waiting under the grove lock. Whether the slot is free is still decided under the grove
lock; only its status comes from here, and only for the slot whose lock was held first.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

from grove import dotgit, git
from grove.errors import GroveError
from grove.lifecycle.locks import try_slot_lock
from grove.record import record
from grove.slots import RECORDS_LIMIT, Grove
from grove.state import leases


@record
class _Begun:
    slot: int | None
    slot_path: str | None  # its real path
    status: Callable[[], git.Status] | None
    lock: ExitStack
    request_key: tuple[str, str, str | None] | None = None  # (main's real path, ref, branch)
    request: Callable[[], tuple[str | None, bool, bool]] | None = None


# What this process began (one take per process): at most one entry.
_begun: list[_Begun] = []


def begin_status(grove: Grove) -> None:
    """Start the likely slot's status, under that slot's lock; the CLI calls this before
    it parses the arguments. Nothing when a head start is already under way."""
    if _begun:
        return
    lock = ExitStack()
    try:
        slot = _likely_free(grove, lock)
        path = None if slot is None else grove.slot_path(slot)
        status = None if path is None else git.start_status(path)
    except BaseException:
        lock.close()  # nothing was begun: no slot stays locked
        raise
    _begun.append(_Begun(slot, None if path is None else os.path.realpath(path), status, lock))


def begin(grove: Grove, branch: str | None, start: str | None) -> None:
    """Start the request's questions, and the likely slot's status unless begin_status
    already has."""
    begin_status(grove)
    begun = _begun[0]
    if begun.request is not None:
        with contextlib.suppress(GroveError):
            begun.request()  # an earlier request's questions, reaped unread
    ref = start or "HEAD"
    begun.request_key = (os.path.realpath(grove.main), ref, branch)
    begun.request = git.start_request_checks(grove.main, ref, branch)


def _likely_free(grove: Grove, lock: ExitStack) -> int | None:
    """The lowest slot that looks free (registered, its folder present, not adopted, no
    live lease), read without the grove lock, with its lock taken into `lock`. A wrong
    guess costs one status nobody reads."""
    registered = {
        grove.index_for(Path(folder))
        for folder in dotgit.registered_worktrees(str(grove.common_dir), RECORDS_LIMIT)
    }
    for n in range(1, grove.config.slots):
        path = grove.slot_path(n)
        if n not in registered or n in grove.adopted or path.is_symlink() or not path.is_dir():
            continue
        try:
            if not leases.reclaimable(leases.read(grove.state_dir, n)):
                continue
        except GroveError:
            return None  # the take itself names the damaged file
        attempt = ExitStack()
        if attempt.enter_context(try_slot_lock(grove, n, "take")):
            lock.enter_context(attempt)  # held until end()
            return n
        attempt.close()  # another command is changing it
    return None


def request_answers(
    repo: Path, ref: str, branch: str | None
) -> Callable[[], tuple[str | None, bool, bool]] | None:
    """The started questions about (repo, ref, branch), once; None when begin asked others
    or nothing was begun."""
    begun = _begun[0] if _begun else None
    if begun is None or begun.request_key != (os.path.realpath(repo), ref, branch):
        return None
    answers, begun.request = begun.request, None
    return answers


def status_of(n: int, path: Path) -> git.Status | None:
    """Slot n's status, read while this process held n's lock; None when begin chose
    another slot (or none). Raises GitError as git.status does."""
    begun = _begun[0] if _begun else None
    if begun is None or begun.slot != n or begun.status is None:
        return None
    if os.path.realpath(path) != begun.slot_path:
        return None
    collect, begun.status = begun.status, None
    return collect()


def end() -> None:
    """The take has chosen its slot, or failed: reap what nobody read, release the lock.
    A slot the take chose stays locked by the take itself."""
    if not _begun:
        return
    begun = _begun.pop()
    try:
        for unread in (begun.request, begun.status):
            if unread is not None:
                with contextlib.suppress(GroveError):  # nobody asked for it
                    unread()
    finally:
        begun.lock.close()
