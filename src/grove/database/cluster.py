"""One PostgreSQL cluster on disk: initdb, start, stop, and what is running.

Every cluster listens on 127.0.0.1 only, with trust auth for loopback and no Unix socket
(socket paths are limited to ~107 bytes, and slot paths are often longer).
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grove import fsio, proc
from grove.errors import DatabaseError

SETTINGS_FILE = "grove.conf"


def refuse_root() -> None:
    if os.geteuid() == 0:
        raise DatabaseError(
            "PostgreSQL refuses to run as root, so grove cannot run a cluster for this slot",
            hint='run grove as your normal user, or use [database] mode = "server" with a '
            "server you already run",
        )


@dataclass(frozen=True)
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
            data = json.loads(self.marker.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            return {}
        return data if isinstance(data, dict) else {}

    def write_marker(self, **fields: Any) -> None:
        fsio.write_atomic(self.marker, json.dumps({**fields, "at": time.time()}, indent=2) + "\n")

    def initdb(self) -> None:
        refuse_root()
        self.root.mkdir(parents=True, exist_ok=True)
        result = proc.run(
            [
                str(self.bin / "initdb"),
                "-D",
                str(self.data),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ],
            env=_pg_env(),
        )
        if result.returncode != 0:
            raise DatabaseError(f"initdb failed: {_tail(result.stderr or result.stdout)}")
        conf = self.data / "postgresql.conf"
        with conf.open("a", encoding="utf-8") as handle:
            handle.write(f"\n# grove: per-slot settings\ninclude_if_exists = '{SETTINGS_FILE}'\n")

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
        import psutil

        try:
            first = (self.data / "postmaster.pid").read_text(encoding="utf-8").splitlines()[0]
            pid = int(first)
        except (OSError, ValueError, IndexError):
            return None
        if pid <= 0:
            return None  # single-user mode (initdb's bootstrap) writes a negative pid
        try:
            process = psutil.Process(pid)
            if "postgres" not in process.name() and "postmaster" not in process.name():
                return None
            cwd = process.cwd()
        except (psutil.Error, OSError):
            return None
        return pid if Path(cwd).resolve() == self.data.resolve() else None

    def clear_stale_pid(self) -> bool:
        pid_file = self.data / "postmaster.pid"
        if pid_file.exists() and self.running_pid() is None:
            pid_file.unlink()
            return True
        return False

    def start(self, port: int, extra_options: str = "") -> bool:
        """Start the server on port; False when it was already running."""
        refuse_root()
        if self.running_pid() is not None:
            return False
        self.configure(port)
        self.clear_stale_pid()
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
        return True

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

    def sql(self, port: int, statement: str, dbname: str = "postgres") -> None:
        """Run one statement as the superuser with the cluster's own psql (no driver
        needed: cluster mode works without psycopg)."""
        result = proc.run(
            [
                str(self.bin / "psql"),
                "-X",
                "-q",
                "-v",
                "ON_ERROR_STOP=1",
                "-h",
                "127.0.0.1",
                "-p",
                str(port),
                "-U",
                "postgres",
                "-d",
                dbname,
                "-c",
                statement,
            ],
            env=_pg_env(),
        )
        if result.returncode != 0:
            raise DatabaseError(f"psql on {self.root.name} failed: {_tail(result.stderr)}")

    def log_tail(self, lines: int = 5) -> str:
        try:
            return "\n".join(
                self.log.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:]
            )
        except OSError:
            return ""


def _pg_env() -> dict[str, str]:
    env = dict(os.environ)
    for key in ("PGDATA", "PGPORT", "PGHOST", "PGDATABASE", "PGUSER", "PGPASSWORD"):
        env.pop(key, None)
    env["LC_ALL"] = "C"
    return env


def _tail(text: str, lines: int = 5) -> str:
    return " | ".join(line.strip() for line in text.strip().splitlines()[-lines:])
