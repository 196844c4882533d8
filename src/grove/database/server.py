"""Server mode: one existing PostgreSQL server, one database per slot, via psycopg."""

from __future__ import annotations

from grove.dbtarget import ServerAddress
from grove.errors import DatabaseError

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing
if TYPE_CHECKING:
    from typing import Any

TEMPLATE_COMMENT = "grove template "


def connect(address: ServerAddress, dbname: str | None = None) -> Any:
    try:
        import psycopg
    except ImportError:
        raise DatabaseError(
            "server mode talks to PostgreSQL through psycopg, which is not installed",
            hint="`pipx install --force '.[postgres]'` in grove's clone installs it "
            "(or `pipx inject grove-worktrees 'psycopg[binary]'`)",
        ) from None

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


OWNER_COMMENT = "grove slot "


def owner_of(address: ServerAddress, name: str) -> str | None:
    """The worktree id a slot's database was made for (its comment), or None."""
    with connect(address) as conn:
        row = conn.execute(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s",
            (name,),
        ).fetchone()
    if row is None or not row[0] or not str(row[0]).startswith(OWNER_COMMENT.strip()):
        return None
    return str(row[0]).removeprefix(OWNER_COMMENT.strip()).strip()


def mark_owner(address: ServerAddress, name: str, owner: str) -> None:
    from psycopg import sql

    with connect(address) as conn:
        conn.execute(
            sql.SQL("COMMENT ON DATABASE {} IS {}").format(
                _ident(name), sql.Literal(OWNER_COMMENT + owner)
            )
        )
