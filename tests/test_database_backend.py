"""grove.database's interface called directly, against real PostgreSQL: a database belongs
to the worktree that made it (both modes), orphaned servers are found and stopped (but not
one somebody is working on), and a template build never leaves its server behind."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import make_repo, write_config
from grove import database
from grove.database.cluster import Cluster
from grove.errors import StepFailed
from grove.slots import Grove, open_grove
from pgutil import (
    HeldLock,
    free_port_base,
    gone,
    postgres_serving,
    postgres_under,
    query,
    start_server,
    stop_all_clusters,
    stop_server,
)

SEED_SQL = """
CREATE TABLE users (id serial PRIMARY KEY, name text NOT NULL);
INSERT INTO users (name) SELECT 'user' || g FROM generate_series(1, 50) g;
"""
SEED = "psql -v ON_ERROR_STOP=1 -q -f db/seed.sql"


@pytest.fixture
def main_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, bin_dir: Path) -> Iterator[Path]:
    main = make_repo(tmp_path / "work", files={"db/seed.sql": SEED_SQL})
    monkeypatch.chdir(main)
    yield main
    stop_all_clusters(tmp_path, bin_dir)


def cluster_grove(main_dir: Path, seed: str = SEED, step_timeout: float = 20) -> Grove:
    base = free_port_base(8)
    write_config(
        main_dir,
        f"[grove]\nslots = 3\nstep_timeout = {step_timeout}\n[ports]\nDB_PORT = {base}\n"
        f"[database]\nseed = [{json.dumps(seed)}]\nseed_inputs = ['db/seed.sql']\n",
    )
    return open_grove(main_dir)


def pg(main_dir: Path) -> Path:
    return main_dir / ".git" / "grove" / "pg"


def users(grove: Grove, n: int) -> int:
    where = database.target(grove, n)
    return int(query(where.port, "SELECT count(*) FROM users", where.dbname, where.host)[0][0])


def insert_user(grove: Grove, n: int, name: str) -> None:
    where = database.target(grove, n)
    query(where.port, f"INSERT INTO users (name) VALUES ('{name}')", where.dbname, where.host)


# --- a database belongs to the worktree that made it ----------------------------------


def test_a_new_owner_gets_the_template_not_the_old_rows_and_the_old_server_stops(
    main_dir: Path,
) -> None:
    """A remove killed before it dropped the database: the next worktree with that number
    must get the template, never the previous task's rows, and the old server must stop."""
    grove = cluster_grove(main_dir)
    database.ensure_template(grove)
    made = database.provision(grove, 1, owner="A")
    assert (made.cloned, made.started) == (True, True)
    insert_user(grove, 1, "task A")
    old_pid = database.status(grove, 1).pid
    assert old_pid is not None

    again = database.provision(grove, 1, owner="A")  # its own worktree: kept as it is
    assert (again.cloned, again.started) == (False, False)
    assert users(grove, 1) == 51

    fresh = database.provision(grove, 1, owner="B")
    assert (fresh.cloned, fresh.started) == (True, True)
    assert users(grove, 1) == 50
    assert gone(old_pid, wait=5)
    data = pg(main_dir) / "slot-1" / "data"
    assert postgres_serving(data) == [database.status(grove, 1).pid]
    assert database.cluster(grove, 1).read_marker()["owner"] == "B"


def test_a_database_nobody_owns_is_adopted_with_its_rows(main_dir: Path) -> None:
    """A database from a grove that recorded no owner, or one `remove --keep-db` kept on
    purpose, goes to the next worktree as it is."""
    grove = cluster_grove(main_dir)
    database.ensure_template(grove)
    database.provision(grove, 1)  # no owner: an older grove
    insert_user(grove, 1, "kept")
    assert "owner" not in database.cluster(grove, 1).read_marker()
    assert database.provision(grove, 1, owner="A").cloned is False
    assert database.cluster(grove, 1).read_marker()["owner"] == "A"
    assert users(grove, 1) == 51

    database.disown(grove, 1)
    assert database.provision(grove, 1, owner="B").cloned is False
    assert users(grove, 1) == 51
    assert database.provision(grove, 1, owner="C").cloned is True
    assert users(grove, 1) == 50


def test_reset_records_the_owner_and_returns_the_database_running(main_dir: Path) -> None:
    grove = cluster_grove(main_dir)
    database.ensure_template(grove)
    database.provision(grove, 1, owner="A")
    insert_user(grove, 1, "scratch")
    database.stop(grove, 1)
    database.reset(grove, 1, owner="A")
    assert database.status(grove, 1).running
    assert users(grove, 1) == 50
    assert database.cluster(grove, 1).read_marker()["owner"] == "A"


