"""Cluster mode: one PostgreSQL server per slot, its data under `.git/grove/pg/`.

Every cluster takes only the repository's password (`dbtarget.cluster_password`). One made
by an older grove, with trust auth, is secured in place rather than rebuilt: the template
under the template lock before it is next used, a slot's cluster at its next start (a
running one is stopped first, then started again), so a slot keeps its data. See
`Cluster.secure`.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from contextlib import AbstractContextManager
from pathlib import Path

from grove import fsio, output, ports
from grove.database import binaries, seeding
from grove.database.backend import Backend, DbStatus, Orphan
from grove.database.binaries import find_bin
from grove.database.cluster import Cluster
from grove.database.locks import pg_root, slot_lock_path, template_lock, template_lock_path
from grove.dbtarget import CLUSTER_USER, Target, cluster_password, target
from grove.errors import DatabaseError
from grove.slots import Grove

TEMPLATE = "template"
BUILDING = "template.building"
OLD = "template.old"


def _free_port() -> int:
    import socket  # only a template build needs it

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class ClusterBackend(Backend):
    def bin_dir(self) -> Path:
        """For a new cluster (a template build)."""
        return find_bin(self.db.bin, self.grove.main)

    def cluster(self, n: int | None, strict: bool = False) -> Cluster:
        """Slot n's cluster (the template for None), with the binaries of the PostgreSQL
        major version its data was made with. strict: refuse when this machine no longer
        has that version (anything that starts or changes it); otherwise a best guess that
        reading its state (pid, marker) does not need."""
        folder = pg_root(self.grove) / (TEMPLATE if n is None else f"slot-{n}")
        return Cluster(folder, self._bin_for(folder, n, strict))

    def _bin_for(self, folder: Path, n: int | None, strict: bool) -> Path:
        major = binaries.data_major(folder / "data")
        if major is None:
            return self.bin_dir() if strict else self._any_bin()
        recorded = Cluster(folder, Path()).read_marker().get("bin")
        recorded = recorded if isinstance(recorded, str) else None
        found = binaries.for_major(
            major, recorded, self.db.bin, self.grove.main, self.grove.state_dir
        )
        if found is not None:
            return found
        if strict:
            what = "the database template" if n is None else f"slot {n}'s database"
            raise binaries.missing_major(what, major, recorded)
        return Path(recorded) if recorded else self._any_bin()

    def _any_bin(self) -> Path:
        try:
            return self.bin_dir()
        except DatabaseError:
            return Path("/nonexistent/postgresql/bin")  # only read state; starting refuses

    def template_current(self, digest: str) -> bool:
        # The marker is written last, after the template is complete, so a matching digest
        # means it is ready to clone.
        current = self.cluster(None)
        return (
            current.ready()
            and current.read_marker().get("digest") == digest
            and current.secured(cluster_password(self.grove))
        )

    def build_template(self, digest: str, rebuild: bool) -> bool:
        current = self.cluster(None)
        password = cluster_password(self.grove)
        if not rebuild and self.template_current(digest):
            return False
        if not rebuild and current.ready() and current.read_marker().get("digest") == digest:
            current = self.cluster(None, strict=True)
            # Seeded by an older grove (trust auth) or keyed to a replaced password: the seed
            # need not run again, the template only takes the password.
            output.narrate("securing the database template with the repository's password")
            current.stop()  # the template never runs, unless a crash left it running
            current.secure(_free_port(), password)
            return False
        # A new build takes this machine's PostgreSQL (find_bin), not the old template's.
        building = Cluster(pg_root(self.grove) / BUILDING, self.bin_dir())
        # A build killed mid-way (kill -9) may have left its postgres running on that
        # folder; we hold the template lock, so no live builder owns it.
        stop_before_delete(building)
        fsio.remove_tree(building.root)
        output.narrate("building the database template (runs the seed once)")
        try:
            building.initdb(password)
            port = _free_port()
            # The template is rebuilt from the seed whenever lost, so durability buys
            # nothing. Small WAL limits and a checkpoint before the stop: otherwise the seed
            # leaves preallocated WAL segments (half the template's size) that every clone
            # would copy.
            building.start(
                port,
                password,
                "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
                "-c min_wal_size=32MB -c max_wal_size=32MB",
            )
            where = Target("127.0.0.1", port, CLUSTER_USER, password, self.db.name)
            building.sql(port, password, f'CREATE DATABASE "{self.db.name}"')
            seeding.run_seed(self.grove, where, building.bin)
            building.sql(port, password, "CHECKPOINT")
            building.stop()
            building.write_marker(digest=digest, bin=str(building.bin))
        except BaseException:
            # A failed, timed-out or interrupted seed: its postgres stops before its folder
            # goes. If it will not stop, the folder stays for the next build to deal with.
            with contextlib.suppress(DatabaseError):
                stop_before_delete(building)
                fsio.remove_tree(building.root)
            raise
        old = Cluster(pg_root(self.grove) / OLD, current.bin)
        stop_before_delete(old)
        fsio.remove_tree(old.root)
        if current.root.exists():
            current.root.rename(old.root)
        building.root.rename(current.root)
        fsio.remove_tree(old.root)
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
            # Made by an older grove, or kept on purpose (`remove --keep-db`): adopted.
            slot_cluster.write_marker(**{**slot_cluster.read_marker(), "owner": owner})
        return cloned, self.start(n)

    def _clone(self, slot_cluster: Cluster, owner: str | None) -> None:
        template = self.cluster(None)
        with template_lock(self.grove, "cloning the database template"):
            if not template.ready():
                raise DatabaseError(
                    "the database template is missing", hint="`grove db reseed` builds it"
                )
            # Whatever is there (an earlier database, the leftovers of a crash mid-clone)
            # goes: its postgres first, then the marker, so it never looks ready again.
            stop_before_delete(slot_cluster)
            slot_cluster.marker.unlink(missing_ok=True)
            fsio.remove_tree(slot_cluster.data)
            slot_cluster.root.mkdir(parents=True, exist_ok=True)
            output.narrate(f"cloning the database template into {slot_cluster.root.name}")
            fsio.copy_tree(template.data, slot_cluster.data)
            (slot_cluster.data / "postmaster.pid").unlink(missing_ok=True)
            marker = template.read_marker()
            # The clone runs with the template's PostgreSQL: the same major version made it.
            fields = {"digest": marker.get("digest"), "bin": marker.get("bin") or str(template.bin)}
            if owner is not None:
                fields["owner"] = owner
            slot_cluster.write_marker(**fields)

    def _discard(self, slot_cluster: Cluster) -> None:
        stop_before_delete(slot_cluster)
        slot_cluster.marker.unlink(missing_ok=True)  # not ready from here on, even if rm stops
        fsio.remove_tree(slot_cluster.root)

    def start(self, n: int) -> bool:
        slot_cluster = self.cluster(n, strict=True)
        if not slot_cluster.ready():
            raise DatabaseError(
                f"slot {n} has no database yet",
                hint=f"`grove refresh {n}` or `grove create {n}` provisions it",
            )
        where = target(self.grove, n)
        assert where.password is not None  # cluster mode always has one
        if slot_cluster.running_pid() is not None:
            if slot_cluster.secured(where.password):
                return False
            # Started by an older grove with trust auth (or before the password was
            # replaced): it must not keep serving like that. Stopped, then started below,
            # which secures it first; its data stays.
            output.narrate(
                f"slot {n}'s database runs without the repository's current password; "
                "restarting it to set the password"
            )
            slot_cluster.stop()
        self._check_port(n)
        return slot_cluster.start(where.port, where.password)

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
        # The clone stops the slot's postgres and replaces its data, only once the template
        # is known to be there: a reset never leaves the slot with nothing.
        self._clone(self.cluster(n), owner)
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
        """Running postgres processes under pg/ that belong to no slot in `keep`, are not the
        template, and are not a build in progress."""
        root = pg_root(self.grove)
        try:
            folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.is_symlink())
        except OSError:
            return []
        found: list[Orphan] = []
        bin_dir = self.bin_dir()
        building: bool | None = None  # asked once, and only when it matters
        for folder in folders:
            name = folder.name
            if name == TEMPLATE or _slot_number(name) in keep:
                continue
            pid = Cluster(folder, bin_dir).running_pid()
            if pid is None:
                continue
            if name in (BUILDING, OLD):
                if building is None:
                    building = _template_lock_held(self.grove)
                if building:
                    continue
                why = "a template build that was interrupted"
            elif _slot_number(name) is not None:
                why = "a slot that no longer exists"
            else:
                why = "a folder that is no slot of this grove"
            found.append(Orphan(folder, pid, why))
        return found

    def reap_orphans(self, keep: set[int]) -> list[str]:
        stopped = []
        for orphan in self.orphans(keep):
            cluster = Cluster(orphan.folder, self.bin_dir())
            # Under the lock of whoever would be working there, taken without waiting: a
            # slot or build someone is working on right now is no orphan; and nobody can
            # start a new server there while this one is stopped.
            with self._try_lock_for(orphan.folder.name) as free:
                if not free or cluster.running_pid() != orphan.pid:
                    continue
                stop_before_delete(cluster)
            stopped.append(f"stopped pid {orphan.pid}: {orphan.why} ({orphan.folder.name})")
        return stopped

    def _try_lock_for(self, name: str) -> AbstractContextManager[bool]:
        n = _slot_number(name)
        if n is not None:
            return fsio.try_lock(slot_lock_path(self.grove, n), "stopping an orphaned postgres")
        if name in (BUILDING, OLD):
            return fsio.try_lock(
                template_lock_path(self.grove), "stopping an interrupted template build"
            )
        return contextlib.nullcontext(True)


def _slot_number(folder_name: str) -> int | None:
    number = folder_name.removeprefix("slot-")
    if number != folder_name and number.isdigit():
        return int(number)
    return None


def _owned_by(slot_cluster: Cluster, owner: str | None) -> bool:
    recorded = slot_cluster.read_marker().get("owner")
    return owner is None or recorded is None or recorded == owner


def _template_lock_held(grove: Grove) -> bool:
    """Another process holds the template lock (a build, or a clone, is under way)."""
    with fsio.try_lock(template_lock_path(grove), "checking for a template build") as free:
        return not free


STOP_WAIT = 10.0


def stop_before_delete(cluster: Cluster) -> None:
    """Stop the postgres running on this folder, if any, because the folder is about to be
    deleted: a server is never left running on deleted files. `pg_ctl stop` first; if that
    fails, SIGQUIT (postgres's immediate shutdown), then SIGKILL. Raises DatabaseError when
    the server is still running after all that (the caller must not delete the folder)."""
    if cluster.running_pid() is None:
        return
    with contextlib.suppress(DatabaseError):
        cluster.stop()
    for sig in (signal.SIGQUIT, signal.SIGKILL):
        pid = cluster.running_pid()
        if pid is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
        if _wait_stopped(cluster):
            return
    pid = cluster.running_pid()
    if pid is not None:
        raise DatabaseError(
            f"PostgreSQL (pid {pid}) on {cluster.root} does not stop, so grove leaves its "
            "folder alone",
            hint=f"stop pid {pid}, then run the command again",
        )


def _wait_stopped(cluster: Cluster) -> bool:
    deadline = time.monotonic() + STOP_WAIT
    while time.monotonic() < deadline:
        if cluster.running_pid() is None:
            return True
        time.sleep(0.05)
    return False
