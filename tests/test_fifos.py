"""A FIFO planted where grove reads a file is refused, never waited on.

Opening a FIFO for reading blocks until someone opens it for writing, so one `mkfifo` by a
confused or hostile agent (in its slot, in main, or under .git) used to hang every grove
command that read that path. Each case plants one and runs the real command as a process,
with a timeout: a hang fails the test instead of stalling the suite. The FIFO is still
there afterwards: grove names it and leaves it.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import write_config

TIMEOUT = 30  # seconds; each command takes well under one


def run(cwd: Path, *args: str, cached: bool = False) -> subprocess.CompletedProcess[str]:
    """grove ARGS as a process; env's answers are computed afresh unless `cached`."""
    env = dict(os.environ) if cached else {**os.environ, "GROVE_NO_CACHE": "1"}
    try:
        return subprocess.run(
            [sys.executable, "-m", "grove", *args],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            env=env,
            check=False,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"grove {' '.join(args)} waited on the planted FIFO")


@pytest.fixture
def slots(repo: Path) -> Path:
    """main and two slots, with a shared .env that is approved."""
    write_config(repo, '[grove]\nslots = 3\n[env]\nshared = [".env"]\n')
    (repo / ".env").write_text("API_URL=http://localhost\n")
    assert run(repo, "env", "approve").returncode == 0
    for _ in range(2):
        made = run(repo, "create", "--json")
        assert made.returncode == 0, made.stderr
    return repo


def plant(path: Path) -> Path:
    if path.is_symlink() or path.exists():
        path.unlink()
    os.mkfifo(path)
    return path


def still_a_fifo(path: Path) -> bool:
    return stat.S_ISFIFO(path.lstat().st_mode)


def error_of(result: subprocess.CompletedProcess[str]) -> dict:
    return json.loads(result.stdout)["error"]


@pytest.mark.parametrize("where", ["slot-local", "slot-shared", "main-shared"])
def test_env_names_a_fifo_where_an_env_file_belongs(slots: Path, where: str) -> None:
    slot = slots.parent / "myproject-wt1"
    path = {
        "slot-local": slot / ".env.local",
        "slot-shared": slot / ".env",
        "main-shared": slots / ".env",
    }[where]
    plant(path)
    result = run(slots, "env", "1", "--json")
    assert result.returncode == 2, result.stderr
    error = error_of(result)
    assert error["code"] == "unreadable-env-file"
    # main's own, or the slot's link to it: the path env read
    named = path if where != "main-shared" else slot / ".env"
    assert f"{named} is a FIFO where an env file belongs" in error["message"]
    assert still_a_fifo(path)


def test_validate_reports_a_fifo_local_file_and_checks_the_rest(slots: Path) -> None:
    fifo = plant(slots.parent / "myproject-wt1" / ".env.local")
    result = run(slots, "validate", "--all", "--json")
    assert result.returncode == 1, result.stderr
    findings = json.loads(result.stdout)["findings"]
    unreadable = [f for f in findings if f["check"] == "env.unreadable"]
    assert [f["slot"] for f in unreadable] == [1]
    assert "FIFO" in unreadable[0]["message"]
    assert not any(f["slot"] == 2 and f["severity"] == "error" for f in findings)
    assert still_a_fifo(fifo)


def test_validate_reports_a_fifo_shared_file_in_main(slots: Path) -> None:
    fifo = plant(slots / ".env")
    result = run(slots, "validate", "--all", "--json")
    assert result.returncode == 1, result.stderr
    assert still_a_fifo(fifo)


def test_validate_compares_a_stray_shared_copy_with_a_fifo_in_main(slots: Path) -> None:
    """Slot 1's .env is a regular file (not the link) and main's is a FIFO: the copy is
    reported as not a link, the FIFO is named, and nothing waits or crashes."""
    copy = slots.parent / "myproject-wt1" / ".env"
    copy.unlink()
    copy.write_text("API_URL=http://localhost\n")
    fifo = plant(slots / ".env")
    result = run(slots, "validate", "--all", "--json")
    assert result.returncode == 1, result.stderr
    checks = {(f["slot"], f["check"]) for f in json.loads(result.stdout)["findings"]}
    assert (1, "env.shared-not-link") in checks
    assert still_a_fifo(fifo)


def test_refresh_refuses_a_fifo_local_file_and_leaves_it(slots: Path) -> None:
    fifo = plant(slots.parent / "myproject-wt1" / ".env.local")
    result = run(slots, "refresh", "1", "--json")
    assert result.returncode == 2, result.stderr
    assert "is a FIFO where an env file belongs" in error_of(result)["message"]
    assert still_a_fifo(fifo)