@pytest.fixture
def server_grove(main_dir: Path, bin_dir: Path, tmp_path: Path) -> Iterator[Grove]:
    data = tmp_path / "server" / "data"
    data.parent.mkdir()
    port = start_server(data, bin_dir)
    write_config(
        main_dir,
        f"""
[database]
mode = "server"
url = "postgresql://postgres@127.0.0.1:{port}/postgres"
name = "app"
seed = ["{SEED}"]
seed_inputs = ["db/seed.sql"]
""",
    )
    yield open_grove(main_dir)
    stop_server(data, bin_dir)


def database_comment(grove: Grove, name: str) -> str | None:
    where = database.target(grove, 0)
    rows = query(
        where.port,
        f"SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = '{name}'",
        "postgres",
    )
    return rows[0][0] if rows else None


def test_server_mode_a_new_owner_gets_the_template_not_the_old_rows(server_grove: Grove) -> None:
    grove = server_grove
    database.ensure_template(grove)
    assert database.provision(grove, 1, owner="A").cloned is True
    insert_user(grove, 1, "task A")
    assert database.provision(grove, 1, owner="A").cloned is False
    assert users(grove, 1) == 51
    assert database_comment(grove, "app_wt1") == "grove slot A"

    assert database.provision(grove, 1, owner="B").cloned is True
    assert users(grove, 1) == 50
    assert database_comment(grove, "app_wt1") == "grove slot B"

    insert_user(grove, 1, "task B")
    database.reset(grove, 1, owner="B")
    assert users(grove, 1) == 50
    assert database_comment(grove, "app_wt1") == "grove slot B"

    database.disown(grove, 1)  # remove --keep-db: the next worktree takes it as it is
    insert_user(grove, 1, "kept")
    assert database.provision(grove, 1, owner="C").cloned is False
    assert users(grove, 1) == 51
    assert database.orphans(grove, {0}) == []  # the server is the user's, never grove's


# --- one slot's database, two processes at once --------------------------------------
# These call grove.database directly from two processes, below the lifecycle layer and its
# locks: the database's own per-slot lock is what keeps them apart.

CALL = """
import json, sys
from grove import database
from grove.slots import open_grove
grove = open_grove()
n = 1
result = {call}
print(json.dumps(result.as_json() if hasattr(result, "as_json") else result))
"""


