"""One lifecycle, one lock discipline: commands raced against each other with real
processes, leases that are owned, and slots that belong to the worktree that made them.

Each story here broke on the code before the lifecycle layer (issue 12)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import git, grove_process, write_config


def sleeper() -> subprocess.Popen[bytes]:
    """A stand-in for an agent: a live process whose pid a lease can name."""
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])


def lease_file(repo: Path, n: int) -> Path:
    return repo / ".git" / "grove" / "leases" / f"{n}.json"


def spawn(repo: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "grove", *args],
        cwd=repo,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ),
    )


def wait_for(predicate, timeout: float = 60.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.05)


# --- leases are owned ---------------------------------------------------------------------


def test_release_reset_refuses_a_slot_another_live_task_holds(repo: Path, grove) -> None:
    grove("create")
    agent = sleeper()
    try:
        assert grove("take", "--label", "agent-a", "--pid", str(agent.pid)).code == 0
        slot = repo.parent / "myproject-wt1"
        (slot / "build").mkdir()
        head = git(slot, "rev-parse", "HEAD")
        refused = grove("release", "1", "--reset", "--json")
        assert refused.code == 1
        error = refused.json["error"]
        assert error["code"] == "refused"
        assert "agent-a" in error["message"]
        assert lease_file(repo, 1).exists()
        assert git(slot, "rev-parse", "HEAD") == head
        # The holder itself may reset, by label.
        ok = grove("release", "1", "--reset", "--label", "agent-a", "--json")
        assert ok.code == 0, ok.out
        assert not lease_file(repo, 1).exists()
    finally:
        agent.kill()
        agent.wait()


def test_release_of_someone_elses_lease_needs_its_label_pid_or_force(repo: Path, grove) -> None:
    grove("create")
    agent = sleeper()
    try:
        grove("take", "--label", "agent-a", "--pid", str(agent.pid))
        refused = grove("release", "1", "--json")
        assert refused.code == 1
        assert refused.json["error"]["code"] == "refused"
        assert lease_file(repo, 1).exists()
        assert grove("release", "1", "--label", "agent-b").code == 1
        assert grove("release", "1", "--pid", str(agent.pid)).code == 0
        assert not lease_file(repo, 1).exists()
        grove("take", "--label", "agent-a", "--pid", str(agent.pid))
        forced = grove("release", "1", "--force", "--json")
        assert forced.code == 0
        assert forced.json["released"][0]["label"] == "agent-a"
    finally:
        agent.kill()
        agent.wait()


def test_an_unlabelled_lease_without_pid_is_anyones_to_end(repo: Path, grove) -> None:
    grove("create")
    assert grove("take").code == 0
    assert grove("release", "1").code == 0


def test_switch_refuses_a_held_slot_and_takes_the_lock(repo: Path, grove) -> None:
    grove("create")
    agent = sleeper()
    try:
        grove("take", "--label", "agent-a", "--pid", str(agent.pid))
        refused = grove("switch", "1", "topic", "--json")
        assert refused.code == 1
        assert "agent-a" in refused.json["error"]["message"]
        assert git(repo, "branch", "--list", "topic") == ""
        assert grove("switch", "1", "topic", "--label", "agent-a").code == 0
    finally:
        agent.kill()
        agent.wait()


def test_remove_of_an_adopted_slot_refuses_a_live_holder(repo: Path, grove, tmp_path) -> None:
    cursor = tmp_path / "cursor" / "k3f"
    git(repo, "worktree", "add", "-q", "--detach", str(cursor))
    agent = sleeper()
    try:
        taken = grove("take", "--here", "--label", "cursor", "--pid", str(agent.pid), cwd=cursor)
        assert taken.code == 0, taken.err
        refused = grove("remove", "1", "--json")
        assert refused.code == 1
        assert refused.json["error"]["code"] == "refused"
        registry = json.loads((repo / ".git" / "grove" / "registry.json").read_text())
        assert "1" in registry["adopted"]
    finally:
        agent.kill()
        agent.wait()


def test_a_lease_whose_pid_was_reused_is_stale(repo: Path, grove) -> None:
    grove("create")
    agent = sleeper()
    try:
        grove("take", "--label", "agent-a", "--pid", str(agent.pid))
        record = json.loads(lease_file(repo, 1).read_text())
        assert record["pid_started"] is not None
        # The same pid, started at another time: another process now has that number.
        record["pid_started"] -= 3600
        lease_file(repo, 1).write_text(json.dumps(record))
        listed = grove("list", "--json").json
        lease = next(s for s in listed["slots"] if s["slot"] == 1)["lease"]
        assert lease["stale"] is True
        assert grove("release", "--stale", "--json").json["released"][0]["slot"] == 1
    finally:
        agent.kill()
        agent.wait()


def test_take_never_hands_out_a_slot_a_person_put_a_branch_on(repo: Path, grove) -> None:
    assert grove("create", "--branch", "feature/login").code == 0
    taken = grove("take", "--json").json
    assert taken["slot"] == 2
    assert git(repo.parent / "myproject-wt1", "branch", "--show-current").strip() == (
        "feature/login"
    )
    # A branch a take put on a slot stays grove's to hand out again once released.
    grove("release", "2")
    git(repo.parent / "myproject-wt2", "switch", "-q", "--detach")
    assert grove("take", "--branch", "task-1", "--json").json["slot"] == 2
    grove("release", "2")
    assert grove("take", "--json").json["slot"] == 2


# --- failed and killed takes --------------------------------------------------------------


def test_a_take_that_fails_in_setup_leaves_no_lease(repo: Path, grove) -> None:
    write_config(repo, "[setup]\nrun = ['exit 7']\n")
    failed = grove("take", "--label", "t1", "--json")
    assert failed.code == 1
    assert failed.json["error"]["code"] == "step-failed"
    assert not lease_file(repo, 1).exists()
    # The next take finishes that slot's setup instead of saying "no free slot".
    write_config(repo, "[setup]\nrun = ['true']\n")
    again = grove("take", "--json")
    assert again.code == 0, again.out
    assert again.json["slot"] == 1


def test_a_killed_take_leaves_a_stale_lease_that_never_blocks(repo: Path, tmp_path) -> None:
    gate = tmp_path / "gate"
    write_config(repo, f"[setup]\nrun = ['while [ ! -e {gate} ]; do sleep 0.05; done']\n")
    victim = spawn(repo, "take", "--branch", "task-doomed", "--label", "doomed", "--json")
    try:
        wait_for(lambda: lease_file(repo, 1).exists())
        record = json.loads(lease_file(repo, 1).read_text())
        assert record["taking"] is True
        assert record["pid"] == victim.pid
        victim.send_signal(signal.SIGKILL)
        victim.wait()
    finally:
        gate.touch()  # lets the orphaned setup command end
    again = grove_process("take", "--label", "next", "--json", cwd=repo)
    assert again.code == 0, again.out + again.err
    assert again.json["slot"] == 1
    assert again.json["lease"]["label"] == "next"
    assert again.json["lease"]["taking"] is False


def test_release_stale_clears_a_killed_takes_lease(repo: Path, grove, tmp_path) -> None:
    grove("create")
    victim = sleeper()
    record = {"label": "x", "pid": victim.pid, "since": time.time(), "taking": True}
    victim.kill()
    victim.wait()
    lease_file(repo, 1).parent.mkdir(parents=True, exist_ok=True)
    lease_file(repo, 1).write_text(json.dumps(record))
    released = grove("release", "--stale", "--json")
    assert released.json["released"] == [{"slot": 1, "label": "x", "pid": victim.pid}]


# --- races with real processes ------------------------------------------------------------


def _hold_grove_lock(repo: Path) -> subprocess.Popen[str]:
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from pathlib import Path; from grove import fsio\n"
            "with fsio.exclusive_lock(Path(sys.argv[1]), 5, 'test holder'):\n"
            "    print('held', flush=True); sys.stdin.readline()",
            str(repo / ".git" / "grove" / "lock"),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None
    assert holder.stdout.readline().strip() == "held"
    return holder


@pytest.mark.parametrize("round_", range(6))
def test_take_and_remove_at_once_never_lose_the_takers_slot(repo: Path, grove, round_) -> None:
    """remove decided outside the lock and then removed a slot take had just handed out."""
    grove("create")
    holder = _hold_grove_lock(repo)
    remover = spawn(repo, "remove", "1", "--json")
    taker = spawn(repo, "take", "--label", f"task-{round_}", "--json")
    time.sleep(0.3)  # both are past their checks and wait for the lock
    assert holder.stdin is not None
    holder.stdin.write("\n")
    holder.stdin.flush()
    holder.wait()
    took_out, took_err = taker.communicate(timeout=120)
    remover.communicate(timeout=120)
    assert taker.returncode == 0, took_err
    path = Path(json.loads(took_out)["path"])
    n = json.loads(took_out)["slot"]
    assert path.is_dir(), "take returned a slot that remove then deleted"
    assert lease_file(repo, n).exists()
    listing = git(repo, "worktree", "list", "--porcelain")
    assert f"worktree {path}\n" in listing


# --- crash-safe by slot identity ----------------------------------------------------------


def test_a_slot_removed_outside_grove_runs_its_setup_again(repo: Path, grove, tmp_path) -> None:
    log = tmp_path / "setup.log"
    write_config(repo, f"[setup]\nrun = ['echo ran >> {log}']\n")
    grove("create")
    git(repo, "worktree", "remove", "--force", str(repo.parent / "myproject-wt1"))
    assert grove("create", "1").code == 0
    assert log.read_text().splitlines() == ["ran", "ran"]


def test_a_folder_left_by_an_interrupted_remove_is_finished(repo: Path, grove) -> None:
    grove("create")
    slot = repo.parent / "myproject-wt1"
    local = (slot / ".env.local").read_text()
    # What a write racing a remove left: grove's own files, no worktree.
    git(repo, "worktree", "remove", "--force", str(slot))
    slot.mkdir()
    (slot / ".env").symlink_to("../myproject/.env")
    (slot / ".env.local").write_text(local)
    created = grove("create", "1", "--json")
    assert created.code == 0, created.out
    assert (slot / "README.md").exists()
    # remove N finishes one too.
    git(repo, "worktree", "remove", "--force", str(slot))
    slot.mkdir()
    (slot / ".env.local").write_text(local)
    assert grove("remove", "1").code == 0
    assert not slot.exists()


def test_a_leftover_folder_with_someone_elses_file_is_never_deleted(repo: Path, grove) -> None:
    slot = repo.parent / "myproject-wt1"
    slot.mkdir()
    (slot / "notes.txt").write_text("mine")
    refused = grove("create", "1", "--json")
    assert refused.code == 1
    assert (slot / "notes.txt").read_text() == "mine"


def test_remove_keeps_a_local_file_a_person_wrote(repo: Path, grove) -> None:
    grove("create")
    slot = repo.parent / "myproject-wt1"
    (slot / ".env.local").write_text("MY_TOKEN=abc\n" + (slot / ".env.local").read_text())
    refused = grove("remove", "1", "--json")
    assert refused.code == 1
    assert ".env.local" in refused.json["error"]["ignored_unrecreatable"]
    assert slot.is_dir()


def test_create_n_on_an_existing_slot_refuses_a_branch_it_would_ignore(repo: Path, grove) -> None:
    grove("create")
    refused = grove("create", "1", "--branch", "topic", "--json")
    assert refused.code == 2
    assert "--branch" in refused.json["error"]["message"]
    assert git(repo, "branch", "--list", "topic") == ""
    assert grove("create", "1", "--from", "HEAD").code == 2


# --- damaged state is refused, never read as empty, never exit 3 --------------------------


DAMAGE = [
    ("leases/1.json", b"[1, 2]"),
    ("leases/1.json", b'{"label": "x", "pid": "12", "since": 1}'),
    ("leases/1.json", b'{"label": "x", "pid": 99999999999999999999, "since": 1}'),
    ("leases/1.json", b"\xff\xfe not utf-8"),
    ("slots/1.json", b'{"setup_done": "all"}'),
    ("slots/1.json", b"\xff"),
    ("registry.json", b'{"adopted": []}'),
]


@pytest.mark.parametrize(("relative", "content"), DAMAGE)
def test_a_damaged_record_is_refused_naming_it(repo: Path, grove, relative, content) -> None:
    grove("create")
    path = repo / ".git" / "grove" / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    # remove would delete slot 1's setup record with the slot; refresh reads it.
    third = ("refresh" if relative.startswith("slots/") else "remove", "1", "--json")
    for args in (("take", "--json"), ("list", "--json"), third):
        result = grove(*args)
        assert result.code == 2, (args, result.out)
        assert result.json["error"]["code"] == "damaged-state"
        assert str(path) in result.json["error"]["message"]
        assert path.read_bytes() == content
    assert (repo.parent / "myproject-wt1").is_dir()


def test_state_folder_or_lock_of_the_wrong_type_is_refused(repo: Path, grove) -> None:
    grove("create")
    lock = repo / ".git" / "grove" / "lock"
    lock.unlink(missing_ok=True)
    lock.mkdir()
    result = grove("take", "--json")
    assert result.code == 2
    assert result.json["error"]["code"] == "damaged-state"
    lock.rmdir()
    state = repo / ".git" / "grove"
    import shutil

    shutil.rmtree(state)
    state.write_text("not a folder")
    result = grove("list", "--json")
    assert result.code == 2
    assert str(state) in result.json["error"]["message"]


def test_a_slot_folder_replaced_by_a_file_is_a_clear_error(repo: Path, grove) -> None:
    grove("create")
    slot = repo.parent / "myproject-wt1"
    import shutil

    shutil.rmtree(slot)
    slot.write_text("oops")
    for args in (("refresh", "1", "--json"), ("remove", "1", "--json"), ("take", "--json")):
        result = grove(*args)
        assert result.code in (0, 1, 2), args
        if result.code:
            assert "error" in result.json
    assert slot.read_text() == "oops"


@pytest.mark.parametrize("name", [".env", ".env.local"])
def test_an_env_file_that_is_a_folder_is_a_clear_error(repo: Path, grove, name) -> None:
    grove("create")
    slot = repo.parent / "myproject-wt1"
    target = (repo if name == ".env" else slot) / name
    target.unlink()
    target.mkdir()
    # refresh reads the local file to rewrite its block; env reads both.
    commands = [("env", "1", "--json")] + ([("refresh", "1", "--json")] if name != ".env" else [])
    for args in commands:
        result = grove(*args)
        assert result.code == 2, (args, result.out)
        message = result.json["error"]["message"]
        # main's shared file as a folder is refused when grove.toml is loaded
        assert f"{name} is a folder" in message or "not a folder" in message
    assert target.is_dir()


def test_a_non_utf8_env_file_is_refused_without_its_content(repo: Path, grove) -> None:
    grove("create")
    (repo / ".env").write_bytes(b"CITY=M\xfcnchen\nDB_PASSWORD=hunter2\n")
    for args in (("env", "1", "--json"), ("exec", "1", "--json", "--", "true")):
        result = grove(*args)
        assert result.code == 2, (args, result.out)
        assert "hunter2" not in result.out + result.err
        assert "line 1" in result.json["error"]["message"]


@pytest.mark.parametrize(
    ("relative", "content"),
    [("approved.json", b'{"files": []}'), ("agents.json", b'{"files": {"a": 1}}')],
)
def test_damaged_approvals_and_agents_manifest_are_refused(
    repo: Path, grove, relative, content
) -> None:
    path = repo / ".git" / "grove" / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    args = (
        ("env", "approve", "--json")
        if relative == "approved.json"
        else ("agents", "uninstall", "--json")
    )
    result = grove(*args)
    assert result.code == 2, result.out
    assert result.json["error"]["code"] == "damaged-state"
    assert path.read_bytes() == content


def test_the_task_inside_its_slot_releases_without_naming_itself(repo: Path, grove) -> None:
    grove("create")
    grove("create")
    agent = sleeper()
    try:
        grove("take", "--label", "agent-a", "--pid", str(agent.pid))
        neighbour = grove("release", "1", "--json", cwd=repo.parent / "myproject-wt2")
        assert neighbour.code == 1
        inside = grove("release", "--reset", "--json", cwd=repo.parent / "myproject-wt1")
        assert inside.code == 0, inside.out
        assert inside.json["released"][0]["label"] == "agent-a"
    finally:
        agent.kill()
        agent.wait()


def test_a_setup_step_that_hangs_is_stopped_at_the_timeout(repo: Path, grove, tmp_path) -> None:
    pid_file = tmp_path / "child.pid"
    write_config(
        repo,
        f"[grove]\nstep_timeout = 1\n[setup]\nrun = ['sh -c \"echo $$ > {pid_file}; sleep 60\"']\n",
    )
    started = time.monotonic()
    failed = grove("create", "--json")
    assert failed.code == 1
    error = failed.json["error"]
    assert error["code"] == "step-failed"
    assert error["timed_out"] is True
    assert "did not finish within 1s" in error["message"]
    assert time.monotonic() - started < 30
    child = int(pid_file.read_text())
    wait_for(lambda: not Path(f"/proc/{child}").exists() or _zombie(child), timeout=10)
    # The slot is kept, its setup unfinished: refresh or create 1 completes it later.
    assert (repo.parent / "myproject-wt1").is_dir()


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1].startswith("Z")
    except OSError:
        return True


def test_reset_never_follows_a_link_out_of_the_slot(repo: Path, grove, tmp_path) -> None:
    """An agent makes apps/web an ignored symlink to any folder (git does not show it);
    release --reset must not delete that folder's .next."""
    write_config(repo, '[reset]\ndisposable = ["apps/web/.next"]\n')
    grove("create")
    slot = repo.parent / "myproject-wt1"
    outside = tmp_path / "precious"
    (outside / ".next").mkdir(parents=True)
    (outside / ".next" / "keep.txt").write_text("not grove's")
    (slot / "apps").mkdir()
    (slot / "apps" / "web").symlink_to(outside)
    with (repo / ".git" / "info" / "exclude").open("a") as exclude:
        exclude.write("/apps/\n")
    assert git(slot, "status", "--porcelain") == ""
    done = grove("release", "1", "--reset", "--json")
    assert done.code == 0, done.out
    assert done.json["reset"]["removed"] == []
    assert (outside / ".next" / "keep.txt").read_text() == "not grove's"
