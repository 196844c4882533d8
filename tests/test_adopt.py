"""Adopted slots: `grove take --here` inside a worktree another tool made (Cursor's setup)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import git, slot_ports, write_config

SETUP_COUNTER = '[setup]\nrun = ["echo ran >> .setup-runs"]\n'


def foreign_worktree(repo: Path, where: Path) -> Path:
    """A worktree made the way Cursor makes one: outside the sibling layout, detached."""
    where.parent.mkdir(parents=True, exist_ok=True)
    git(repo, "worktree", "add", "-q", "--detach", str(where), "HEAD")
    return where


@pytest.fixture
def counted(repo: Path) -> Path:
    (repo / ".gitignore").write_text(".env\n.env.local\nnode_modules/\n.setup-runs\n")
    write_config(repo, SETUP_COUNTER)
    return repo


def test_take_here_gives_a_foreign_worktree_a_slot(counted: Path, grove, tmp_path) -> None:
    cursor = foreign_worktree(counted, tmp_path / "cursor" / "worktrees" / "myproject" / "a1")
    taken = grove("take", "--here", "--label", "cursor", "--json", cwd=cursor)
    assert taken.code == 0, taken.err
    data = taken.json
    assert (data["slot"], data["adopted"], Path(data["path"])) == (1, True, cursor.resolve())
    assert data["lease"]["label"] == "cursor"
    assert data["synced"]["ran"] == ["echo ran >> .setup-runs"]
    assert (cursor / ".setup-runs").read_text() == "ran\n"
    link = cursor / ".env"
    assert link.is_symlink() and not link.readlink().is_absolute()
    assert link.resolve() == (counted / ".env").resolve()
    ports = slot_ports(counted, 1)
    assert f"PORT={ports['PORT']}" in (cursor / ".env.local").read_text()
    # Every command now maps that path to slot 1.
    env = grove("env", "--format", "json", cwd=cursor)
    assert env.code == 0, env.err
    assert (env.json["slot"], env.json["env"]["PORT"]) == (1, str(ports["PORT"]))
    row = grove("list", "--json").json["slots"][1]
    assert (row["slot"], row["adopted"], row["held"]) == (1, True, True)
    assert Path(row["path"]) == cursor.resolve()
    assert grove("validate", "--all", "--json").json["ok"] is True
    human = grove("take", "--here", "--label", "cursor", cwd=cursor).out.splitlines()
    assert human == [
        f"took slot 1: {cursor.resolve()}",
        "  " + "  ".join(f"{k}={v}" for k, v in ports.items()),
    ]


def test_take_here_again_in_the_same_worktree_changes_nothing(
    counted: Path, grove, tmp_path
) -> None:
    cursor = foreign_worktree(counted, tmp_path / "elsewhere" / "w")
    grove("take", "--here", "--label", "cursor", cwd=cursor)
    again = grove("take", "--here", "--label", "cursor", "--json", cwd=cursor)
    assert again.code == 0, again.err
    assert (again.json["slot"], again.json["adopted"], again.json["changes"]) == (1, True, [])
    assert (cursor / ".setup-runs").read_text() == "ran\n"  # setup finished: not re-run
    other = grove("take", "--here", "--label", "someone else", "--json", cwd=cursor)
    assert other.code == 1
    assert "already held by cursor" in other.json["error"]["message"]


def test_adopted_slots_are_never_handed_to_another_task(repo: Path, grove, tmp_path) -> None:
    write_config(repo, "[grove]\nslots = 4\n")
    cursor = foreign_worktree(repo, tmp_path / "cursor" / "c1")
    assert grove("take", "--here", "--json", cwd=cursor).json["slot"] == 1
    grove("release", "1", cwd=cursor)  # free, clean, warm: still Cursor's folder
    taken = grove("take", "--branch", "task", "--json")
    assert (taken.json["slot"], taken.json["adopted"]) == (2, False)
    assert Path(taken.json["path"]).name == "myproject-wt2"
    assert grove("create", "--json").json["slot"] == 3
    assert grove("take", "--json").json["slot"] == 3  # the free sibling, not Cursor's slot 1
    full = grove("take", "--json")
    assert full.code == 1
    assert "slots 1 are other tools' worktrees" in full.json["error"]["message"]
    assert not (repo.parent / "myproject-wt1").exists()


def test_concurrent_adoptions_get_distinct_slots(repo: Path, grove, tmp_path) -> None:
    write_config(repo, "[grove]\nslots = 4\n")
    worktrees = [foreign_worktree(repo, tmp_path / "cursor" / f"w{i}") for i in range(4)]
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "grove", "take", "--here", "--json"],
            cwd=path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for path in worktrees
    ]
    outcomes = [(p.wait(timeout=180), json.loads(p.communicate()[0])) for p in procs]
    slots = sorted(out["slot"] for code, out in outcomes if code == 0)
    assert slots == [1, 2, 3]
    refused = [out["error"]["code"] for code, out in outcomes if code != 0]
    assert refused == ["no-free-slot"]
    registry = json.loads((repo / ".git" / "grove" / "registry.json").read_text())
    assert sorted(registry["adopted"]) == ["1", "2", "3"]
    assert len({entry["path"] for entry in registry["adopted"].values()}) == 3


def test_a_deleted_adopted_worktree_is_reported_and_its_slot_reused(
    counted: Path, grove, tmp_path
) -> None:
    first = foreign_worktree(counted, tmp_path / "cursor" / "old")
    grove("take", "--here", "--label", "cursor", cwd=first)
    # Cursor cleans up its worktrees itself, without telling grove.
    git(counted, "worktree", "remove", "--force", str(first))
    found = [f for f in grove("validate", "--json").json["findings"] if f["slot"] == 1]
    assert [(f["check"], f["level"]) for f in found] == [("git.adopted-gone", "warning")]
    row = grove("list", "--json").json["slots"][1]
    assert (row["exists"], row["adopted"]) == (False, True)
    second = foreign_worktree(counted, tmp_path / "cursor" / "new")
    taken = grove("take", "--here", "--label", "cursor", "--json", cwd=second)
    assert taken.code == 0, taken.err
    assert taken.json["slot"] == 1
    # The new worktree gets its own full setup: the old one's record does not carry over.
    assert (second / ".setup-runs").read_text() == "ran\n"
    assert grove("validate", "--json").json["findings"] == []


def test_release_stale_ends_the_lease_of_a_deleted_adopted_worktree(
    repo: Path, grove, tmp_path
) -> None:
    cursor = foreign_worktree(repo, tmp_path / "cursor" / "gone")
    grove("take", "--here", "--label", "cursor", cwd=cursor)
    assert grove("release", "--stale", "--json").json["released"] == []  # still there
    shutil.rmtree(cursor)
    released = grove("release", "--stale", "--json").json["released"]
    assert [(r["slot"], r["label"]) for r in released] == [(1, "cursor")]


def test_remove_forgets_an_adopted_worktree_and_keeps_its_folder(
    repo: Path, grove, tmp_path
) -> None:
    cursor = foreign_worktree(repo, tmp_path / "cursor" / "keep")
    grove("take", "--here", cwd=cursor)
    (cursor / "work.txt").write_text("uncommitted work")
    removed = grove("remove", "1", "--json")
    assert removed.code == 0, removed.out
    assert (removed.json["removed"], removed.json["adopted"]) == (False, True)
    assert (cursor / "work.txt").read_text() == "uncommitted work"
    assert str(cursor.resolve()) in git(repo, "worktree", "list")
    slots = grove("list", "--json").json["slots"]
    assert [s["slot"] for s in slots] == [0]
    assert not (repo / ".git" / "grove" / "leases" / "1.json").exists()
    finding = grove("validate", "--json").json["findings"]
    assert [f["check"] for f in finding] == ["git.unparsed-name"]
    assert "grove take --here" in finding[0]["hint"]


def test_take_here_refuses_bad_requests_and_writes_nothing(repo: Path, grove, tmp_path) -> None:
    state = repo / ".git" / "grove" / "registry.json"
    in_main = grove("take", "--here", "--json")
    assert in_main.code == 1
    assert "main (slot 0)" in in_main.json["error"]["message"]
    cursor = foreign_worktree(repo, tmp_path / "cursor" / "x")
    mixed = grove("take", "--here", "--branch", "b", "--json", cwd=cursor)
    assert mixed.code == 2
    assert "--branch" in mixed.json["error"]["message"]
    assert not state.exists()
    assert not (cursor / ".env").exists()


def test_take_here_with_every_slot_in_use_fails_clearly(repo: Path, grove, tmp_path) -> None:
    write_config(repo, "[grove]\nslots = 2\n")
    grove("create")
    cursor = foreign_worktree(repo, tmp_path / "cursor" / "late")
    refused = grove("take", "--here", "--json", cwd=cursor)
    assert refused.code == 1
    assert refused.json["error"]["code"] == "no-free-slot"
    assert str(cursor.resolve()) in refused.json["error"]["message"]
    assert not (cursor / ".env.local").exists()


def test_a_slot_name_whose_number_is_adopted_is_not_that_slot(repo: Path, grove, tmp_path) -> None:
    cursor = foreign_worktree(repo, tmp_path / "cursor" / "one")
    grove("take", "--here", cwd=cursor)
    # Someone adds a sibling worktree by hand under slot 1's name.
    git(repo, "worktree", "add", "-q", "--detach", str(repo.parent / "myproject-wt1"), "HEAD")
    slots = grove("list", "--json").json["slots"]
    assert [(s["slot"], Path(s["path"])) for s in slots][1] == (1, cursor.resolve())
    checks = [f["check"] for f in grove("validate", "--json").json["findings"]]
    assert "git.unparsed-name" in checks


def test_remove_refuses_a_slot_a_live_task_holds(repo: Path, grove) -> None:
    grove("take", "--label", "agent", "--pid", str(os.getpid()))
    refused = grove("remove", "1", "--json")
    assert refused.code == 1
    assert "a task holds it: agent" in refused.json["error"]["message"]
    assert (repo.parent / "myproject-wt1").is_dir()
    assert grove("remove", "1", "--force", "--json").code == 0
    assert not (repo / ".git" / "grove" / "leases" / "1.json").exists()


def test_cursor_setup_from_worktrees_json_adopts_cursors_worktree(
    counted: Path, grove, tmp_path
) -> None:
    """Run .cursor/worktrees.json the way Cursor does: each command in order, in the new
    worktree, with ROOT_WORKTREE_PATH set (Cursor itself cannot run here)."""
    grove("agents", "install", "cursor")
    config = json.loads((counted / ".cursor" / "worktrees.json").read_text())
    commands = config["setup-worktree-unix"]
    assert "grove take --here --label cursor" in commands
    cursor = foreign_worktree(counted, tmp_path / ".cursor" / "worktrees" / "myproject" / "k3")
    bin_dir = str(Path(sys.executable).parent)  # the venv's `grove` entry point
    env = {**os.environ, "ROOT_WORKTREE_PATH": str(counted)}
    env["PATH"] = bin_dir + os.pathsep + env["PATH"]
    for command in commands:
        done = subprocess.run(
            command, shell=True, cwd=cursor, env=env, capture_output=True, text=True, check=False
        )
        assert done.returncode == 0, done.stderr
    row = grove("list", "--json").json["slots"][1]
    assert (Path(row["path"]), row["adopted"], row["lease"]["label"]) == (
        cursor.resolve(),
        True,
        "cursor",
    )
    assert (cursor / ".env").resolve() == (counted / ".env").resolve()
    assert f"PORT={slot_ports(counted, 1)['PORT']}" in (cursor / ".env.local").read_text()


def test_a_damaged_registry_is_reported_and_never_overwritten(repo: Path, grove, tmp_path) -> None:
    registry = repo / ".git" / "grove" / "registry.json"
    registry.parent.mkdir(parents=True, exist_ok=True)
    registry.write_text('{"adopted": {"1": {"path": 5}}}')
    # One policy for damaged records: every command refuses, naming the file, exit 2.
    checked = grove("validate", "--json")
    assert checked.code == 2
    assert checked.json["error"]["code"] == "damaged-state"
    assert "adopted.1" in checked.json["error"]["message"]
    cursor = foreign_worktree(repo, tmp_path / "cursor" / "d")
    refused = grove("take", "--here", "--json", cwd=cursor)
    assert refused.code == 2
    assert str(registry) in refused.json["error"]["message"]
    assert registry.read_text() == '{"adopted": {"1": {"path": 5}}}'
    assert not (repo / ".git" / "grove" / "leases" / "1.json").exists()


def test_an_adopted_folder_git_no_longer_knows_is_abandoned_not_unregistered(
    repo: Path, grove, tmp_path
) -> None:
    cursor = foreign_worktree(repo, tmp_path / "cursor" / "unhooked")
    grove("take", "--here", cwd=cursor)
    # The tool unregistered its worktree but left the folder behind.
    shutil.rmtree(repo / ".git" / "worktrees" / "unhooked")
    checks = [(f["slot"], f["check"]) for f in grove("validate", "--json").json["findings"]]
    assert checks == [(1, "git.adopted-gone")]
    fresh = foreign_worktree(repo, tmp_path / "cursor" / "fresh")
    assert grove("take", "--here", "--json", cwd=fresh).json["slot"] == 1


def test_create_names_the_abandoned_adopted_slot_that_blocks_it(
    repo: Path, grove, tmp_path
) -> None:
    write_config(repo, "[grove]\nslots = 2\n")
    cursor = foreign_worktree(repo, tmp_path / "cursor" / "blocker")
    grove("take", "--here", cwd=cursor)
    git(repo, "worktree", "remove", "--force", str(cursor))
    blocked = grove("create", "--json")
    assert blocked.code == 1
    assert "`grove remove 1` frees it" in blocked.json["error"]["hint"]
    assert grove("remove", "1").code == 0
    assert grove("create", "--json").json["slot"] == 1


def test_a_create_that_started_before_an_adoption_does_not_reuse_its_number(
    repo: Path, grove, tmp_path
) -> None:
    from contextlib import ExitStack

    from grove.lifecycle import create
    from grove.slots import open_grove

    started = open_grove(repo)  # create has read the registry, then waits for the lock
    cursor = foreign_worktree(repo, tmp_path / "cursor" / "meanwhile")
    assert grove("take", "--here", "--json", cwd=cursor).json["slot"] == 1
    with ExitStack() as held:
        request = create.check_request(started, None, None, None)
        n, _, _ = create.allocate(started, request, held)
    assert n == 2
    assert (repo.parent / "myproject-wt2").is_dir()
    assert not (repo.parent / "myproject-wt1").exists()


def test_take_here_in_a_slot_grove_made_takes_it_as_it_stands(repo: Path, grove) -> None:
    grove("create", "--branch", "mine")
    slot = repo.parent / "myproject-wt1"
    taken = grove("take", "--here", "--label", "me: by hand", "--json", cwd=slot)
    assert taken.code == 0, taken.err
    data = taken.json
    assert (data["slot"], data["adopted"], data["created"], data["branch"]) == (
        1,
        False,
        False,
        "mine",
    )
    assert grove("list", "--json").json["slots"][1]["lease"]["label"] == "me: by hand"
    assert not (repo / ".git" / "grove" / "registry.json").exists()
