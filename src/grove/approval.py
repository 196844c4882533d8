"""Tamper evidence for the shared files: what was approved, and which keys changed since.

A write to the shared .env from any slot reaches every slot, so a change nobody approved is
worth an error. The record holds hashes only, never values, under git's common dir.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from typing import Any

from grove import envfile, fsio
from grove.slots import Grove
from grove.state import store

RECORD = "approved.json"


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def snapshot(grove: Grove) -> dict[str, dict[str, Any]]:
    """Each shared file in main: the hash of its bytes and of each key's value."""
    files: dict[str, dict[str, Any]] = {}
    for shared in grove.config.shared:
        path = grove.main / shared
        if not path.is_file():
            files[shared] = {"sha256": None, "keys": {}}
            continue
        data = path.read_bytes()
        values = envfile.parse_text(data.decode("utf-8", errors="replace"))
        files[shared] = {
            "sha256": _digest(data),
            "keys": {k: _digest(f"{k}\0{v}".encode())[:16] for k, v in values.items()},
        }
    return files


def _parse(data: Any) -> dict[str, Any]:
    files = data.get("files") if isinstance(data, dict) else None
    if not isinstance(files, dict) or not all(isinstance(f, dict) for f in files.values()):
        raise TypeError('expected an object with a "files" table')
    for name, entry in files.items():
        if not isinstance(entry.get("keys", {}), dict):
            raise TypeError(f"files.{name}.keys must be an object")
    return dict(data)


def read(grove: Grove) -> dict[str, Any] | None:
    """The approved state, or None before the first approval. A damaged record is refused:
    read as empty, the next create would approve whatever the shared file holds now."""
    path = grove.state_dir / RECORD
    repair = f"review the shared files, then delete {path} and run `grove env approve`"
    return store.read_record(path, repair, _parse)


def approve(grove: Grove) -> dict[str, dict[str, Any]]:
    files = snapshot(grove)
    record = {"approved_at": time.time(), "files": files}
    fsio.write_atomic(grove.state_dir / RECORD, json.dumps(record, indent=2, sort_keys=True) + "\n")
    return files


def record_initial(grove: Grove) -> bool:
    """On the first create or refresh, the current state becomes the approved one."""
    if read(grove) is not None:
        return False
    approve(grove)
    return True


@dataclass(frozen=True)
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


def drift(grove: Grove, record: dict[str, Any]) -> list[Drift]:
    """Shared files whose bytes differ from the approved record, with key names only."""
    approved = record["files"]
    found: list[Drift] = []
    for name, now in snapshot(grove).items():
        before = approved.get(name, {"sha256": None, "keys": {}})
        if now["sha256"] == before.get("sha256"):
            continue
        old_keys: dict[str, str] = before.get("keys", {})
        new_keys: dict[str, str] = now["keys"]
        found.append(
            Drift(
                file=name,
                added=sorted(new_keys.keys() - old_keys.keys()),
                removed=sorted(old_keys.keys() - new_keys.keys()),
                changed=sorted(
                    k for k in new_keys.keys() & old_keys.keys() if new_keys[k] != old_keys[k]
                ),
                appeared=before.get("sha256") is None,
                vanished=now["sha256"] is None,
            )
        )
    return found
