"""The interface both database modes implement, and what they report."""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path

from grove.config import DatabaseConfig
from grove.dbtarget import config_of
from grove.record import record
from grove.slots import Grove

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing
if TYPE_CHECKING:
    from typing import Any


@record
class TemplateReport:
    built: bool
    digest: str
    seconds: float

    def as_json(self) -> dict[str, Any]:
        return {"built": self.built, "digest": self.digest[:16], "seconds": round(self.seconds, 3)}


@record
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


@record
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


@record(frozen=True)
class Orphan:
    """A postgres grove started whose slot or build no longer exists."""

    folder: Path
    pid: int
    why: str

    def as_json(self) -> dict[str, Any]:
        return {"folder": str(self.folder), "pid": self.pid, "why": self.why}


class Backend(ABC):
    """One database mode. grove.database calls provision, start, stop, reset, delete and
    disown under slot n's database lock (`locks.slot_lock`), and build_template under the
    template lock; every method re-checks the state it acts on, because another process may
    have acted first."""

    def __init__(self, grove: Grove) -> None:
        self.grove = grove
        self.db: DatabaseConfig = config_of(grove)

    @abstractmethod
    def template_current(self, digest: str) -> bool:
        """The template exists and was built from `digest` (a cheap check, no lock)."""

    @abstractmethod
    def build_template(self, digest: str, rebuild: bool) -> bool:
        """Build the seeded template unless current; True when built. Under the template
        lock."""

    @abstractmethod
    def provision(self, n: int, owner: str | None) -> tuple[bool, bool]:
        """Slot n's database cloned (unless it is there and `owner`'s) and running:
        (cloned, started)."""

    @abstractmethod
    def start(self, n: int) -> bool:
        """Slot n's server running; True when this call started it."""

    @abstractmethod
    def stop(self, n: int) -> bool:
        """Slot n's server stopped; True when this call stopped it."""

    @abstractmethod
    def status(self, n: int) -> DbStatus:
        """What is there now (read-only, no lock)."""

    @abstractmethod
    def reset(self, n: int, owner: str | None) -> None:
        """Back to the template's state, running."""

    @abstractmethod
    def delete(self, n: int) -> bool:
        """Slot n's database gone (its server stopped first); True when there was one."""

    @abstractmethod
    def disown(self, n: int) -> None:
        """Forget whose slot n's database is, so the next worktree with that number takes it
        (`remove --keep-db`)."""

    @abstractmethod
    def bin_dir(self) -> Path | None:
        """PostgreSQL's bin folder (psql), when grove knows it."""

    def port_holder(self, n: int) -> str | None:
        """Who holds slot n's port when it is not slot n's own server (modes that run
        servers)."""
        return None

    def orphans(self, keep: set[int]) -> list[Orphan]:
        """Servers this mode started that belong to no slot in `keep` and to no build in
        progress (modes that run servers)."""
        return []

    def reap_orphans(self, keep: set[int]) -> list[str]:
        """Stop every orphan (its data stays: deleting is `remove`'s); one line per server
        stopped."""
        return []
