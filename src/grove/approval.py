"""Tamper evidence for the shared files: what was approved, and which keys changed since.

A write to the shared .env from any slot reaches every slot, so a change nobody approved is
worth an error, and commands that run steps refuse it (lifecycle.gate). The record holds
digests only, never values, under git's common dir.

The digests are HMAC-SHA256 with a random key kept beside the record (0600). A plain hash
of `KEY=value` can be reversed by trying values: a 5-digit PIN fell in 0.09 s to the
64-bit hashes earlier versions stored (issue 13). Without the key, no guess can be checked.
"""

from __future__ import annotations

import json
import stat
import time
from collections.abc import Mapping
from pathlib import Path

from grove import envfile, fsio
from grove.errors import DamagedState
from grove.record import record
from grove.slots import Grove
from grove.state import store

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing
if TYPE_CHECKING:
    from typing import Any

RECORD = "approved.json"
KEY_FILE = "approval.key"
SCHEME = "hmac-sha256"
KEY_BYTES = 32
KEY_LOCK_TIMEOUT = 120.0


class KeyLost(DamagedState):
    """A keyed record exists but its key does not read: nothing can be checked against it.
    `grove env approve` is the repair (a new key, the current state recorded)."""


@record(frozen=True)
class Record:
    """An approval as read from approved.json. `legacy`: written by an older grove with
    unkeyed hashes (`sha256` per file, 16 hex digits per key)."""

    files: dict[str, dict[str, Any]]
    legacy: bool = False
    approved_at: float | None = None


@record(frozen=True)
class _Shared:
    """A shared file in main as read once: every digest of one check comes from this read,
    so what is compared is what gets recorded."""

    name: str
    data: bytes | None
    values: dict[str, str]


def _read_shared(grove: Grove) -> list[_Shared]:
    found: list[_Shared] = []
    for name in grove.config.shared:
        path = grove.main / name
        try:
            data = envfile.read_bytes(path)
        except fsio.FileTooLarge as exc:
            raise envfile.unreadable(path, exc) from None
        except OSError:  # missing, or a FIFO or folder (never waited on): no file to judge
            found.append(_Shared(name, None, {}))
            continue
        # Decoded leniently: approval judges bytes; an undecodable file is named elsewhere.
        values = envfile.parse_text(data.decode("utf-8", errors="replace"))
        found.append(_Shared(name, data, values))
    return found


def _mac(key: bytes, *parts: bytes) -> str:
    import hashlib  # with hmac, 2-4 ms that a take whose files are known unchanged skips
    import hmac

    # NUL between parts: "A" + "B=C" and "AB" + "=C" never give the same input.
    return hmac.new(key, b"\0".join(parts), hashlib.sha256).hexdigest()


def _keyed(key: bytes, shared: list[_Shared]) -> dict[str, dict[str, Any]]:
    return {
        s.name: {
            "digest": None if s.data is None else _mac(key, b"file", s.data),
            "keys": {k: _mac(key, b"key", k.encode(), v.encode()) for k, v in s.values.items()},
        }
        for s in shared
    }


def _legacy(shared: list[_Shared]) -> dict[str, dict[str, Any]]:
    """The digests older versions stored: only ever computed to compare with such a record,
    never written."""
    import hashlib

    return {
        s.name: {
            "digest": None if s.data is None else hashlib.sha256(s.data).hexdigest(),
            "keys": {
                k: hashlib.sha256(f"{k}\0{v}".encode()).hexdigest()[:16]
                for k, v in s.values.items()
            },
        }
        for s in shared
    }


def _repair(grove: Grove) -> str:
    return (
        f"review the shared files, then delete {grove.state_dir / RECORD} and run "
        "`grove env approve`"
    )


def _entry(name: str, entry: Any, digest_field: str) -> dict[str, Any]:
    if not isinstance(entry, dict):
        raise TypeError(f"files.{name} must be an object")
    digest = entry.get(digest_field)
    keys = entry.get("keys", {})
    if digest is not None and not isinstance(digest, str):
        raise TypeError(f"files.{name}.{digest_field} must be text")
    if not isinstance(keys, dict) or not all(isinstance(v, str) for v in keys.values()):
        raise TypeError(f"files.{name}.keys must be an object of digests")
    return {"digest": digest, "keys": dict(keys)}


