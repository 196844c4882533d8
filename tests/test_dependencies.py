"""The default install is light: no psycopg, no filelock. Only server mode needs psycopg, and
without it says how to get it; everything else, cluster mode included, works without it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from conftest import make_repo, write_config
from pgutil import free_port_base, grove_password, require_unprivileged, stop_all_clusters

ROOT = Path(__file__).resolve().parent.parent


def _names(requirements: list[str]) -> set[str]:
    return {re.split(r"[\[<>=~!; ]", r, maxsplit=1)[0].lower() for r in requirements}


def test_psycopg_and_filelock_are_not_default_dependencies() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    default = _names(project["dependencies"])
    assert "psycopg" not in default
    assert "filelock" not in default
    extras = project["optional-dependencies"]
    assert "psycopg" in _names(extras["postgres"])
    assert "psycopg" in _names(extras["test"])  # the tests query slots' databases with it


def test_no_module_imports_psycopg_or_filelock_when_loaded() -> None:
    probe = (
        "import pkgutil, importlib, sys, grove\n"
        "for info in pkgutil.walk_packages(grove.__path__, 'grove.'):\n"
        "    if info.name != 'grove.__main__':\n"
        "        importlib.import_module(info.name)\n"
        "print(','.join(m for m in ('psycopg', 'filelock') if m in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == ""


def test_without_psycopg_the_everyday_commands_work(
    repo: Path, grove, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "psycopg", None)  # `import psycopg` raises ImportError
    for argv in (
        ("create", "--json"),
        ("list", "--json"),
        ("validate", "--all", "--json"),
        ("env", "1", "--json"),
        ("take", "--json"),
    ):
        result = grove(*argv)
        assert result.code == 0, (argv, result.out, result.err)


def test_server_mode_without_psycopg_says_how_to_install_it(
    repo: Path, grove, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "psycopg", None)
    write_config(
        repo, '[database]\nmode = "server"\nurl = "postgresql://postgres@127.0.0.1:1/postgres"\n'
    )
    result = grove("create", "--json")
    assert result.code == 1, result.out
    error = result.json["error"]
    assert error["code"] == "database"
    assert "psycopg" in error["message"]
    assert "pipx install --force '.[postgres]'" in error["hint"]


def test_cluster_mode_needs_no_psycopg(
    tmp_path: Path, grove, monkeypatch: pytest.MonkeyPatch
) -> None:
    require_unprivileged()
    from grove.database.binaries import find_bin

    bin_dir = find_bin(None, Path.cwd())
    monkeypatch.setitem(sys.modules, "psycopg", None)
    seed = "CREATE TABLE t (id int);\nINSERT INTO t VALUES (7);\n"
    main_dir = make_repo(tmp_path / "work", files={"db/seed.sql": seed})
    monkeypatch.chdir(main_dir)
    base = free_port_base(5)
    seed_step = "psql -v ON_ERROR_STOP=1 -q -f db/seed.sql"
    write_config(main_dir, f'[ports]\nDB_PORT = {base}\n[database]\nseed = ["{seed_step}"]\n')
    try:
        created = grove("create", "--json")
        assert created.code == 0, created.out + created.err
        psql = [str(bin_dir / "psql"), "-X", "-h", "127.0.0.1", "-p", str(base + 1)]
        rows = subprocess.run(
            [*psql, "-U", "postgres", "-d", "app", "-tAc", "SELECT id FROM t"],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PGPASSWORD": grove_password(main_dir) or ""},
        )
        assert rows.stdout.strip() == "7"
    finally:
        stop_all_clusters(tmp_path, bin_dir)
