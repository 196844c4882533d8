"""Per-slot PostgreSQL: seed a template once, clone it into every slot.

Cluster mode runs one server per slot (data under git's common dir, so `git status` stays
clean); server mode gives each slot its own database on a server the user already runs.
Either way the seed runs once, against the template, and slots are copies of it.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from grove import fsio, output, ports, proc, slotenv
from grove.config import DatabaseConfig
from grove.database import server
from grove.database.binaries import find_bin
from grove.database.cluster import Cluster
from grove.errors import ConfigError, DatabaseError
from grove.slots import Grove

TEMPLATE_LOCK_TIMEOUT = 900.0


def config_of(grove: Grove) -> DatabaseConfig:
    db = grove.config.database
    if db is None:
        raise ConfigError(
            f"{grove.config.path or grove.main / 'grove.toml'}: [database] is not configured",
            hint='add [database] with engine = "postgres" to grove.toml',
        )
    return db


def pg_root(grove: Grove) -> Path:
    return grove.state_dir / "pg"


def database_name(db: DatabaseConfig, n: int) -> str:
    if db.mode == "cluster" or n == 0:
        return db.name
    return f"{db.name}_wt{n}"


@dataclass(frozen=True)
class Target:
    """Where a slot's (or the template's) database is, as libpq variables see it."""

    host: str
    port: int
    user: str
    password: str | None
    dbname: str

    def url(self) -> str:
        auth = quote(self.user, safe="")
        if self.password:
            auth += ":" + quote(self.password, safe="")
        return f"postgresql://{auth}@{self.host}:{self.port}/{quote(self.dbname, safe='')}"

    def env(self) -> dict[str, str]:
        values = {
            "DATABASE_URL": self.url(),
            "PGHOST": self.host,
            "PGPORT": str(self.port),
            "PGUSER": self.user,
            "PGDATABASE": self.dbname,
        }
        if self.password:
            values["PGPASSWORD"] = self.password
        return values


def target(grove: Grove, n: int) -> Target:
    db = config_of(grove)
    if db.mode == "cluster":
        port = grove.config.ports_for(n)[db.port_var]
        return Target("127.0.0.1", port, "postgres", None, db.name)
    address = server.ServerAddress.parse(db.url or "")
    return Target(address.host, address.port, address.user, address.password, database_name(db, n))


def env_values(grove: Grove, n: int) -> dict[str, str]:
    """What the slot's managed block gets: DATABASE_URL and the libpq variables."""
    return target(grove, n).env() if grove.config.database else {}


def cluster(grove: Grove, n: int | None) -> Cluster:
    db = config_of(grove)
    folder = pg_root(grove) / ("template" if n is None else f"slot-{n}")
    return Cluster(folder, find_bin(db.bin, grove.main))


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


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _command_env(grove: Grove, n: int, where: Target, bin_dir: Path | None) -> dict[str, str]:
    env = slotenv.process_env(grove, n)
    env.update(where.env())
    if bin_dir is not None:
        env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    return env


def _run_seed(grove: Grove, where: Target, bin_dir: Path | None) -> None:
    db = config_of(grove)
    env = _command_env(grove, 0, where, bin_dir)
    for index, command in enumerate(db.seed, 1):
        output.narrate(f"[seed {index}/{len(db.seed)}] {command}")
        proc.run_checked(
            command,
            grove.main,
            env,
            phase="database seed",
            slot=None,
            hint="fix the seed; no slot uses a half-seeded template, and the next "
            "`grove create` or `grove db reseed` builds it again",
            timeout=grove.config.step_timeout,
        )


@dataclass
class TemplateReport:
    built: bool
    digest: str
    seconds: float

    def as_json(self) -> dict[str, Any]:
        return {"built": self.built, "digest": self.digest[:16], "seconds": round(self.seconds, 3)}


def ensure_template(grove: Grove, rebuild: bool = False) -> TemplateReport:
    """Build the seeded template unless an up-to-date one exists (one builder at a time)."""
    db = config_of(grove)
    started = time.monotonic()
    if not rebuild and db.mode == "cluster":
        # The common case, checked without the lock: the marker is written last, after the
        # template is complete, so a matching digest means it is ready to clone.
        digest = seed_digest(grove)
        current = cluster(grove, None)
        if current.ready() and current.read_marker().get("digest") == digest:
            return TemplateReport(False, digest, time.monotonic() - started)
    with fsio.exclusive_lock(
        pg_root(grove) / "template.lock", TEMPLATE_LOCK_TIMEOUT, "building the database template"
    ):
        digest = seed_digest(grove)
        if db.mode == "cluster":
            built = _ensure_cluster_template(grove, digest, rebuild)
        else:
            built = _ensure_server_template(grove, digest, rebuild)
    return TemplateReport(built, digest, time.monotonic() - started)