def _parse(data: Any) -> Record:
    files = data.get("files") if isinstance(data, dict) else None
    if not isinstance(files, dict):
        raise TypeError('expected an object with a "files" table')
    scheme = data.get("scheme")
    if scheme not in (None, SCHEME):
        raise ValueError(f"unknown scheme {scheme!r}")
    legacy = scheme is None  # older versions wrote no scheme: plain sha256
    field = "sha256" if legacy else "digest"
    at = data.get("approved_at")
    return Record(
        {name: _entry(name, entry, field) for name, entry in files.items()},
        legacy=legacy,
        approved_at=at if isinstance(at, int | float) else None,
    )


def read(grove: Grove) -> Record | None:
    """The approved state, or None before the first approval. A damaged record is refused:
    read as empty, the next create would approve whatever the shared file holds now."""
    return store.read_record(grove.state_dir / RECORD, _repair(grove), _parse)


def key_path(grove: Grove) -> Path:
    return grove.state_dir / KEY_FILE


def _read_key(path: Path, repair: str) -> bytes | None:
    try:
        mode = path.lstat().st_mode
    except FileNotFoundError:
        return None
    if not stat.S_ISREG(mode):
        raise KeyLost(f"{path}: expected a regular file", hint=repair, details={"file": str(path)})
    try:
        text = path.read_text(encoding="ascii").strip()
        key = bytes.fromhex(text)
    except (OSError, UnicodeDecodeError, ValueError):
        key = b""
    if len(key) != KEY_BYTES:
        # The key is never echoed: it is what keeps the digests from being checked.
        raise KeyLost(
            f"{path}: not a {KEY_BYTES}-byte key in hex", hint=repair, details={"file": str(path)}
        )
    return key


def load_key(grove: Grove) -> bytes:
    """This repository's approval key. Only an approval creates it (validate never writes);
    without it a keyed record cannot be checked, which is KeyLost."""
    path = key_path(grove)
    key = _read_key(path, _key_repair(grove))
    if key is None:
        raise KeyLost(
            f"{path} is missing, so {grove.state_dir / RECORD} cannot be checked",
            hint=_key_repair(grove),
            details={"file": str(path)},
        )
    return key


def _key_repair(grove: Grove) -> str:
    path = key_path(grove)
    return (
        f"review the shared files, then `grove env approve` records them again (delete {path} "
        "first if it exists: a new key is made)"
    )


def _key_for_writing(grove: Grove) -> tuple[bytes, bool]:
    """The key, made first when there is none; True when it was just made."""
    path = key_path(grove)
    key = _read_key(path, _key_repair(grove))
    if key is not None:
        return key, False
    store.check_state_dir(grove.state_dir)
    # Under the grove lock: two first approvals at once must not each write a key and
    # leave a record signed with the one that lost the race.
    with fsio.exclusive_lock(grove.lock_path, KEY_LOCK_TIMEOUT, "approval key"):
        key = _read_key(path, _key_repair(grove))
        if key is not None:
            return key, False
        import secrets  # here: it loads base64 and random, and only a first approval needs it

        key = secrets.token_bytes(KEY_BYTES)
        fsio.write_atomic(path, key.hex() + "\n", mode=0o600)
    return key, True


def _write(grove: Grove, files: Mapping[str, dict[str, Any]]) -> None:
    record = {"scheme": SCHEME, "approved_at": time.time(), "files": dict(files)}
    text = json.dumps(record, indent=2, sort_keys=True) + "\n"
    fsio.write_atomic(grove.state_dir / RECORD, text, mode=0o600)


def approve(grove: Grove, only: str | None = None) -> dict[str, dict[str, Any]]:
    """Record the shared files' current state as reviewed; with `only`, that file's alone:
    the others keep what was approved before (an unreviewed change to them stays one).
    Without any record yet, every file is recorded: first use, as record_initial."""
    record = read(grove) if only is not None else None
    key, new_key = _key_for_writing(grove)
    shared = _read_shared(grove)
    now = _keyed(key, shared)
    if only is None or record is None:
        _write(grove, now)
        return now
    files: dict[str, dict[str, Any]] = {only: now[only]} if only in now else {}
    before = _legacy(shared) if record.legacy else now
    for name, entry in record.files.items():
        if name == only:
            continue
        if not record.legacy and not new_key:
            files[name] = entry
        elif record.legacy and name in now and entry["digest"] == before[name]["digest"]:
            files[name] = now[name]  # the same bytes as approved: carried over, keyed
        # An entry that cannot be carried (an old unkeyed one whose file changed, or one
        # made with a key that is gone) is dropped: that file shows as unapproved.
    _write(grove, files)
    return files


