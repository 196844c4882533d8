"""Per-slot PostgreSQL: seed a template once, clone it into every slot.

One interface (`backend.Backend`), one backend per mode: cluster mode runs one server per
slot (data under git's common dir, so `git status` stays clean); server mode gives each
slot its own database on a server the user already runs. Either way the seed runs once,
against the template, and slots are copies of it.

Every change to one slot's database runs under that slot's database lock and re-checks
what it finds there, so two `db start 1` or two `db reset 1` at once run one after the
other. A slot's database belongs to the worktree that made it (`owner`): a new worktree
with a reused number never gets the old one's rows.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from grove import fsio
from grove.database.backend import Backend, DbStatus, Orphan, Provisioned, TemplateReport
from grove.database.binaries import find_bin
from grove.database.cluster_mode import ClusterBackend, pg_root
from grove.database.seeding import (
    TEMPLATE_LOCK_TIMEOUT,
    migrate_status,
    optional_bin,
    run_migrations,
)
from grove.database.server_mode import ServerBackend
from grove.dbtarget import (
    Target,
    config_of,
    database_name,
    env_values,
    target,
    template_name,
)
from grove.errors import DatabaseError
from grove.slots import Grove

__all__ = [
    "DbStatus",
    "Orphan",
    "Provisioned",
    "Target",
    "TemplateReport",
    "check_port",
    "config_of",
    "database_name",
    "delete",
    "disown",
    "ensure_template",
    "env_values",
    "migrate_status",
    "orphans",
    "pg_root",
    "port_holder",
    "provision",
    "psql_command",
    "reap_orphans",
    "reset",
    "run_migrations",
    "seed_digest",
    "start",
    "status",
    "stop",
    "target",
    "template_name",
]

SLOT_LOCK_TIMEOUT = 900.0


def backend(grove: Grove) -> Backend:
    return ClusterBackend(grove) if config_of(grove).mode == "cluster" else ServerBackend(grove)


@contextmanager
def _slot_lock(grove: Grove, n: int, purpose: str) -> Iterator[None]:
    with fsio.exclusive_lock(
        pg_root(grove) / "locks" / f"slot-{n}.lock",
        SLOT_LOCK_TIMEOUT,
        f"slot {n}'s database: {purpose}",
    ):
        yield


def seed_digest(grove: Grove) -> str:
    """What the template was built from: the seed commands and every seed input's content."""
    db = config_of(grove)
    digest = hashlib.sha256()
    digest.update(json.dumps([db.mode, db.name, list(db.seed), list(db.seed_inputs)]).encode())
    for relative in db.seed_inputs:
        path = grove.main / relative
        digest.update(relative.encode() + b"\0")
        digest.update(path.read_bytes() if path.is_file() else b"<missing>")
        digest.update(b"\0")
    return digest.hexdigest()


def ensure_template(grove: Grove, rebuild: bool = False) -> TemplateReport:
    """Build the seeded template unless an up-to-date one exists (one builder at a time)."""
    chosen = backend(grove)
    started = time.monotonic()
    if not rebuild:
        digest = seed_digest(grove)
        if chosen.template_current(digest):  # the common case, checked without the lock
            return TemplateReport(False, digest, time.monotonic() - started)
    with fsio.exclusive_lock(
        pg_root(grove) / "template.lock", TEMPLATE_LOCK_TIMEOUT, "building the database template"
    ):
        digest = seed_digest(grove)
        built = chosen.build_template(digest, rebuild)
    return TemplateReport(built, digest, time.monotonic() - started)


def port_holder(grove: Grove, n: int) -> str | None:
    """Who holds slot n's database port, when it is not slot n's own server."""
    return backend(grove).port_holder(n)


def check_port(grove: Grove, n: int) -> None:
    holder = port_holder(grove, n)
    if holder is not None:
        raise DatabaseError(
            f"slot {n}'s database port is taken: {holder}",
            hint=f"stop that process, or move [ports] {config_of(grove).port_var} elsewhere",
        )


def provision(grove: Grove, n: int, owner: str | None = None) -> Provisioned:
    """Clone the template into slot n if it has no database of `owner`'s, then make sure it
    runs."""
    started_at = time.monotonic()
    where = target(grove, n)
    with _slot_lock(grove, n, "provision"):
        cloned, started = backend(grove).provision(n, owner)
    return Provisioned(n, cloned, started, where.dbname, where.port, time.monotonic() - started_at)


def start(grove: Grove, n: int) -> bool:
    with _slot_lock(grove, n, "start"):
        return backend(grove).start(n)


def stop(grove: Grove, n: int) -> bool:
    with _slot_lock(grove, n, "stop"):
        return backend(grove).stop(n)


def status(grove: Grove, n: int) -> DbStatus:
    return backend(grove).status(n)


def reset(grove: Grove, n: int, owner: str | None = None) -> None:
    """Back to the template's state: the slot's own changes to its database are dropped."""
    with _slot_lock(grove, n, "reset"):
        backend(grove).reset(n, owner)


def delete(grove: Grove, n: int) -> bool:
    """Stop and delete slot n's database. Callers guard main (slot 0)."""
    with _slot_lock(grove, n, "delete"):
        return backend(grove).delete(n)


def disown(grove: Grove, n: int) -> None:
    """Kept for the next worktree with slot number n (`remove --keep-db`)."""
    with _slot_lock(grove, n, "keep"):
        backend(grove).disown(n)


def orphans(grove: Grove, keep: set[int]) -> list[Orphan]:
    """Servers grove started that belong to no slot in `keep` and no build in progress."""
    return backend(grove).orphans(keep)


def reap_orphans(grove: Grove, keep: set[int]) -> list[str]:
    """Stop every orphan; returns what was stopped, for the command's notes."""
    chosen = backend(grove)
    stopped = []
    for orphan in chosen.orphans(keep):
        chosen.stop_orphan(orphan)
        stopped.append(f"stopped pid {orphan.pid}: {orphan.why} ({orphan.folder.name})")
    return stopped


def psql_command(grove: Grove, n: int, args: list[str]) -> tuple[list[str], dict[str, str]]:
    db = config_of(grove)
    bin_dir: Path | None = (
        find_bin(db.bin, grove.main) if db.mode == "cluster" else optional_bin(db, grove.main)
    )
    psql = str(bin_dir / "psql") if bin_dir else "psql"
    env = dict(os.environ)
    env.update(target(grove, n).env())
    return [psql, *args], env
