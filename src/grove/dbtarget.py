"""Where a slot's database is: pure computation from the config, with no I/O.

Kept apart from `grove.database` (which runs servers and user commands) so that a slot's
environment (`slotenv`) can name its database without importing the machinery.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote, unquote, urlsplit

from grove.config import DatabaseConfig
from grove.errors import ConfigError
from grove.slots import Grove


def config_of(grove: Grove) -> DatabaseConfig:
    db = grove.config.database
    if db is None:
        raise ConfigError(
            f"{grove.config.path or grove.main / 'grove.toml'}: [database] is not configured",
            hint='add [database] with engine = "postgres" to grove.toml',
        )
    return db


def database_name(db: DatabaseConfig, n: int) -> str:
    if db.mode == "cluster" or n == 0:
        return db.name
    return f"{db.name}_wt{n}"


def template_name(db: DatabaseConfig) -> str:
    return f"{db.name}_template"


@dataclass(frozen=True)
class ServerAddress:
    host: str
    port: int
    user: str
    password: str | None
    admin_db: str

    @classmethod
    def parse(cls, url: str) -> ServerAddress:
        parts = urlsplit(url)
        return cls(
            host=parts.hostname or "127.0.0.1",
            port=parts.port or 5432,
            user=unquote(parts.username or "postgres"),
            password=unquote(parts.password) if parts.password else None,
            admin_db=unquote(parts.path.lstrip("/")) or "postgres",
        )


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

    def admin(self) -> ServerAddress:
        return ServerAddress(self.host, self.port, self.user, self.password, "postgres")


def server_address(grove: Grove) -> ServerAddress:
    return ServerAddress.parse(config_of(grove).url or "")


def target(grove: Grove, n: int) -> Target:
    db = config_of(grove)
    if db.mode == "cluster":
        port = grove.config.ports_for(n)[db.port_var]
        return Target("127.0.0.1", port, "postgres", None, db.name)
    address = server_address(grove)
    return Target(address.host, address.port, address.user, address.password, database_name(db, n))


def env_values(grove: Grove, n: int) -> dict[str, str]:
    """What the slot's managed block gets: DATABASE_URL and the libpq variables."""
    return target(grove, n).env() if grove.config.database else {}