def record_initial(grove: Grove) -> bool:
    """On the first create or refresh, the current state becomes the approved one."""
    if read(grove) is not None:
        return False
    approve(grove)
    return True


@record(frozen=True)
class Drift:
    file: str
    added: list[str]
    removed: list[str]
    changed: list[str]
    appeared: bool = False
    vanished: bool = False

    def summary(self) -> str:
        if self.vanished:
            return f"{self.file} was deleted"
        parts = []
        for label, keys in (
            ("added", self.added),
            ("removed", self.removed),
            ("changed", self.changed),
        ):
            if keys:
                parts.append(f"{label} {', '.join(keys)}")
        what = "; ".join(parts) or "only formatting or comments changed"
        return f"{self.file} {'appeared' if self.appeared else 'changed'}: {what}"

    def as_json(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "added": self.added,
            "removed": self.removed,
            "changed": self.changed,
        }


def _compare(
    approved: Mapping[str, dict[str, Any]], now: Mapping[str, dict[str, Any]]
) -> list[Drift]:
    found: list[Drift] = []
    for name, current in now.items():
        before = approved.get(name, {"digest": None, "keys": {}})
        if current["digest"] == before["digest"]:
            continue
        old_keys: dict[str, str] = before["keys"]
        new_keys: dict[str, str] = current["keys"]
        found.append(
            Drift(
                file=name,
                added=sorted(new_keys.keys() - old_keys.keys()),
                removed=sorted(old_keys.keys() - new_keys.keys()),
                changed=sorted(
                    k for k in new_keys.keys() & old_keys.keys() if new_keys[k] != old_keys[k]
                ),
                appeared=before["digest"] is None,
                vanished=current["digest"] is None,
            )
        )
    return found


def drift(grove: Grove, record: Record) -> list[Drift]:
    """Shared files whose bytes differ from the approved record, with key names only. An
    old unkeyed record is compared the old way, so its changes are still named."""
    shared = _read_shared(grove)
    now = _legacy(shared) if record.legacy else _keyed(load_key(grove), shared)
    return _compare(record.files, now)


@record(frozen=True)
class Status:
    """What a command that runs steps needs to know (lifecycle.gate)."""

    recorded: bool  # an approval exists (else: first use)
    changes: list[Drift]
    legacy: bool = False  # the record is an old unkeyed one
    upgraded: bool = False  # ... and was rewritten keyed, the files being exactly as approved


def known_unchanged(grove: Grove) -> bool:
    """Whether the shared files are exactly as approved, answered from state/digests while
    they, the record and its key are as they were when last checked (size, mtime, ctime,
    inode); anything else is checked in full by `status`. Parsing every shared file and an
    HMAC per key, with hashlib's load, were 3-5 ms of each take. Whoever could rewrite that
    cache can as well read the key and rewrite the record (the same user's files under
    .git/grove), so the cache opens no way around the check."""
    from grove.state import digests

    ours = [str(grove.state_dir / RECORD), str(grove.state_dir / KEY_FILE)]  # absolute

    def check() -> str:
        found = status(grove, upgrade=False)
        return "unchanged" if found.recorded and not found.changes and not found.legacy else ""

    key = "approved:" + json.dumps(sorted(grove.config.shared))
    inputs = [*grove.config.shared, *ours]
    return digests.digest(grove.state_dir, key, grove.main, inputs, check) == "unchanged"


def status(grove: Grove, *, upgrade: bool) -> Status:
    """The shared files against the approval. With `upgrade`, an old unkeyed record whose
    files are exactly as it approved them is rewritten keyed: the same state, no longer
    open to brute force. One that differs is left for a person to approve."""
    record = read(grove)
    if record is None:
        return Status(recorded=False, changes=[])
    if not record.legacy:
        return Status(recorded=True, changes=drift(grove, record))
    shared = _read_shared(grove)
    changes = _compare(record.files, _legacy(shared))
    if changes or not upgrade:
        return Status(recorded=True, changes=changes, legacy=True)
    # Written from the very read that was compared: a change made since is not approved.
    _write(grove, _keyed(_key_for_writing(grove)[0], shared))
    return Status(recorded=True, changes=[], legacy=True, upgraded=True)
