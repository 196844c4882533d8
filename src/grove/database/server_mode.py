"""Server mode: one server the user already runs, one database per slot on it."""

from __future__ import annotations

from pathlib import Path

from grove import output
from grove.database import seeding, server
from grove.database.backend import Backend, DbStatus
from grove.database.locks import template_lock
from grove.dbtarget import Target, database_name, server_address, target, template_name
from grove.errors import DatabaseError


class ServerBackend(Backend):
    def bin_dir(self) -> Path | None:
        return seeding.optional_bin(self.db, self.grove.main)

    def template_current(self, digest: str) -> bool:
        return False  # asking the server costs a connection: build_template checks

    def build_template(self, digest: str, rebuild: bool) -> bool:
        address = server_address(self.grove)
        name = template_name(self.db)
        if not rebuild and server.template_hash(address, name) == digest:
            return False
        output.narrate(f"building the template database {name} (runs the seed once)")
        server.drop_database(address, name)
        server.create_database(address, name)
        where = Target(address.host, address.port, address.user, address.password, name)
        try:
            seeding.run_seed(self.grove, where, self.bin_dir())
        except BaseException:
            server.drop_database(address, name)
            raise
        server.mark_template(address, name, digest)  # the marker goes on last
        return True

    def _clone(self, n: int, owner: str | None) -> None:
        address = server_address(self.grove)
        name = database_name(self.db, n)
        # Nobody may be connected to the template while it is copied: one clone at a time.
        with template_lock(self.grove, "cloning the database template"):
            server.create_database(address, name, template_name(self.db))
        if owner is not None:
            server.mark_owner(address, name, owner)

    def provision(self, n: int, owner: str | None) -> tuple[bool, bool]:
        address = server_address(self.grove)
        name = database_name(self.db, n)
        if server.database_exists(address, name):
            recorded = server.owner_of(address, name)
            if owner is None or recorded in (None, "", owner):
                if owner is not None and not recorded:
                    server.mark_owner(address, name, owner)  # made by an older grove
                return False, False
            output.narrate(f"{name} belonged to an earlier worktree; starting afresh")
            server.drop_database(address, name)
        self._clone(n, owner)
        return True, False

    def start(self, n: int) -> bool:
        return False  # the server is the user's: grove never starts or stops it

    def stop(self, n: int) -> bool:
        return False

    def status(self, n: int) -> DbStatus:
        where = target(self.grove, n)
        address = server_address(self.grove)
        try:
            exists = server.database_exists(address, where.dbname)
        except DatabaseError:
            return DbStatus(n, self.db.mode, False, False, where.dbname, where.host, where.port)
        running = exists and server.ping(address, where.dbname)
        return DbStatus(n, self.db.mode, exists, running, where.dbname, where.host, where.port)

    def reset(self, n: int, owner: str | None) -> None:
        address = server_address(self.grove)
        # Checked before the drop: a reset never leaves the slot with no database at all.
        if not server.database_exists(address, template_name(self.db)):
            raise DatabaseError(
                "the database template is missing", hint="`grove db reseed` builds it"
            )
        server.drop_database(address, database_name(self.db, n))
        self._clone(n, owner)

    def disown(self, n: int) -> None:
        address = server_address(self.grove)
        name = database_name(self.db, n)
        if server.database_exists(address, name):
            server.mark_owner(address, name, "")

    def delete(self, n: int) -> bool:
        return server.drop_database(server_address(self.grove), database_name(self.db, n))
