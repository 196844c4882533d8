"""One PostgreSQL cluster on disk: initdb, start, stop, and what is running.

Every cluster listens on 127.0.0.1 only, with no Unix socket (socket paths are limited to
~107 bytes, and slot paths are often longer), and every connection needs the superuser's
password (scram-sha-256, `dbtarget.cluster_password`): other local users can reach the port
but cannot log in. Code running as the same user can read the password (it is in the slot's
local file and in `.git/grove/pg/password`), and so can root; the password does not stop
them.

Clusters made by an older grove trusted every loopback connection. `start` finds them
(`secured`: grove's pg_hba.conf and the password's fingerprint in `grove-auth`, both inside
the data folder, so a clone inherits them from its template) and calls `secure` first,
which never opens TCP while the password is being set. A slot's data is kept: nothing is
copied or rebuilt, the server is only started privately, re-keyed and stopped.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

from grove import fsio, proc
from grove.errors import DatabaseError
from grove.record import record
from grove.state import digests

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing
if TYPE_CHECKING:
    from typing import Any

SETTINGS_FILE = "grove.conf"
AUTH_FILE = "grove-auth"  # in the data folder: which password the cluster takes
AUTH_SCHEME = "scram-sha-256 v1"
SUPERUSER = "postgres"
# Every way in needs the password. No replication lines: nothing replicates a slot. The
# `local` line matters only if someone adds a socket: grove's own settings have none.
HBA = (
    "# written by grove: every connection needs the password (scram-sha-256)\n"
    "local all all scram-sha-256\n"
    "host all all 127.0.0.1/32 scram-sha-256\n"
    "host all all ::1/128 scram-sha-256\n"
)
# A socket path holds ~107 bytes; the folder's name and `.s.PGSQL.<port>.lock` take ~40.
_MAX_SOCKET_BASE = 60
SMALL_FILE = 1 << 16  # what grove reads from a data folder: a marker, pid or auth file


def password_fingerprint(password: str) -> str:
    """Names a password without revealing it (the password is 256 random bits, so a plain
    hash cannot be reversed)."""
    seen = digests.sha256(b"grove cluster password\0" + password.encode())
    return str(seen.hexdigest())[:32]


def refuse_root() -> None:
    if os.geteuid() == 0:
        raise DatabaseError(
            "PostgreSQL refuses to run as root, so grove cannot run a cluster for this slot",
            hint='run grove as your normal user, or use [database] mode = "server" with a '
            "server you already run",
        )


@record(frozen=True)
class Cluster:
    root: Path  # grove's folder for this cluster; the data directory sits inside it
    bin: Path

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def log(self) -> Path:
        return self.root / "postgres.log"

    @property
    def marker(self) -> Path:
        return self.root / "ready.json"

    def ready(self) -> bool:
        """Fully built. The marker is written last, so a crash mid-copy never looks ready."""
        return self.marker.exists() and (self.data / "PG_VERSION").exists()

    def read_marker(self) -> dict[str, Any]:
        try:
            data = json.loads(fsio.read_regular(self.marker, SMALL_FILE, follow=False))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def write_marker(self, **fields: Any) -> None:
        fsio.write_atomic(self.marker, json.dumps({**fields, "at": time.time()}, indent=2) + "\n")

    @property
    def auth_file(self) -> Path:
        return self.data / AUTH_FILE

    def initdb(self, password: str) -> None:
        """A new cluster whose superuser needs `password` from the start."""
        refuse_root()
        self.root.mkdir(parents=True, exist_ok=True)
        import tempfile  # with shutil, loaded only by what makes or secures a cluster

        # initdb reads the password from a file, never from argv (which `ps` shows to all).
        fd, pwfile = tempfile.mkstemp(prefix=".pwfile.", dir=self.root)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(password + "\n")
            result = proc.run(
                [
                    str(self.bin / "initdb"),
                    "-D",
                    str(self.data),
                    "-U",
                    SUPERUSER,
                    "--auth-host=scram-sha-256",
                    "--auth-local=scram-sha-256",
                    f"--pwfile={pwfile}",
                    "-E",
                    "UTF8",
                    "--locale=C",
                    "--no-sync",
                ],
                env=_pg_env(),
            )
        finally:
            Path(pwfile).unlink()
        if result.returncode != 0:
            raise DatabaseError(f"initdb failed: {_tail(result.stderr or result.stdout)}")
        conf = self.data / "postgresql.conf"
        with conf.open("a", encoding="utf-8") as handle:
            handle.write(
                f"\n# grove: per-slot settings\ninclude_if_exists = '{SETTINGS_FILE}'\n"
                "password_encryption = 'scram-sha-256'\n"
            )
        fsio.write_atomic(self.data / "pg_hba.conf", HBA, mode=0o600)
        self._write_auth(password)

    def secured(self, password: str) -> bool:
        """Takes only `password`: grove's pg_hba.conf, keyed to this password. False for a
        cluster made by an older grove (trust auth) or keyed to a password since replaced."""
        try:
            hba = fsio.read_regular(self.data / "pg_hba.conf", SMALL_FILE, follow=False)
            auth = fsio.read_regular(self.auth_file, SMALL_FILE, follow=False)
        except OSError:
            return False
        return hba == HBA.encode() and auth == _auth_text(password).encode()

    def _write_auth(self, password: str) -> None:
        fsio.write_atomic(self.auth_file, _auth_text(password), mode=0o600)

    def secure(self, port: int, password: str) -> None:
        """Give a stopped cluster grove's pg_hba.conf and `password`, keeping its data.

        For clusters made by an older grove, which trusted every loopback connection, and
        for any whose password was replaced. In order:
        1. pg_hba.conf becomes grove's (password only), so no later start can trust anyone.
        2. The server starts with no TCP at all (listen_addresses=''), its only socket in a
           fresh 0700 folder of this user's, and a temporary hba file that trusts that
           socket alone: only this user can connect, and only while this runs.
        3. The superuser's password is set through that socket (sent on stdin, not argv).
        4. The server stops; `grove-auth` records the password's fingerprint, last, so a
           crash anywhere above means this runs again on the next start.
        There is no moment when the cluster takes a TCP connection without the password.
        """
        refuse_root()
        if self.running_pid() is not None:
            raise DatabaseError(f"{self.root.name} must be stopped before it is re-keyed")
        self.clear_stale_pid()
        fsio.write_atomic(self.data / "pg_hba.conf", HBA, mode=0o600)
        with _private_socket_dir() as sockets:
            hba = sockets / "hba.conf"
            hba.write_text(f"local all {SUPERUSER} trust\n", encoding="utf-8")
            # Command-line settings win over postgresql.conf and ALTER SYSTEM. The statement
            # carries the password, so it is kept out of the log even if it fails.
            options = (
                f"-p {port} -c listen_addresses='' -c unix_socket_directories='{sockets}' "
                f"-c unix_socket_permissions=0700 -c hba_file='{hba}' "
                "-c log_statement=none -c log_min_error_statement=panic"
            )
            try:
                self._pg_ctl_start(port, options)
                statement = (
                    "SET password_encryption = 'scram-sha-256';\n"
                    f"ALTER ROLE {SUPERUSER} WITH LOGIN PASSWORD '{password}';\n"
                )
                result = proc.run(
                    self._psql(str(sockets), port, "postgres"), env=_pg_env(), stdin=statement
                )
                if result.returncode != 0:
                    # psql may quote the failing statement, which holds the password.
                    why = _tail(result.stderr).replace(password, "<password>")
                    raise DatabaseError(
                        f"setting the password of {self.root.name} failed: {why}",
                        hint=f"see {self.log}",
                    )
            finally:
                self.stop()
        self._write_auth(password)

    def configure(self, port: int) -> None:
        fsio.write_atomic(
            self.data / SETTINGS_FILE,
            "# written by grove on every start\n"
            "listen_addresses = '127.0.0.1'\n"
            f"port = {port}\n"
            "unix_socket_directories = ''\n",
            mode=0o600,
        )

    def running_pid(self) -> int | None:
        """The postmaster's pid when this cluster is really running.

        postmaster.pid can outlive a crash, and its pid can be reused by an unrelated
        process, so the pid must be alive, be a postgres, and serve this data directory.
        """
        from grove import processes

        try:
            pid_file = fsio.read_regular(self.data / "postmaster.pid", SMALL_FILE, follow=False)
            pid = int(pid_file.splitlines()[0])
        except (OSError, ValueError, IndexError):
            return None
        if pid <= 0:
            return None  # single-user mode (initdb's bootstrap) writes a negative pid
        found = processes.name_and_cwd(pid)
        if found is None:
            return None
        name, cwd = found
        if "postgres" not in name and "postmaster" not in name:
            return None
        return pid if Path(cwd).resolve() == self.data.resolve() else None

    def clear_stale_pid(self) -> bool:
        pid_file = self.data / "postmaster.pid"
        if pid_file.exists() and self.running_pid() is None:
            pid_file.unlink()
            return True
        return False

    def start(self, port: int, password: str, extra_options: str = "") -> bool:
        """Start the server on port, taking only `password`; False when it was already
        running (the caller checks `secured` for a running one). A cluster that is not
        secured yet is re-keyed first (`secure`), before it ever listens."""
        refuse_root()
        if self.running_pid() is not None:
            return False
        self.configure(port)
        self.clear_stale_pid()
        if not self.secured(password):
            self.secure(port, password)
        self._pg_ctl_start(port, extra_options)
        return True

    def _pg_ctl_start(self, port: int, extra_options: str) -> None:
        argv = [
            str(self.bin / "pg_ctl"),
            "-D",
            str(self.data),
            "-l",
            str(self.log),
            "-w",
            "-t",
            "60",
        ]
        if extra_options:
            argv += ["-o", extra_options]
        result = proc.run([*argv, "start"], env=_pg_env())
        if result.returncode != 0:
            raise DatabaseError(
                f"PostgreSQL for {self.root.name} did not start on port {port}: "
                f"{_tail(self.log_tail() or result.stderr or result.stdout)}",
                hint=f"see {self.log}",
            )

    def stop(self) -> bool:
        if self.running_pid() is None:
            self.clear_stale_pid()
            return False
        result = proc.run(
            [
                str(self.bin / "pg_ctl"),
                "-D",
                str(self.data),
                "-m",
                "fast",
                "-w",
                "-t",
                "60",
                "stop",
            ],
            env=_pg_env(),
        )
        if result.returncode != 0:
            raise DatabaseError(f"pg_ctl stop failed: {_tail(result.stderr or result.stdout)}")
        return True

    def _psql(self, host: str, port: int, dbname: str) -> list[str]:
        """psql as the superuser, never prompting (-w) and stopping at the first error."""
        return [
            str(self.bin / "psql"),
            *("-X", "-w", "-q", "-v", "ON_ERROR_STOP=1"),
            *("-h", host, "-p", str(port), "-U", SUPERUSER, "-d", dbname),
        ]

    def sql(self, port: int, password: str, statement: str, dbname: str = "postgres") -> None:
        """Run one statement as the superuser with the cluster's own psql (no driver
        needed: cluster mode works without psycopg); the password goes in PGPASSWORD,
        which only this user can read, never in argv."""
        result = proc.run(
            [*self._psql("127.0.0.1", port, dbname), "-c", statement],
            env={**_pg_env(), "PGPASSWORD": password},
        )
        if result.returncode != 0:
            hint = ""
            if "password authentication failed" in result.stderr:
                hint = (
                    "grove logs in as postgres with the repository's password: a seed must not "
                    "change that role's password"
                )
            raise DatabaseError(
                f"psql on {self.root.name} failed: {_tail(result.stderr)}", hint=hint
            )

    def log_tail(self, lines: int = 5) -> str:
        tail = fsio.read_end(self.log, lines * 1024).decode("utf-8", errors="replace")
        return "\n".join(tail.splitlines()[-lines:])


def _pg_env() -> dict[str, str]:
    env = dict(os.environ)
    # PGPASSFILE, PGSERVICE...: the user's own libpq settings would steer grove's psql.
    for key in list(env):
        if key.startswith("PG"):
            del env[key]
    env["LC_ALL"] = "C"
    return env


def _auth_text(password: str) -> str:
    return f"{AUTH_SCHEME} {password_fingerprint(password)}\n"


@contextlib.contextmanager
def _private_socket_dir() -> Iterator[Path]:
    """A new folder only this user can enter (mkdtemp makes it 0700), with a path short
    enough for a socket."""
    import shutil
    import tempfile

    base = tempfile.gettempdir()
    if len(base) > _MAX_SOCKET_BASE:
        base = "/tmp"
    folder = Path(tempfile.mkdtemp(prefix="grove-pg-", dir=base))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _tail(text: str, lines: int = 5) -> str:
    return " | ".join(line.strip() for line in text.strip().splitlines()[-lines:])
