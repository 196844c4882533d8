"""Where a slot's database is, and the credentials that open it.

Computed from the config; the one file read here is cluster mode's password (made once per
repository, see `cluster_password`). Kept apart from `grove.database` (which runs servers
and user commands) so that a slot's environment (`slotenv`) can name its database, password
included, without importing the machinery.
"""

from __future__ import annotations

import re
import stat
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

from grove import fsio
from grove.config import DatabaseConfig
from grove.errors import ConfigError
from grove.record import record
from grove.slots import Grove
from grove.state import store

CLUSTER_USER = "postgres"
# token_urlsafe's alphabet, so the password needs no quoting in SQL, URLs or dotenv files.
_PASSWORD_SHAPE = r"[A-Za-z0-9_-]{32,256}"  # compiled on first use (re caches it)


def config_of(grove: Grove) -> DatabaseConfig:
    db = grove.config.database
    if db is None:
        if grove.config.path is None:
            raise ConfigError(
                f"{grove.main} has no grove.toml, so no [database] is configured",
                hint='`grove init` writes one; add [database] with engine = "postgres" to it',
            )
        raise ConfigError(
            f"{grove.config.path}: [database] is not configured",
            hint='add [database] with engine = "postgres" to grove.toml',
        )
    return db


def database_name(db: DatabaseConfig, n: int) -> str:
    if db.mode == "cluster" or n == 0:
        return db.name
    return f"{db.name}_wt{n}"


def template_name(db: DatabaseConfig) -> str:
    return f"{db.name}_template"


@record(frozen=True)
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


@record(frozen=True)
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


def cluster_password_path(grove: Grove) -> Path:
    # Beside the clusters (`database.locks.pg_root`): deleting `.git/grove/pg` to start
    # over deletes the password with the databases it opens.
    return grove.state_dir / "pg" / "password"


def cluster_password(grove: Grove) -> str:
    """The superuser password of every cluster of this repository (cluster mode).

    Made on first use with `secrets.token_urlsafe` and kept in `.git/grove/pg/password`,
    mode 0600, so other local users cannot read it. A lock makes two first uses at once agree
    on one password. What it protects against: other users on the machine, who could
    otherwise log in to a slot's server as superuser and run commands as this user (`COPY
    ... TO PROGRAM`). What it does not: code running as this user (an agent, the app, a
    dependency), which can read this file or the slot's local file, and root. Lost or
    replaced, a new one is made, and each cluster takes it at its next start
    (`Cluster.secure`).
    """
    path = cluster_password_path(grove)
    found = _read_password(path)
    if found is not None:
        return found
    with fsio.exclusive_lock(path.with_name("password.lock"), 60.0, "making the database password"):
        found = _read_password(path)
        if found is None:
            import secrets  # imported here: it pulls in hashlib, and only this needs it

            found = secrets.token_urlsafe(32)
            fsio.write_atomic(path, found + "\n", mode=0o600)
    return found


def _read_password(path: Path) -> str | None:
    repair = (
        f"delete {path}: grove makes a new password, each slot's database takes it at its "
        "next start, and `grove refresh --all` writes it into the slots' local files"
    )
    store.check_folder(path.parent, repair)
    try:
        info = path.lstat()
    except FileNotFoundError:
        return None
    if not stat.S_ISREG(info.st_mode):
        raise store.damaged(path, "expected a regular file", repair)
    try:
        if info.st_mode & 0o077:
            # Loosened by hand or by a copy: closed again before it is used.
            path.chmod(0o600)
        text = fsio.read_regular(path, 4096, follow=False).decode("utf-8").strip()
    except (OSError, UnicodeDecodeError):
        raise store.damaged(path, "cannot be read as text", repair) from None
    if not re.fullmatch(_PASSWORD_SHAPE, text):
        raise store.damaged(path, "not a password grove made", repair)  # never echoed
    return text


def target(grove: Grove, n: int) -> Target:
    db = config_of(grove)
    if db.mode == "cluster":
        port = grove.config.ports_for(n)[db.port_var]
        return Target("127.0.0.1", port, CLUSTER_USER, cluster_password(grove), db.name)
    address = server_address(grove)
    return Target(address.host, address.port, address.user, address.password, database_name(db, n))


def env_values(grove: Grove, n: int) -> dict[str, str]:
    """What the slot's managed block gets: DATABASE_URL (with the password) and the libpq
    variables, PGPASSWORD included, then [database.env]: the app's own spellings."""
    db = grove.config.database
    return app_env(db, target(grove, n)) if db is not None else {}


def app_env(db: DatabaseConfig, where: Target) -> dict[str, str]:
    """DATABASE_URL, the PG* variables and the [database.env] ones, all naming `where`."""
    values = where.env()
    parts = {
        "url": where.url(),
        "host": where.host,
        "port": str(where.port),
        "user": where.user,
        "password": where.password or "",
        "dbname": where.dbname,
    }
    for key, part in db.env:
        values[key] = parts[part]
    return values
