"""Cluster mode: one PostgreSQL server per slot, its data under `.git/grove/pg/`."""

from __future__ import annotations

import socket
from pathlib import Path

from grove import fsio, output, ports
from grove.database import seeding
from grove.database.backend import Backend, DbStatus, Orphan
from grove.database.binaries import find_bin
from grove.database.cluster import Cluster
from grove.dbtarget import Target, target
from grove.errors import DatabaseError
from grove.slots import Grove

TEMPLATE = "template"
BUILDING = "template.building"


def pg_root(grove: Grove) -> Path:
    return grove.state_dir / "pg"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class ClusterBackend(Backend):
    def cluster(self, n: int | None) -> Cluster:
        folder = pg_root(self.grove) / (TEMPLATE if n is None else f"slot-{n}")
        return Cluster(folder, find_bin(self.db.bin, self.grove.main))

    def template_current(self, digest: str) -> bool:
        # The marker is written last, after the template is complete, so a matching digest
        # means it is ready to clone.
        current = self.cluster(None)
        return current.ready() and current.read_marker().get("digest") == digest

    def build_template(self, digest: str, rebuild: bool) -> bool:
        current = self.cluster(None)
        if not rebuild and self.template_current(digest):
            return False
        building = Cluster(pg_root(self.grove) / BUILDING, current.bin)
        # A build killed mid-way may have left its postgres running on that folder.
        _stop_quietly(building)
        fsio.remove_tree(building.root)
        output.narrate("building the database template (runs the seed once)")
        try:
            building.initdb()
            port = _free_port()
            # The template is rebuilt from the seed whenever lost, so durability buys
            # nothing. Small WAL limits and a checkpoint before the stop: otherwise the seed
            # leaves preallocated WAL segments (half the template's size) that every clone
            # would copy.
            building.start(
                port,
                "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
                "-c min_wal_size=32MB -c max_wal_size=32MB",
            )
            where = Target("127.0.0.1", port, "postgres", None, self.db.name)
            building.sql(port, f'CREATE DATABASE "{self.db.name}"')
            seeding.run_seed(self.grove, where, building.bin)
            building.sql(port, "CHECKPOINT")
            building.stop()
            building.write_marker(digest=digest)
        except BaseException:
            try:
                _stop_quietly(building)
            finally:
                fsio.remove_tree(building.root)
            raise
        old = pg_root(self.grove) / "template.old"
        _stop_quietly(Cluster(old, current.bin))
        fsio.remove_tree(old)
        if current.root.exists():
            current.root.rename(old)
        building.root.rename(current.root)
        fsio.remove_tree(old)
        return True

    def port_holder(self, n: int) -> str | None:
        port = self.grove.config.ports_for(n)[self.db.port_var]
        own = self.cluster(n).running_pid()
        for holder in ports.listeners().get(port, []):
            if own is not None and holder.pid == own:
                continue
            if holder.pid is None:
                return f"port {port} is in use by a process grove cannot see (another user's?)"
            return f"port {port} is held by pid {holder.pid} ({holder.program})"
        return None

    def _check_port(self, n: int) -> None:
        holder = self.port_holder(n)
        if holder is not None:
            raise DatabaseError(
                f"slot {n}'s database port is taken: {holder}",
                hint=f"stop that process, or move [ports] {self.db.port_var} elsewhere",
            )

    def provision(self, n: int, owner: str | None) -> tuple[bool, bool]:
        slot_cluster = self.cluster(n)
        cloned = False
        if slot_cluster.ready() and not _owned_by(slot_cluster, owner):
            # An earlier worktree's database (a remove that never finished): never hand
            # its rows to the new slot.
            output.narrate(f"slot {n}'s database belonged to an earlier worktree; starting afresh")
            self._discard(slot_cluster)
        if not slot_cluster.ready():
            self._check_port(n)
            self._clone(slot_cluster, owner)
            cloned = True
        elif owner is not None and slot_cluster.read_marker().get("owner") is None:
            slot_cluster.write_marker(**{**slot_cluster.read_marker(), "owner": owner})
        return cloned, self.start(n)

    def _clone(self, slot_cluster: Cluster, owner: str | None) -> None:
        template = self.cluster(None)
        with fsio.exclusive_lock(
            pg_root(self.grove) / "template.lock",
            seeding.TEMPLATE_LOCK_TIMEOUT,
            "cloning the database template",
        ):
            if not template.ready():
                raise DatabaseError(
                    "the database template is missing", hint="`grove db reseed` builds it"
                )
            # Leftovers of a crash mid-clone never carried the ready marker: start over,
            # after stopping any postgres still running on them.
            _stop_quietly(slot_cluster)
            slot_cluster.marker.unlink(missing_ok=True)
            fsio.remove_tree(slot_cluster.data)
            slot_cluster.root.mkdir(parents=True, exist_ok=True)
            output.narrate(f"cloning the database template into {slot_cluster.root.name}")
            fsio.copy_tree(template.data, slot_cluster.data)
            (slot_cluster.data / "postmaster.pid").unlink(missing_ok=True)
            fields = {"digest": template.read_marker().get("digest")}
            if owner is not None:
                fields["owner"] = owner
            slot_cluster.write_marker(**fields)

    def _discard(self, slot_cluster: Cluster) -> None:
        slot_cluster.stop()
        slot_cluster.marker.unlink(missing_ok=True)  # not ready from here on, even if rm stops
        fsio.remove_tree(slot_cluster.root)

    def start(self, n: int) -> bool:
        slot_cluster = self.cluster(n)
        if not slot_cluster.ready():
            raise DatabaseError(
                f"slot {n} has no database yet",
                hint=f"`grove refresh {n}` or `grove create {n}` provisions it",
            )
        if slot_cluster.running_pid() is not None:
            return False
        self._check_port(n)
        return slot_cluster.start(target(self.grove, n).port)

    def stop(self, n: int) -> bool:
        return self.cluster(n).stop()

    def status(self, n: int) -> DbStatus:
        where = target(self.grove, n)
        slot_cluster = self.cluster(n)
        pid = slot_cluster.running_pid()
        return DbStatus(
            n,
            self.db.mode,
            slot_cluster.ready(),
            pid is not None,
            where.dbname,
            where.host,
            where.port,
            pid,
        )

    def reset(self, n: int, owner: str | None) -> None:
        slot_cluster = self.cluster(n)
        slot_cluster.stop()
        slot_cluster.marker.unlink(missing_ok=True)
        self._clone(slot_cluster, owner)
        self.start(n)

    def delete(self, n: int) -> bool:
        slot_cluster = self.cluster(n)
        if not slot_cluster.root.exists():
            return False
        self._discard(slot_cluster)
        return True

    def disown(self, n: int) -> None:
        slot_cluster = self.cluster(n)
        if slot_cluster.ready():
            marker = slot_cluster.read_marker()
            marker.pop("owner", None)
            slot_cluster.write_marker(**marker)

    def orphans(self, keep: set[int]) -> list[Orphan]:
        """Running postgres processes under pg/ that belong to no slot in `keep` and to no
        build in progress."""
        root = pg_root(self.grove)
        try:
            folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.is_symlink())
        except OSError:
            return []
        found: list[Orphan] = []
        bin_dir = find_bin(self.db.bin, self.grove.main)
        for folder in folders:
            name = folder.name
            if name == TEMPLATE:
                continue
            if name.startswith("slot-") and name[5:].isdigit() and int(name[5:]) in keep:
                continue
            if name in (BUILDING, "template.old") and _build_in_progress(root):
                continue
            pid = Cluster(folder, bin_dir).running_pid()
            if pid is not None:
                why = (
                    "a template build that was interrupted"
                    if name == BUILDING
                    else ("a slot that no longer exists")
                )
                found.append(Orphan(folder, pid, why))
        return found

    def stop_orphan(self, orphan: Orphan) -> None:
        _stop_quietly(Cluster(orphan.folder, find_bin(self.db.bin, self.grove.main)))


def _owned_by(slot_cluster: Cluster, owner: str | None) -> bool:
    recorded = slot_cluster.read_marker().get("owner")
    return owner is None or recorded is None or recorded == owner


def _build_in_progress(root: Path) -> bool:
    with fsio.try_lock(root / "template.lock", "checking for a template build") as free:
        return not free


def _stop_quietly(cluster: Cluster) -> None:
    """Stop a postgres running on this folder, if any (a folder about to be deleted)."""
    if not (cluster.data / "postmaster.pid").exists():
        return
    try:
        cluster.stop()
    except DatabaseError:
        pid = cluster.running_pid()
        if pid is not None:
            import os
            import signal

            os.kill(pid, signal.SIGQUIT)  # postgres's immediate shutdown
