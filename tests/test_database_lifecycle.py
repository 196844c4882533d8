"""A slot's database under concurrency and crashes, against real PostgreSQL: work on one
slot's database is serialised, a database belongs to the worktree that made it, and no
postgres grove started outlives a crash unnoticed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import git, make_repo, write_config
from pgutil import (
    free_port_base,
    gone,
    postgres_serving,
    postgres_under,
    query,
    stop_all_clusters,
)

SEED_SQL = """
CREATE TABLE users (id serial PRIMARY KEY, name text NOT NULL);
INSERT INTO users (name) SELECT 'user' || g FROM generate_series(1, 50) g;
"""


@pytest.fixture
def work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, bin_dir: Path) -> Iterator[Path]:
    main_dir = make_repo(tmp_path / "work", files={"db/seed.sql": SEED_SQL})
    monkeypatch.chdir(main_dir)
    yield main_dir
    stop_all_clusters(tmp_path, bin_dir)


def configure(
    main_dir: Path, seed: str = "psql -v ON_ERROR_STOP=1 -q -f db/seed.sql", slots: int = 3
) -> int:
    base = free_port_base(5)
    write_config(
        main_dir,
        f"[grove]\nslots = {slots}\nstep_timeout = 20\n[ports]\nDB_PORT = {base}\n"
        f"[database]\nseed = [{json.dumps(seed)}]\nseed_inputs = ['db/seed.sql']\n",
    )
    return base


def spawn(cwd: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "grove", *args, "--json"],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ),
    )


def test_two_db_starts_at_once_clone_once_and_both_succeed(work: Path, grove) -> None:
    base = configure(work)
    assert grove("create", "--json").code == 0
    assert grove("db", "drop", "1", "--yes").code == 0  # slot 1 has no database now
    first, second = spawn(work, "db", "start", "1"), spawn(work, "db", "start", "1")
    results = [p.communicate(timeout=120) for p in (first, second)]
    assert [first.returncode, second.returncode] == [0, 0], results
    outcomes = sorted(json.loads(out)["slots"][0]["result"] for out, _ in results)
    assert outcomes == ["already running", "cloned and started"]
    assert query(base + 1, "SELECT count(*) FROM users") == [(50,)]
    data = work / ".git" / "grove" / "pg" / "slot-1" / "data"
    assert len(postgres_serving(data)) == 1


def test_two_db_resets_at_once_both_succeed_and_leave_it_up(work: Path, grove) -> None:
    base = configure(work)
    assert grove("create", "--json").code == 0
    query(base + 1, "INSERT INTO users (name) VALUES ('task row')")
    first, second = spawn(work, "db", "reset", "1"), spawn(work, "db", "reset", "1")
    results = [p.communicate(timeout=120) for p in (first, second)]
    assert [first.returncode, second.returncode] == [0, 0], results
    assert query(base + 1, "SELECT count(*) FROM users") == [(50,)]
    data = work / ".git" / "grove" / "pg" / "slot-1" / "data"
    assert len(postgres_serving(data)) == 1


def test_a_slot_made_again_never_gets_the_old_slots_rows(work: Path, grove) -> None:
    """A remove killed after git removed the worktree left the database behind: the next
    create of that number must not hand it the previous task's rows."""
    base = configure(work)
    assert grove("create", "--json").code == 0
    query(base + 1, "INSERT INTO users (name) VALUES ('previous task')")
    old = postgres_serving(work / ".git" / "grove" / "pg" / "slot-1" / "data")
    git(work, "worktree", "remove", "--force", str(work.parent / "myproject-wt1"))
    again = grove("create", "1", "--json")
    assert again.code == 0, again.out
    assert again.json["database"]["cloned"] is True
    assert query(base + 1, "SELECT count(*) FROM users") == [(50,)]
    assert all(gone(pid) for pid in old)


