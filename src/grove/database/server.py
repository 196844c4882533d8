"""Server mode: one existing PostgreSQL server, one database per slot, via psycopg."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

from grove.errors import DatabaseError

TEMPLATE_COMMENT = "grove template "


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


def connect(address: ServerAddress, dbname: str | None = None) -> Any:
    import psycopg

    try:
        return psycopg.connect(
            host=address.host,
            port=address.port,
            user=address.user,
            password=address.password,
            dbname=dbname or address.admin_db,
            autocommit=True,
            connect_timeout=5,
        )
    except psycopg.Error as exc:
        raise DatabaseError(
            f"cannot connect to PostgreSQL at {address.host}:{address.port} as {address.user}: "
            f"{str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__}",
            hint="is the server running, and does [database] url name a user that may create "
            "databases?",
        ) from None


def _ident(name: str) -> Any:
    from psycopg import sql

    return sql.Identifier(name)


def database_exists(address: ServerAddress, name: str) -> bool:
    with connect(address) as conn:
        row = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
    return row is not None


def template_hash(address: ServerAddress, name: str) -> str | None:
    with connect(address) as conn:
        row = conn.execute(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s",
            (name,),
        ).fetchone()
    if row is None or not row[0] or not str(row[0]).startswith(TEMPLATE_COMMENT):
        return None
    return str(row[0]).removeprefix(TEMPLATE_COMMENT)


def mark_template(address: ServerAddress, name: str, digest: str) -> None:
    from psycopg import sql

    with connect(address) as conn:
        conn.execute(
            sql.SQL("COMMENT ON DATABASE {} IS {}").format(
                _ident(name), sql.Literal(TEMPLATE_COMMENT + digest)
            )
        )


def drop_database(address: ServerAddress, name: str) -> bool:
    from psycopg import sql

    if not database_exists(address, name):
        return False
    with connect(address) as conn:
        conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(_ident(name)))
    return True


def create_database(address: ServerAddress, name: str, template: str | None = None) -> None:
    from psycopg import sql

    with connect(address) as conn:
        if template is None:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(_ident(name)))
        else:
            # Nobody may be connected to the template while it is copied.
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid()",
                (template,),
            )
            conn.execute(
                sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(_ident(name), _ident(template))
            )


def checkpoint(address: ServerAddress) -> None:
    with connect(address) as conn:
        conn.execute("CHECKPOINT")


def ping(address: ServerAddress, dbname: str) -> bool:
    try:
        with connect(address, dbname):
            return True
    except DatabaseError:
        return False
