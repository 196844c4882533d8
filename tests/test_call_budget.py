"""What a call costs, held where the machine's speed cannot move it: how many git processes
`list` and `take` start, and which modules `--help`, `list` and `env` import. The times
themselves are measured by bench/speed.py; these tests keep their causes from creeping back.

git is the real one: a wrapper first on PATH appends its arguments to a log, then execs it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import git, imported_by, importers_of, logging_git, write_config
from pgutil import free_port_base, stop_all_clusters

# Modules no everyday command needs: each one cost milliseconds of every call when it was
# imported (dataclasses compiled with exec and brought inspect; concurrent.futures, python-
# dotenv's package and psutil brought logging; rich rendered tables).
NEVER = {
    "dataclasses",
    "inspect",
    "logging",
    "concurrent.futures",
    "psutil",
    "rich",
    "dotenv",
    "dotenv.main",
    "tempfile",
    "uuid",
    "secrets",
    "yaml",
    "importlib.metadata",
    "asyncio",
    "email",
    "http",
    "grove.detect",  # init's repository scan: a slot's environment needs only grove.values
    "grove.injected",  # [secrets] inject: only commands that start a process run the manager
}


@pytest.fixture
def slots(repo: Path) -> Path:
    """main and two slots, made through real processes, with a shared .env."""
    write_config(repo, "[grove]\nslots = 3\n")
    for _ in range(2):
        result = run_grove(repo, "create", "--json")
        assert result.returncode == 0, result.stderr
    return repo


def run_grove(
    cwd: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "grove", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=120,
        check=False,
    )


def git_calls(
    tmp_path: Path, cwd: Path, *args: str
) -> tuple[list[str], subprocess.CompletedProcess[str]]:
    """The git command lines `grove ARGS` ran, and its result."""
    env, log = logging_git(tmp_path)
    log.unlink(missing_ok=True)
    result = run_grove(cwd, *args, env=env)
    calls = log.read_text().splitlines() if log.exists() else []
    return calls, result


def subcommand(line: str) -> str:
    """`status` of `--no-optional-locks -C /path status --porcelain=v2 ...`."""
    words = line.split()
    i = 0
    while i < len(words) and words[i].startswith("-"):
        i += 2 if words[i] == "-C" else 1
    return words[i] if i < len(words) else ""


def test_list_runs_one_git_status_per_slot_and_at_most_one_call_besides(
    slots: Path, tmp_path: Path
) -> None:
    calls, result = git_calls(tmp_path, slots, "list", "--json")
    assert result.returncode == 0, result.stderr
    assert len(json.loads(result.stdout)["slots"]) == 3
    kinds = [subcommand(line) for line in calls]
    # One status per slot, which tells branch, commit and changes at once (the repository
    # and its worktrees are read from `.git`'s files, without git). Whether the shared files
    # are tracked is asked with ls-files only while main's index is too new to trust a
    # cached answer.
    if "ls-files" in kinds:
        kinds.remove("ls-files")
    assert kinds == ["status"] * 3, calls


def test_take_of_a_warm_slot_runs_at_most_six_git_calls(slots: Path, tmp_path: Path) -> None:
    calls, result = git_calls(
        tmp_path, slots, "take", "--branch", "task-1", "--label", "t", "--json"
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["branch"] == "task-1"
    slot = str(slots.parent / "myproject-wt1")
    kinds = [subcommand(line) for line in calls if f"-C {slots} ls-files" not in line]
    # Start point, branch name valid and branch new (side by side, with the likely slot's
    # status), the switch, and which shared files the start commit tracks (while the switch
    # runs). Whether main's index tracks them is asked only while its index is too new to
    # trust a cached answer. The repository and its worktrees are read from .git's files.
    assert len(kinds) <= 6, calls
    assert "worktree" not in kinds, calls
    assert "rev-parse --path-format=absolute" not in " ".join(calls)
    assert kinds.count("status") == 1, calls
    assert kinds.count("switch") == 1, calls
    assert not any(f"-C {slot} ls-files" in line for line in calls), calls


def test_help_imports_nothing_but_its_own_text(tmp_path: Path) -> None:
    loaded = imported_by(tmp_path, "--help")
    assert {m for m in loaded if not m.startswith("grove")} <= {"collections.abc", "__future__"}
    assert {m for m in loaded if m.startswith("grove")} <= {
        "grove",
        "grove.cli",
        "grove.usage",
        "grove.errors",
    }


EVERYDAY = [
    ("list", "--json"),
    ("list",),
    ("env", "1", "--format", "json"),
    ("take", "--branch", "task-x", "--label", "t", "--json"),
]


@pytest.mark.parametrize("args", EVERYDAY)
def test_everyday_commands_import_no_heavy_module(slots: Path, args: tuple[str, ...]) -> None:
    loaded = imported_by(slots, *args)
    assert "grove.config" in loaded  # the probe ran the command, not just the parser
    assert sorted(loaded & NEVER) == []
    assert not any(m.startswith(("rich.", "psutil.", "dotenv.", "concurrent.")) for m in loaded)


@pytest.mark.parametrize("args", EVERYDAY)
def test_no_grove_module_imports_typing_or_string(slots: Path, args: tuple[str, ...]) -> None:
    """typing cost ~3 ms of every call, string a regex: grove's modules name typing's types
    under TYPE_CHECKING only. Others still import them: python-dotenv's parser (for a .env
    file) and tomllib (when grove.toml changed since its parse was cached)."""
    asked = importers_of(slots, ("typing", "string"), *args)
    # python-dotenv's parser.py, which envfile loads under a name of grove's own.
    theirs = {"grove._dotenv_parser"}
    assert sorted(m for m in asked["typing"] - theirs if m.startswith("grove")) == []
    assert sorted(m for m in asked["string"] - theirs if m.startswith("grove")) == []


def test_a_take_with_a_database_imports_no_typing_or_hashing(
    repo: Path, tmp_path: Path, bin_dir: Path
) -> None:
    """A warm take of a repository with a cluster database (the real-app bench's shape) checks
    the template, the approval and the slot's server: typing (~3 ms) and hashlib (~3 ms, with
    OpenSSL) load only to build a template, hash changed files or name a password anew."""
    base = free_port_base(3)
    (repo / "db").mkdir()
    (repo / "db" / "seed.sql").write_text("CREATE TABLE t (x int);\n")
    write_config(
        repo,
        f"[grove]\nslots = 2\n[ports]\nDB_PORT = {base}\n[database]\n"
        "seed = ['psql -v ON_ERROR_STOP=1 -q -f db/seed.sql']\nseed_inputs = ['db/seed.sql']\n",
    )
    # The files were written a moment ago: without this, a digest is not kept until its files
    # are 3 s old (they may still change within their timestamp's tick), and each take hashes.
    settled = "from grove.state import digests; digests.SETTLED_NS = -1"
    slot = repo.parent / "myproject-wt1"

    def take(branch: str) -> dict[str, set[str]]:
        asked = importers_of(
            repo,
            ("typing", "hashlib"),
            "take",
            "--branch",
            branch,
            "--label",
            "t",
            "--json",
            prelude=settled,
        )
        assert git(slot, "branch", "--show-current").strip() == branch  # it ran
        assert run_grove(repo, "release", "1", "--label", "t").returncode == 0
        git(slot, "switch", "-q", "--detach")
        return asked

    try:
        take("makes-the-slot")  # makes slot 1, main's database and the template
        take("keeps-the-digests")  # a warm take, whose answers are now kept
        asked = take("task-db")
        theirs = {"grove._dotenv_parser"}  # python-dotenv's parser: see the test above
        assert sorted(m for m in asked["typing"] - theirs if m.startswith("grove")) == []
        assert sorted(m for m in asked["hashlib"] if m.startswith("grove")) == []
    finally:
        stop_all_clusters(tmp_path, bin_dir)


def test_env_imports_no_socket_or_hashing(slots: Path) -> None:
    """env reads files and one git call's answer: no port probe, no digest."""
    loaded = imported_by(slots, "env", "1", "--format", "json")
    assert sorted(loaded & {"socket", "hashlib", "hmac", "_hashlib", "shutil", "bz2"}) == []