def _ensure_cluster_template(grove: Grove, digest: str, rebuild: bool) -> bool:
    current = cluster(grove, None)
    if not rebuild and current.ready() and current.read_marker().get("digest") == digest:
        return False
    building = Cluster(pg_root(grove) / "template.building", current.bin)
    fsio.remove_tree(building.root)
    output.narrate("building the database template (runs the seed once)")
    try:
        building.initdb()
        port = _free_port()
        # The template is rebuilt from the seed whenever lost, so durability buys nothing.
        # Small WAL limits and a checkpoint before the stop: otherwise the seed leaves
        # preallocated WAL segments (half the template's size) that every clone would copy.
        building.start(
            port,
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
            "-c min_wal_size=32MB -c max_wal_size=32MB",
        )
        where = Target("127.0.0.1", port, "postgres", None, config_of(grove).name)
        server.create_database(_admin(where), where.dbname)
        _run_seed(grove, where, building.bin)
        server.checkpoint(_admin(where))
        building.stop()
        building.write_marker(digest=digest)
    except BaseException:
        try:
            building.stop()
        finally:
            fsio.remove_tree(building.root)
        raise
    old = pg_root(grove) / "template.old"
    fsio.remove_tree(old)
    if current.root.exists():
        current.root.rename(old)
    building.root.rename(current.root)
    fsio.remove_tree(old)
    return True


def _admin(where: Target) -> server.ServerAddress:
    return server.ServerAddress(where.host, where.port, where.user, where.password, "postgres")


def _server_address(grove: Grove) -> server.ServerAddress:
    return server.ServerAddress.parse(config_of(grove).url or "")


def template_name(db: DatabaseConfig) -> str:
    return f"{db.name}_template"


def _ensure_server_template(grove: Grove, digest: str, rebuild: bool) -> bool:
    db = config_of(grove)
    address = _server_address(grove)
    name = template_name(db)
    if not rebuild and server.template_hash(address, name) == digest:
        return False
    output.narrate(f"building the template database {name} (runs the seed once)")
    server.drop_database(address, name)
    server.create_database(address, name)
    where = Target(address.host, address.port, address.user, address.password, name)
    try:
        _run_seed(grove, where, _optional_bin(db, grove.main))
    except BaseException:
        server.drop_database(address, name)
        raise
    server.mark_template(address, name, digest)  # the marker goes on last
    return True


def _optional_bin(db: DatabaseConfig, main: Path) -> Path | None:
    try:
        return find_bin(db.bin, main)
    except DatabaseError:
        return None


def port_holder(grove: Grove, n: int) -> str | None:
    """Who holds slot n's database port, when it is not slot n's own server."""
    db = config_of(grove)
    if db.mode != "cluster":
        return None
    port = grove.config.ports_for(n)[db.port_var]
    own = cluster(grove, n).running_pid()
    for holder in ports.listeners().get(port, []):
        if own is not None and holder.pid == own:
            continue
        if holder.pid is None:
            return f"port {port} is in use by a process grove cannot see (another user's?)"
        return f"port {port} is held by pid {holder.pid} ({holder.program})"
    return None


def check_port(grove: Grove, n: int) -> None:
    holder = port_holder(grove, n)
    if holder is not None:
        raise DatabaseError(
            f"slot {n}'s database port is taken: {holder}",
            hint=f"stop that process, or move [ports] {config_of(grove).port_var} elsewhere",
        )


@dataclass
class Provisioned:
    slot: int
    cloned: bool
    started: bool
    database: str
    port: int
    seconds: float

    def as_json(self) -> dict[str, Any]:
        return {
            "slot": self.slot,
            "cloned": self.cloned,
            "started": self.started,
            "database": self.database,
            "port": self.port,
            "seconds": round(self.seconds, 3),
        }


def provision(grove: Grove, n: int) -> Provisioned:
    """Clone the template into slot n if it has no database yet, then make sure it runs."""
    db = config_of(grove)
    started_at = time.monotonic()
    where = target(grove, n)
    if db.mode == "server":
        address = _server_address(grove)
        cloned = False
        if not server.database_exists(address, where.dbname):
            with fsio.exclusive_lock(
                pg_root(grove) / "template.lock",
                TEMPLATE_LOCK_TIMEOUT,
                "cloning the database template",
            ):
                server.create_database(address, where.dbname, template_name(db))
            cloned = True
        return Provisioned(
            n, cloned, False, where.dbname, where.port, time.monotonic() - started_at
        )
    slot_cluster = cluster(grove, n)
    cloned = False
    if not slot_cluster.ready():
        check_port(grove, n)
        _clone_cluster(grove, slot_cluster)
        cloned = True
    started = start(grove, n)
    return Provisioned(n, cloned, started, where.dbname, where.port, time.monotonic() - started_at)


