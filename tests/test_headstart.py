"""A take's head start (lifecycle/headstart.py): git starts on the request and on the
likely slot while the rest of take loads. The slot's status is read under that slot's
lock, a busy slot is passed over without waiting, and a take that fails lets go of what it
began. Real git, real processes and real locks throughout."""

from __future__ import annotations

import fcntl
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import git, grove_process, write_config


@pytest.fixture
def warm(repo: Path) -> Path:
    """main and three warm slots (detached, clean, free), made by real grove processes."""
    write_config(repo, "[grove]\nslots = 4\n")
    for _ in range(3):
        made = grove_process("create", "--json", cwd=repo)
        assert made.code == 0, made.err
    return repo


def _slot_lock(repo: Path, n: int) -> Path:
    return repo / ".git" / "grove" / "locks" / f"slot-{n}.lock"


def _free_now(lock: Path) -> bool:
    """Whether nobody holds lock: a new open file description tries it without waiting
    (flock conflicts between descriptions even within one process)."""
    lock.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        os.close(fd)
    return True


def _probing_git(tmp_path: Path, repo: Path) -> tuple[dict[str, str], Path]:
    """(environment, log): a git first on PATH that, for each `status`, logs the folder and
    whether that slot's lock was free at that moment, then runs the real git."""
    import shutil

    real = shutil.which("git")
    assert real is not None
    folder = tmp_path / "probe-bin"
    folder.mkdir()
    wrapper = folder / "git"
    wrapper.write_text(
        f"#!{sys.executable}\n"
        "import fcntl, os, re, sys\n"
        "args = sys.argv[1:]\n"
        "if 'status' in args and '-C' in args:\n"
        "    where = args[args.index('-C') + 1]\n"
        "    n = re.search(r'-wt(\\d+)$', where)\n"
        "    state = 'main'\n"
        "    if n:\n"
        f"        lock = {str(repo / '.git' / 'grove' / 'locks')!r} + f'/slot-{{n[1]}}.lock'\n"
        "        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)\n"
        "        try:\n"
        "            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)\n"
        "            state = 'free'\n"
        "        except BlockingIOError:\n"
        "            state = 'held'\n"
        "        os.close(fd)\n"
        "    with open(os.environ['GROVE_TEST_GIT_LOG'], 'a') as log:\n"
        "        log.write(f'status {where} {state}\\n')\n"
        f"os.execv({real!r}, [{real!r}, *args])\n"
    )
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    log = tmp_path / "status.log"
    env = {"PATH": f"{folder}{os.pathsep}{os.environ['PATH']}", "GROVE_TEST_GIT_LOG": str(log)}
    return env, log


def test_the_taken_slots_status_is_read_while_its_lock_is_held(warm: Path, tmp_path: Path) -> None:
    env, log = _probing_git(tmp_path, warm)
    taken = grove_process("take", "--branch", "task-a", "--label", "a", "--json", cwd=warm, env=env)
    assert taken.code == 0, taken.err
    assert taken.json["slot"] == 1
    statuses = log.read_text().splitlines()
    slot1 = str(warm.parent / "myproject-wt1")
    # One status of the slot handed out, and no other grove command could change the slot
    # while git read it: its lock was already this take's.
    assert statuses == [f"status {slot1} held"], statuses
    assert _free_now(_slot_lock(warm, 1))  # and let go when the take ended


def test_a_busy_likely_slot_is_passed_over_without_waiting(warm: Path) -> None:
    lock = _slot_lock(warm, 1)
    lock.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # as another grove command changing slot 1
    try:
        taken = grove_process("take", "--branch", "task-b", "--label", "b", "--json", cwd=warm)
    finally:
        os.close(fd)
    assert taken.code == 0, taken.err
    assert taken.json["slot"] == 2
    assert not (warm / ".git" / "grove" / "leases" / "1.json").exists()
    # Slot 1 is as it was: still detached, nothing switched while its lock was held.
    assert git(warm.parent / "myproject-wt1", "branch", "--show-current").strip() == ""


def test_a_likely_slot_with_work_in_it_is_skipped_and_its_work_kept(warm: Path) -> None:
    work = warm.parent / "myproject-wt1" / "notes.txt"
    work.write_text("an agent's unfinished work\n")
    taken = grove_process("take", "--branch", "task-c", "--label", "c", "--json", cwd=warm)
    assert taken.code == 0, taken.err
    assert taken.json["slot"] == 2
    assert work.read_text() == "an agent's unfinished work\n"
    assert _free_now(_slot_lock(warm, 1))


@pytest.mark.parametrize(
    "args",
    [
        ("--branch", "bad..name"),  # refused by the request's own check
        ("--branch", "task-d", "--from", "no-such-commit"),
        ("--no-such-flag",),  # refused by argparse, after the status started
    ],
)
def test_a_take_that_fails_lets_go_of_what_it_began(warm: Path, grove, args) -> None:
    from grove import fsio
    from grove.lifecycle import headstart

    result = grove("take", *args, "--label", "d", "--json", cwd=warm)
    assert result.code == 2, result.err
    assert headstart._begun == []
    assert fsio._held == {}
    assert _free_now(_slot_lock(warm, 1))
    assert not (warm / ".git" / "grove" / "locks" / "slot-1.owner").exists()
    assert not (warm / ".git" / "grove" / "leases" / "1.json").exists()