def test_programs_are_found_on_the_childs_path_before_the_fork(tmp_path: Path) -> None:
    """proc starts git by its path (the child's own search costs one failed exec per PATH
    folder while grove waits), found exactly as the child would find it."""
    from grove import proc

    first, second, empty = tmp_path / "first", tmp_path / "second", tmp_path / "empty"
    for folder in (first, second, empty):
        folder.mkdir()
    (first / "tool").write_text("#!/bin/sh\n")  # not executable: skipped, as exec skips it
    (empty / "tool").mkdir()  # a folder of that name: skipped
    (second / "tool").write_text("#!/bin/sh\necho second\n")
    (second / "tool").chmod(0o755)
    path = os.pathsep.join([str(first), str(empty), str(second)])
    assert proc._executable("tool", {"PATH": path}) == f"{second}/tool"
    assert proc.run(["tool"], env={"PATH": path}).stdout == "second\n"
    assert proc._executable("./tool", {"PATH": path}) is None  # a path: used as it is
    assert proc._executable("tool", {"PATH": f".{os.pathsep}{second}"}) is None  # child's cwd
    assert proc._executable("absent-tool", {"PATH": path}) is None


def test_list_starts_statuses_early_and_reaps_what_it_does_not_use(
    slots: Path, tmp_path: Path
) -> None:
    """list starts the statuses of main and the worktrees beside it before it loads the
    rest of grove, and uses each once; a worktree that is no slot costs one unread status."""
    subprocess.run(
        ["git", "-C", str(slots), "worktree", "add", "-q", "--detach", str(slots.parent / "other")],
        check=True,
    )
    calls, result = git_calls(tmp_path, slots, "list", "--json")
    assert result.returncode == 0, result.stderr
    assert [row["slot"] for row in json.loads(result.stdout)["slots"]] == [0, 1, 2]
    statuses = [line for line in calls if subcommand(line) == "status"]
    assert len(statuses) == 4, calls  # main, wt1, wt2, and the foreign `other`, once each
    assert sum(str(slots.parent / "other") in line for line in statuses) == 1