def _clone_cluster(grove: Grove, slot_cluster: Cluster) -> None:
    template = cluster(grove, None)
    with fsio.exclusive_lock(
        pg_root(grove) / "template.lock", TEMPLATE_LOCK_TIMEOUT, "cloning the database template"
    ):
        if not template.ready():
            raise DatabaseError(
                "the database template is missing", hint="`grove db reseed` builds it"
            )
        # Leftovers of a crash mid-clone never carried the ready marker: start over.
        slot_cluster.marker.unlink(missing_ok=True)
        fsio.remove_tree(slot_cluster.data)
        slot_cluster.root.mkdir(parents=True, exist_ok=True)
        output.narrate(f"cloning the database template into {slot_cluster.root.name}")
        fsio.copy_tree(template.data, slot_cluster.data)
        (slot_cluster.data / "postmaster.pid").unlink(missing_ok=True)
        slot_cluster.write_marker(digest=template.read_marker().get("digest"))


def start(grove: Grove, n: int) -> bool:
    db = config_of(grove)
    if db.mode == "server":
        return False
    slot_cluster = cluster(grove, n)
    if not slot_cluster.ready():
        raise DatabaseError(
            f"slot {n} has no database yet",
            hint=f"`grove refresh {n}` or `grove create {n}` provisions it",
        )
    if slot_cluster.running_pid() is not None:
        return False
    check_port(grove, n)
    return slot_cluster.start(target(grove, n).port)


def stop(grove: Grove, n: int) -> bool:
    db = config_of(grove)
    if db.mode == "server":
        return False
    return cluster(grove, n).stop()


@dataclass
class DbStatus:
    slot: int
    mode: str
    provisioned: bool
    running: bool
    database: str
    host: str
    port: int
    pid: int | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "slot": self.slot,
            "mode": self.mode,
            "provisioned": self.provisioned,
            "running": self.running,
            "database": self.database,
            "host": self.host,
            "port": self.port,
            "pid": self.pid,
        }


def status(grove: Grove, n: int) -> DbStatus:
    db = config_of(grove)
    where = target(grove, n)
    if db.mode == "server":
        address = _server_address(grove)
        try:
            exists = server.database_exists(address, where.dbname)
        except DatabaseError:
            return DbStatus(n, db.mode, False, False, where.dbname, where.host, where.port)
        return DbStatus(
            n,
            db.mode,
            exists,
            exists and server.ping(address, where.dbname),
            where.dbname,
            where.host,
            where.port,
        )
    slot_cluster = cluster(grove, n)
    pid = slot_cluster.running_pid()
    return DbStatus(
        n, db.mode, slot_cluster.ready(), pid is not None, where.dbname, where.host, where.port, pid
    )


def reset(grove: Grove, n: int) -> None:
    """Back to the template's state: the slot's own changes to its database are dropped."""
    db = config_of(grove)
    if db.mode == "server":
        address = _server_address(grove)
        name = database_name(db, n)
        with fsio.exclusive_lock(
            pg_root(grove) / "template.lock", TEMPLATE_LOCK_TIMEOUT, "resetting a database"
        ):
            server.drop_database(address, name)
            server.create_database(address, name, template_name(db))
        return
    slot_cluster = cluster(grove, n)
    slot_cluster.stop()
    slot_cluster.marker.unlink(missing_ok=True)
    _clone_cluster(grove, slot_cluster)
    start(grove, n)


def delete(grove: Grove, n: int) -> bool:
    """Stop and delete slot n's database. Callers guard main (slot 0)."""
    db = config_of(grove)
    if db.mode == "server":
        return server.drop_database(_server_address(grove), database_name(db, n))
    slot_cluster = cluster(grove, n)
    if not slot_cluster.root.exists():
        return False
    slot_cluster.stop()
    slot_cluster.marker.unlink(missing_ok=True)  # not ready from here on, even if rm stops
    fsio.remove_tree(slot_cluster.root)
    return True


def run_migrations(grove: Grove, n: int) -> list[str]:
    db = grove.config.database
    if db is None or not db.migrate:
        return []
    env = _command_env(grove, n, target(grove, n), _optional_bin(db, grove.main))
    for index, command in enumerate(db.migrate, 1):
        output.narrate(f"[migrate {index}/{len(db.migrate)}] {command}")
        proc.run_checked(
            command,
            grove.slot_path(n),
            env,
            phase="database migrate",
            slot=n,
            hint=f"fix the migration, then `grove refresh {n}`",
            timeout=grove.config.step_timeout,
        )
    return list(db.migrate)


def migrate_status(grove: Grove, n: int) -> proc.Completed | None:
    db = grove.config.database
    if db is None or not db.migrate_status:
        return None
    env = _command_env(grove, n, target(grove, n), _optional_bin(db, grove.main))
    return proc.run(["/bin/sh", "-c", db.migrate_status], cwd=grove.slot_path(n), env=env)


def psql_command(grove: Grove, n: int, args: list[str]) -> tuple[list[str], dict[str, str]]:
    db = config_of(grove)
    bin_dir = (
        find_bin(db.bin, grove.main) if db.mode == "cluster" else _optional_bin(db, grove.main)
    )
    psql = str(bin_dir / "psql") if bin_dir else "psql"
    env = dict(os.environ)
    env.update(target(grove, n).env())
    return [psql, *args], env
