"""Per-slot PostgreSQL: seed a template once, clone it into every slot.

One interface (`backend.Backend`), one backend per mode: cluster mode runs one server per
slot (data under git's common dir, so `git status` stays clean); server mode gives each
slot its own database on a server the user already runs. Either way the seed runs once,
against the template, and slots are copies of it.

The functions here are what callers use; each dispatches to `backend(grove)`. Every
change to one slot's database (provision, start, stop, reset, delete) runs under that
slot's database lock (`locks.py`) and the backend re-checks what it finds there, so two
`db start 1` or two `db reset 1` at once run one after the other. A slot's database
belongs to the worktree that made it (`owner`): a new worktree with a reused number never
gets the old one's rows. A server is stopped before its folder is deleted, and
`reap_orphans` stops the ones a crash left behind.
"""

from __future__ import annotations

import json
import os
import time

from grove.database.backend import Backend, DbStatus, Orphan, Provisioned, TemplateReport
from grove.database.cluster import Cluster
from grove.database.cluster_mode import ClusterBackend
from grove.database.locks import pg_root, slot_lock, template_lock
from grove.database.seeding import migrate_status, run_migrations
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
from grove.state import digests

__all__ = [
    "Backend",
    "DbStatus",
    "Orphan",
    "Provisioned",
    "Target",
    "TemplateReport",
    "backend",
    "check_port",
    "cluster",
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


def backend(grove: Grove) -> Backend:
    """The backend for [database] mode."""
    return ClusterBackend(grove) if config_of(grove).mode == "cluster" else ServerBackend(grove)


def cluster(grove: Grove, n: int | None) -> Cluster:
    """Slot n's cluster folder in cluster mode (None: the template)."""
    return ClusterBackend(grove).cluster(n)


def seed_digest(grove: Grove) -> str:
    """What the template was built from: the seed commands and every seed input's content."""
    db = config_of(grove)
    what = json.dumps([db.mode, db.name, list(db.seed), list(db.seed_inputs)])
    return digests.digest(
        grove.state_dir,
        f"seed:{what}",
        grove.main,
        list(db.seed_inputs),
        lambda: _hash_seed(grove, what),
    )


def _hash_seed(grove: Grove, what: str) -> str:
    import hashlib  # only when the seed's inputs changed (state/digests)

    db = config_of(grove)
    digest = hashlib.sha256()
    digest.update(what.encode())
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
    with template_lock(grove, "building the database template"):
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
    with slot_lock(grove, n, "provision"):
        cloned, started = backend(grove).provision(n, owner)
    return Provisioned(n, cloned, started, where.dbname, where.port, time.monotonic() - started_at)


def start(grove: Grove, n: int) -> bool:
    with slot_lock(grove, n, "start"):
        return backend(grove).start(n)


def stop(grove: Grove, n: int) -> bool:
    with slot_lock(grove, n, "stop"):
        return backend(grove).stop(n)


def status(grove: Grove, n: int) -> DbStatus:
    return backend(grove).status(n)


def reset(grove: Grove, n: int, owner: str | None = None) -> None:
    """Back to the template's state: the slot's own changes to its database are dropped."""
    with slot_lock(grove, n, "reset"):
        backend(grove).reset(n, owner)


def delete(grove: Grove, n: int) -> bool:
    """Stop and delete slot n's database. Callers guard main (slot 0)."""
    with slot_lock(grove, n, "delete"):
        return backend(grove).delete(n)


def disown(grove: Grove, n: int) -> None:
    """Kept for the next worktree with slot number n (`remove --keep-db`)."""
    with slot_lock(grove, n, "keep"):
        backend(grove).disown(n)


def orphans(grove: Grove, keep: set[int]) -> list[Orphan]:
    """Servers grove started that belong to no slot in `keep` and no build in progress."""
    return backend(grove).orphans(keep)


def reap_orphans(grove: Grove, keep: set[int]) -> list[str]:
    """Stop every orphan (its data stays: deleting it is `remove`'s job); returns one line
    per server stopped, for the command's notes. An orphan whose lock someone holds right
    now (a slot being provisioned, a build under way) is left alone."""
    return backend(grove).reap_orphans(keep)


def psql_command(grove: Grove, n: int, args: list[str]) -> tuple[list[str], dict[str, str]]:
    bin_dir = backend(grove).bin_dir()
    psql = str(bin_dir / "psql") if bin_dir else "psql"
    env = dict(os.environ)
    env.update(target(grove, n).env())
    return [psql, *args], env