def test_a_refused_take_lets_go_of_the_slot_it_looked_at(warm: Path, grove) -> None:
    from grove import fsio
    from grove.lifecycle import headstart

    env_file = warm / ".env"
    env_file.write_text(env_file.read_text() + "SNEAKED_IN=1\n")  # an unapproved change
    result = grove("take", "--branch", "task-e", "--label", "e", "--json", cwd=warm)
    assert result.code == 1, result.err
    assert result.json["error"]["code"] == "unapproved"
    assert headstart._begun == []
    assert fsio._held == {}
    assert _free_now(_slot_lock(warm, 1))


def test_status_is_only_given_for_the_slot_begun_on(warm: Path) -> None:
    from grove.lifecycle import headstart
    from grove.slots import open_grove

    os.chdir(warm)
    grove = open_grove()
    headstart.begin(grove, "task-f", None)
    try:
        assert headstart.status_of(2, grove.slot_path(2)) is None
        assert headstart.status_of(1, warm.parent / "elsewhere") is None
        assert not _free_now(_slot_lock(warm, 1))  # held from begin on
        status = headstart.status_of(1, grove.slot_path(1))
        assert status is not None and not status.dirty and status.branch is None
        assert headstart.status_of(1, grove.slot_path(1)) is None  # given once
        assert headstart.request_answers(grove.main, "HEAD", "other") is None
        sha, valid, exists = headstart.request_answers(grove.main, "HEAD", "task-f")()  # type: ignore[misc]
        assert sha == git(warm, "rev-parse", "HEAD").strip() and valid and not exists
    finally:
        headstart.end()
    assert _free_now(_slot_lock(warm, 1))


def test_takes_at_once_each_get_their_own_slot(warm: Path) -> None:
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "grove", "take", "--branch", f"race-{i}", "--json"],
            cwd=warm,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(5)
    ]
    results = [(p.communicate(timeout=180), p.returncode) for p in procs]
    won = [json.loads(out)["slot"] for (out, _), code in results if code == 0]
    lost = [json.loads(out)["error"]["message"] for (out, _), code in results if code != 0]
    # Three warm slots and `slots = 4`: three takes win, each its own slot; two find none.
    assert sorted(won) == [1, 2, 3], lost
    assert len(lost) == 2 and all(m.startswith("no free slot") for m in lost), lost
    for n in (1, 2, 3):
        assert _free_now(_slot_lock(warm, n))
    assert not list((warm / ".git" / "grove" / "locks").glob("*.owner"))


def _layout(grove_obj, from_records: bool) -> tuple[list[tuple[object, ...]], list[Path]]:
    from grove.slots import discover

    layout = discover(grove_obj, from_records=from_records)
    slots = [(s.n, s.path, s.registered, s.exists, s.adopted) for s in layout.slots]
    return slots, [wt.path for wt in layout.foreign]


def test_take_reads_the_same_slots_from_gits_records_as_git_lists(
    warm: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """take's view of the slots (from git's records, without `git worktree list`) on every
    layout grove meets: slots, a slot folder deleted without a prune, a locked worktree, a
    foreign worktree, one added by hand under a slot's name, an adopted one, and a folder
    named like a slot that is not a worktree."""
    from grove.slots import open_grove

    parent = warm.parent
    import shutil

    shutil.rmtree(parent / "myproject-wt2")  # prunable now
    git(warm, "worktree", "lock", str(parent / "myproject-wt3"), "--reason", "kept")
    git(warm, "worktree", "add", "--detach", str(parent / "elsewhere"))
    write_config(warm, "[grove]\nslots = 8\n")
    git(warm, "worktree", "add", "--detach", str(parent / "myproject-wt4"))
    git(warm, "worktree", "add", "--detach", str(parent / "cursor-made"))
    adopted = grove_process("take", "--here", "--json", cwd=parent / "cursor-made")
    assert adopted.code == 0, adopted.err
    (parent / "myproject-wt6").mkdir()
    monkeypatch.chdir(warm)
    grove_obj = open_grove()
    from_git = _layout(grove_obj, from_records=False)
    assert _layout(grove_obj, from_records=True) == from_git
    # The layout really holds each case, so the comparison above covers them.
    by_n = {n: (registered, exists, adopted) for n, _, registered, exists, adopted in from_git[0]}
    assert by_n[2] == (True, False, False)
    assert by_n[3] == (True, True, False) and by_n[4] == (True, True, False)
    assert by_n[6] == (False, True, False)
    assert any(flags[2] for flags in by_n.values())  # the adopted worktree
    assert from_git[1] == [parent / "elsewhere"]
