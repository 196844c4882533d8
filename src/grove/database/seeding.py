"""User commands against a database: the seed (once, against the template), migrations
and their status (in a slot). Each runs with libpq variables pointing at its target and
PostgreSQL's bin folder on PATH, under [grove] step_timeout."""

from __future__ import annotations

import os
from pathlib import Path

from grove import output, proc, slotenv
from grove.config import DatabaseConfig
from grove.database.binaries import find_bin
from grove.dbtarget import Target, app_env, config_of, target
from grove.errors import DatabaseError
from grove.slots import Grove


def optional_bin(db: DatabaseConfig, main: Path) -> Path | None:
    try:
        return find_bin(db.bin, main)
    except DatabaseError:
        return None


def command_env(grove: Grove, n: int, where: Target, bin_dir: Path | None) -> dict[str, str]:
    env = slotenv.process_env(grove, n)
    # The app's own spellings too: a seed run against the template with main's DB_NAME and
    # DB_PORT from main's local file would seed main's database instead.
    db = config_of(grove)
    env.update(app_env(db, where))
    if db.mode == "cluster":
        env[db.port_var] = str(where.port)
    if bin_dir is not None:
        env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    return env


def run_seed(grove: Grove, where: Target, bin_dir: Path | None) -> None:
    db = config_of(grove)
    env = command_env(grove, 0, where, bin_dir)
    for index, command in enumerate(db.seed, 1):
        output.narrate(f"[seed {index}/{len(db.seed)}] {command}")
        proc.run_checked(
            command,
            grove.main,
            env,
            phase="database seed",
            slot=None,
            hint="fix the seed; no slot uses a half-seeded template, and the next "
            "`grove create` or `grove db reseed` builds it again",
            timeout=grove.config.step_timeout,
        )


def run_migrations(grove: Grove, n: int) -> list[str]:
    db = grove.config.database
    if db is None or not db.migrate:
        return []
    env = command_env(grove, n, target(grove, n), optional_bin(db, grove.main))
    for index, command in enumerate(db.migrate, 1):
        output.narrate(f"[migrate {index}/{len(db.migrate)}] {command}")
        proc.run_checked(
            command,
            grove.slot_path(n),
            env,
            phase="database migrate",
            slot=n,
            hint=f"fix the migration, then `grove refresh {n}`",
            timeout=grove.config.step_timeout,
        )
    return list(db.migrate)


def migrate_status(grove: Grove, n: int) -> proc.Completed | None:
    db = grove.config.database
    if db is None or not db.migrate_status:
        return None
    env = command_env(grove, n, target(grove, n), optional_bin(db, grove.main))
    return proc.run(["/bin/sh", "-c", db.migrate_status], cwd=grove.slot_path(n), env=env)