def test_a_take_that_meets_a_fifo_local_file_fails_cleanly(slots: Path) -> None:
    fifo = plant(slots.parent / "myproject-wt1" / ".env.local")
    result = run(slots, "take", "--label", "t", "--json")
    assert result.returncode == 2, result.stderr
    assert "is a FIFO where an env file belongs" in error_of(result)["message"]
    listed = json.loads(run(slots, "list", "--json").stdout)["slots"]
    assert all(slot.get("lease") is None for slot in listed)  # the failed take let go
    assert still_a_fifo(fifo)


@pytest.mark.parametrize("name", ["digests.json", "cache/env-*"])
def test_a_fifo_in_place_of_a_cache_is_ignored(slots: Path, name: str) -> None:
    """A cache only ever saves work: a FIFO in its place is passed over and the answer is
    computed. (env's answers are kept under one of SLOTS names: every one is planted.)"""
    from grove.state import envcache

    state = slots / ".git" / "grove"
    (state / "cache").mkdir(exist_ok=True)
    each_slot = [name.replace("*", f"{i:02d}") for i in range(envcache.SLOTS)]
    names = each_slot if "*" in name else [name]
    fifos = [plant(state / each) for each in names]
    result = run(slots, "env", "1", "--format", "json", cached=True)
    assert result.returncode == 0, result.stderr
    assert "API_URL" in json.loads(result.stdout)["env"]
    taken = run(slots, "take", "--label", "t", "--json")
    assert taken.returncode == 0, taken.stderr
    assert json.loads(taken.stdout)["slot"] == 1
    assert all(still_a_fifo(fifo) for fifo in fifos)


def test_a_fifo_worktree_pointer_does_not_stop_list_take_env_or_refresh(slots: Path) -> None:
    """git's record of slot 1 (`.git/worktrees/<name>/gitdir`) replaced by a FIFO. `git
    worktree list` itself waits on it; list, take and the commands that find a slot by its
    number read git's records without blocking instead, and see slot 1 as not registered."""
    fifo = plant(slots / ".git" / "worktrees" / "myproject-wt1" / "gitdir")
    listed = run(slots, "list", "--json")
    assert listed.returncode == 0, listed.stderr
    for command in (("env", "1"), ("refresh", "1")):
        refused = run(slots, *command, "--json")
        assert refused.returncode == 2, refused.stderr
        assert "is not a registered worktree" in error_of(refused)["message"]
    assert run(slots, "env", "2", "--json").returncode == 0
    taken = run(slots, "take", "--label", "t", "--json")
    assert taken.returncode == 0, taken.stderr
    assert json.loads(taken.stdout)["slot"] == 2
    assert still_a_fifo(fifo)


def test_a_fifo_grove_toml_is_named_not_waited_on(slots: Path) -> None:
    config = slots / "grove.toml"
    config.unlink()
    os.mkfifo(config)
    result = run(slots, "list", "--json")
    assert result.returncode == 2, result.stderr
    message = error_of(result)["message"]
    assert message == f"{config}: cannot read (a FIFO, not a regular file)"
    assert still_a_fifo(config)


def test_logs_of_a_service_whose_log_is_a_fifo_show_nothing(slots: Path) -> None:
    write_config(slots, '[grove]\nslots = 3\n[env]\nshared = [".env"]\n[services]\nweb = "true"\n')
    logs = slots / ".git" / "grove" / "logs" / "1"
    logs.mkdir(parents=True)
    fifo = plant(logs / "web.log")
    result = run(slots, "logs", "1", "web", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["lines"] == []
    assert still_a_fifo(fifo)


def test_init_reads_past_fifos_in_the_repository(tmp_path: Path) -> None:
    """init's scan reads package.json, env examples and compose files: a FIFO among them
    teaches it nothing, and the scan goes on."""
    from conftest import make_repo

    main_dir = make_repo(tmp_path / "w", files={".env.example": "ADMIN_PORT=9000\n"})
    for name in ("package.json", ".env.local.example"):
        plant(main_dir / name)
    result = run(main_dir, "init", "--dry-run", "--json")
    assert result.returncode == 0, result.stderr
    assert "ADMIN_PORT" in json.loads(result.stdout)["content"]  # the scan went on
    assert still_a_fifo(main_dir / "package.json")


def test_a_fifo_local_file_is_not_taken_for_grove_s_own(tmp_path: Path) -> None:
    """Whether a local file holds only grove's block decides if it may be deleted: a FIFO
    is not read (it would wait) and counts as a person's. (In a process of its own, so a
    wait fails the test rather than stalling the suite.)"""
    os.mkfifo(tmp_path / ".env.local")
    probe = (
        "import sys; from pathlib import Path; from grove import envfile; "
        "print(envfile.holds_only_managed_block(Path(sys.argv[1]) / '.env.local'))"
    )
    try:
        result = subprocess.run(
            [sys.executable, "-c", probe, str(tmp_path)],
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            check=True,
        )
    except subprocess.TimeoutExpired:
        pytest.fail("holds_only_managed_block waited on the FIFO")
    assert result.stdout.strip() == "False"