def test_remove_keep_db_hands_the_database_to_the_next_slot_on_purpose(work: Path, grove) -> None:
    base = configure(work)
    grove("create")
    query(base + 1, "INSERT INTO users (name) VALUES ('kept')")
    assert grove("remove", "1", "--keep-db", "--json").json["database"] == "kept"
    assert grove("create", "1", "--json").json["database"]["cloned"] is False
    assert query(base + 1, "SELECT count(*) FROM users") == [(51,)]


def test_a_postgres_for_a_slot_that_is_gone_is_stopped_by_the_next_create(
    work: Path, grove
) -> None:
    configure(work, slots=4)
    assert grove("create", "--json").code == 0
    assert grove("create", "--json").code == 0
    data = work / ".git" / "grove" / "pg" / "slot-2" / "data"
    running = postgres_serving(data)
    assert running
    # slot 2 vanishes outside grove while its postgres runs
    git(work, "worktree", "remove", "--force", str(work.parent / "myproject-wt2"))
    made = grove("create", "3", "--json")
    assert made.code == 0, made.out
    assert any("a slot that no longer exists" in note for note in made.json["notes"])
    assert all(gone(pid) for pid in running)


def test_a_seed_that_hangs_is_stopped_and_leaves_no_server(work: Path, grove) -> None:
    configure(work, seed="sleep 60")
    text = (work / "grove.toml").read_text().replace("step_timeout = 20", "step_timeout = 1")
    write_config(work, text)
    started = time.monotonic()
    failed = grove("create", "--json")
    assert failed.code == 1
    assert failed.json["error"]["timed_out"] is True
    assert time.monotonic() - started < 30
    pg = work / ".git" / "grove" / "pg"
    assert not (pg / "template.building").exists()
    assert not (work.parent / "myproject-wt1").exists()  # a failing seed leaves no slot
    assert not postgres_serving(pg / "template.building" / "data")


def test_a_build_killed_mid_seed_is_cleaned_up_by_the_next_create(
    work: Path, grove, tmp_path: Path
) -> None:
    gate, seeding = tmp_path / "gate", tmp_path / "seeding"
    configure(work, seed=f"touch {seeding}; while [ ! -e {gate} ]; do sleep 0.05; done")
    victim = spawn(work, "create")
    building = work / ".git" / "grove" / "pg" / "template.building" / "data"
    deadline = time.monotonic() + 60
    # The seed runs once the build's server is up (initdb's own short-lived postgres
    # processes, which also run in that folder, are gone by then).
    while not seeding.exists():
        assert time.monotonic() < deadline, "the build never reached its seed"
        time.sleep(0.05)
    stray = postgres_serving(building)
    assert len(stray) == 1
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    assert postgres_serving(building) == stray  # kill -9 left it running
    gate.touch()
    again = grove("create", "--json")
    assert again.code == 0, again.out
    assert all(gone(pid) for pid in stray)


def test_a_drop_and_a_start_at_once_never_leave_a_server_on_deleted_files(
    work: Path, grove
) -> None:
    """Whichever runs first, neither crashes, and the database ends either up and serving
    its own folder, or gone with no server left running on its deleted files."""
    base = configure(work)
    assert grove("create", "--json").code == 0
    slot = work / ".git" / "grove" / "pg" / "slot-1"
    for _ in range(4):
        drop, start = spawn(work, "db", "drop", "1", "--yes"), spawn(work, "db", "start", "1")
        results = [p.communicate(timeout=120) for p in (drop, start)]
        assert drop.returncode == 0, results
        # `db start` decides between start and provision before it takes the database's
        # lock, so a drop that lands in between makes it refuse, clearly; never a crash.
        if start.returncode != 0:
            assert start.returncode == 1, results
            assert "has no database yet" in json.loads(results[1][0])["error"]["message"]
        if (slot / "ready.json").exists():
            assert len(postgres_serving(slot / "data")) == 1
            assert query(base + 1, "SELECT count(*) FROM users") == [(50,)]
        else:
            assert postgres_under(slot) == []
