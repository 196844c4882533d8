"""Digests of files that rarely change (lockfiles, migrations, seed inputs), kept with the
file stats they were made from. `take` compares these digests on every hand-over; hashing a
30 MB seed file and a lockfile again each time was most of what a warm take did.

A digest is reused only when every file's size, mtime, ctime and inode match what was
recorded. ctime cannot be set from user space, so a rewrite of the content always changes
it; and a file changed within the last few seconds is never recorded (a second change in
the same clock tick would otherwise look unchanged, git's "racily clean" case). A cache
that does not read is ignored: it only ever saves work.
"""

from __future__ import annotations

import contextlib
import json
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from grove import fsio
from grove.state import store

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing
if TYPE_CHECKING:
    from typing import Any

FILE = "digests.json"
SETTLED_NS = 3_000_000_000  # a file younger than this may still change within its tick
MAX_ENTRIES = 256  # a handful per slot; past this the oldest go


def sha256(data: bytes = b"") -> Any:
    """hashlib.sha256, without loading OpenSSL (hashlib's import: 2-3 ms, and a warm take
    needs a digest or two of a few bytes): CPython's own sha256 module, named _sha2 since
    3.12, hashlib where neither exists. The same digests either way."""
    try:  # by version: a failed import is not remembered, and searches sys.path each time
        own = __import__("_sha2" if sys.version_info >= (3, 12) else "_sha256")
    except ImportError:
        import hashlib as own
    return own.sha256(data)


def digest(
    state_dir: Path, key: str, root: Path, names: Sequence[str], compute: Callable[[], str]
) -> str:
    """compute(), or the digest recorded under key when root's files `names` are unchanged."""
    stamp, newest = _stamp(root, names)
    path = state_dir / FILE
    cache = _read(path)
    entry = cache.get(key)
    if isinstance(entry, dict) and entry.get("stamp") == stamp:
        recorded = entry.get("digest")
        if isinstance(recorded, str):
            return recorded
    found = compute()
    if time.time_ns() - newest > SETTLED_NS:
        cache.pop(key, None)
        cache[key] = {"stamp": stamp, "digest": found}
        while len(cache) > MAX_ENTRIES:
            cache.pop(next(iter(cache)))
        # A cache that cannot be written costs a hash next time, nothing more.
        with contextlib.suppress(OSError):
            store.write_json(path, cache)
    return found


def _stamp(root: Path, names: Sequence[str]) -> tuple[list[list[object]], int]:
    """Each file's name, size, mtime, ctime and inode, and the newest ctime among them."""
    stamp: list[list[object]] = []
    newest = 0
    for name in sorted(set(names)):
        try:
            st = (root / name).stat()
        except OSError:
            stamp.append([name, None])
            continue
        stamp.append([name, st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino])
        newest = max(newest, st.st_ctime_ns, st.st_mtime_ns)
    return stamp, newest


def _read(path: Path) -> dict[str, object]:
    """The cache; empty when it is not a readable document (a link, a FIFO, too big)."""
    try:
        data = json.loads(fsio.read_regular(path, store.MAX_RECORD_BYTES, follow=False))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}