def spawn_call(main_dir: Path, call: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", CALL.format(call=call)],
        cwd=main_dir,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(*children: subprocess.Popen[str]) -> list[object]:
    outputs = [child.communicate(timeout=120) for child in children]
    codes = [child.returncode for child in children]
    assert codes == [0] * len(children), outputs
    return [json.loads(out) for out, _ in outputs]


def test_two_provisions_at_once_one_clones_and_the_other_finds_it_running(
    main_dir: Path,
) -> None:
    grove = cluster_grove(main_dir)
    database.ensure_template(grove)
    call = 'database.provision(grove, n, owner="A")'
    results = finish(spawn_call(main_dir, call), spawn_call(main_dir, call))
    outcomes = sorted((r["cloned"], r["started"]) for r in results)  # type: ignore[index]
    assert outcomes == [(False, False), (True, True)]
    assert users(grove, 1) == 50
    assert len(postgres_serving(pg(main_dir) / "slot-1" / "data")) == 1


def test_two_resets_at_once_both_succeed_and_leave_it_up_at_the_template(
    main_dir: Path,
) -> None:
    grove = cluster_grove(main_dir)
    database.ensure_template(grove)
    database.provision(grove, 1, owner="A")
    insert_user(grove, 1, "task row")
    call = 'database.reset(grove, n, owner="A")'
    finish(spawn_call(main_dir, call), spawn_call(main_dir, call))
    assert database.status(grove, 1).running
    assert users(grove, 1) == 50
    assert len(postgres_serving(pg(main_dir) / "slot-1" / "data")) == 1


def test_a_delete_and_a_provision_at_once_never_leave_a_server_on_deleted_files(
    main_dir: Path,
) -> None:
    grove = cluster_grove(main_dir)
    database.ensure_template(grove)
    database.provision(grove, 1, owner="A")
    slot = pg(main_dir) / "slot-1"
    for _ in range(5):
        finish(
            spawn_call(main_dir, "database.delete(grove, n)"),
            spawn_call(main_dir, 'database.provision(grove, n, owner="A")'),
        )
        if database.cluster(grove, 1).ready():
            assert len(postgres_serving(slot / "data")) == 1
            assert users(grove, 1) == 50
        else:
            assert postgres_under(slot) == []


# --- orphans -------------------------------------------------------------------------


def test_reap_orphans_stops_the_server_of_a_slot_that_is_gone_and_keeps_its_data(
    main_dir: Path,
) -> None:
    grove = cluster_grove(main_dir)
    database.ensure_template(grove)
    database.provision(grove, 1, owner="A")
    database.provision(grove, 5, owner="E")  # slot 5 does not exist (slots = 3)
    kept_pid, orphan_pid = database.status(grove, 1).pid, database.status(grove, 5).pid
    assert kept_pid is not None and orphan_pid is not None

    found = database.orphans(grove, {0, 1})
    assert [(o.folder.name, o.pid) for o in found] == [("slot-5", orphan_pid)]
    assert "no longer exists" in found[0].why

    stopped = database.reap_orphans(grove, {0, 1})
    assert len(stopped) == 1 and f"pid {orphan_pid}" in stopped[0]
    assert gone(orphan_pid, wait=5)
    assert database.status(grove, 1).running and database.status(grove, 1).pid == kept_pid
    assert database.cluster(grove, 5).ready()  # stopped, not deleted: that is remove's job
    assert database.orphans(grove, {0, 1}) == []
    assert database.reap_orphans(grove, {0, 1}) == []


def test_an_orphan_someone_is_working_on_is_left_alone(main_dir: Path) -> None:
    """A slot whose database lock another process holds (it is being provisioned right now)
    is not stopped; once the lock is free, it is."""
    grove = cluster_grove(main_dir)
    database.ensure_template(grove)
    database.provision(grove, 5)
    pid = database.status(grove, 5).pid
    assert pid is not None
    with HeldLock(pg(main_dir) / "slot-5.lock"):
        assert database.reap_orphans(grove, {0}) == []
        assert database.status(grove, 5).pid == pid
    assert len(database.reap_orphans(grove, {0})) == 1
    assert gone(pid, wait=5)


def test_a_build_folder_is_an_orphan_only_when_no_builder_holds_the_template_lock(
    main_dir: Path, bin_dir: Path
) -> None:
    grove = cluster_grove(main_dir)
    building = Cluster(pg(main_dir) / "template.building", bin_dir)
    building.initdb("test-password-0123456789abcdefghijkl")
    building.start(free_port_base(1), "test-password-0123456789abcdefghijkl")
    pid = building.running_pid()
    assert pid is not None
    with HeldLock(pg(main_dir) / "template.lock"):  # a live build
        assert database.orphans(grove, {0}) == []
        assert database.reap_orphans(grove, {0}) == []
    found = database.orphans(grove, {0})  # its builder was killed
    assert [(o.folder.name, o.pid) for o in found] == [("template.building", pid)]
    assert "interrupted" in found[0].why
    assert len(database.reap_orphans(grove, {0})) == 1
    assert gone(pid, wait=5)


# --- a template build never leaves its server behind ---------------------------------


def test_a_seed_past_step_timeout_fails_clearly_and_leaves_no_server(main_dir: Path) -> None:
    grove = cluster_grove(main_dir, seed="sleep 30", step_timeout=1)
    started = time.monotonic()
    with pytest.raises(StepFailed) as failure:
        database.ensure_template(grove)
    assert time.monotonic() - started < 15
    assert "did not finish within 1s" in failure.value.message
    assert failure.value.details["timed_out"] is True
    assert "step_timeout" in (failure.value.hint or "")
    assert not (pg(main_dir) / "template.building").exists()
    assert not database.cluster(grove, None).ready()
    assert postgres_under(pg(main_dir)) == []


def test_a_build_left_running_by_a_killed_builder_is_stopped_before_the_next_build(
    main_dir: Path, bin_dir: Path
) -> None:
    grove = cluster_grove(main_dir)
    stray = Cluster(pg(main_dir) / "template.building", bin_dir)
    stray.initdb("test-password-0123456789abcdefghijkl")
    stray.start(free_port_base(1), "test-password-0123456789abcdefghijkl")
    stray_pid = stray.running_pid()
    assert stray_pid is not None
    assert database.ensure_template(grove).built is True
    assert gone(stray_pid, wait=5)
    assert database.cluster(grove, None).ready()
    assert postgres_under(pg(main_dir)) == []  # the build stopped its own server too
    assert not (pg(main_dir) / "template.building").exists()