def test_a_list_that_fails_leaves_no_early_status_behind(
    slots: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from grove import git
    from grove.cli import main

    (slots / "grove.toml").write_text("[grove\n")  # list fails after its statuses started
    monkeypatch.chdir(slots)
    assert main(["list", "--json"]) == 2
    assert "not valid TOML" in capsys.readouterr().out
    assert git._prestarted == {}


def test_list_asks_the_kernel_for_listening_ports_without_socket_py(slots: Path) -> None:
    """The netlink query uses the C socket type: socket.py's layer cost 3-5 ms to load."""
    loaded = imported_by(slots, "list", "--json")
    assert "grove.processes" in loaded
    assert "socket" not in loaded


@pytest.mark.parametrize("name", ["grove", "git-grove"])
def test_the_installed_command_starts_without_importing_re(name: str, tmp_path: Path) -> None:
    """grove's own launcher (scripts/), not pip's generated one, which imports re (with enum
    and functools) before grove runs: `--help` then loads nothing of it."""
    script = shutil.which(name, path=str(Path(sys.executable).parent))
    assert script is not None, f"{name} is not installed beside {sys.executable}"
    result = subprocess.run(
        [sys.executable, "-X", "importtime", script, "--help"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    imported = {line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines()}
    assert "grove.usage" in imported
    assert not imported & {"re", "enum", "argparse", "pathlib"}
