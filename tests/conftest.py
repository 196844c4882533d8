"""Real git repositories in temporary folders, with a hermetic git configuration."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from grove import config
from grove.cli import main
from grove.database.binaries import find_bin
from pgutil import free_port_base, require_unprivileged

GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "Grove Test",
    "GIT_AUTHOR_EMAIL": "test@example.invalid",
    "GIT_COMMITTER_NAME": "Grove Test",
    "GIT_COMMITTER_EMAIL": "test@example.invalid",
}


@pytest.fixture(autouse=True)
def hermetic_env(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test reads the user's git config or writes to their home folder."""
    home = tmp_path_factory.mktemp("home")
    gitconfig = home / "gitconfig"
    gitconfig.write_text("[init]\n\tdefaultBranch = main\n[advice]\n\tdetachedHead = false\n")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / ".cache"))
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(gitconfig))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    for key, value in GIT_IDENTITY.items():
        monkeypatch.setenv(key, value)
    for key in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "NO_COLOR"):
        monkeypatch.delenv(key, raising=False)


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(cwd), *args], check=True, capture_output=True, text=True
    ).stdout


def commit_all(cwd: Path, message: str = "change") -> None:
    git(cwd, "add", "-A")
    git(cwd, "commit", "-q", "-m", message)


def make_repo(parent: Path, name: str = "myproject", files: dict[str, str] | None = None) -> Path:
    main_dir = parent / name
    main_dir.mkdir(parents=True)
    git(main_dir, "init", "-q", "-b", "main")
    tracked = {"README.md": "# demo\n", ".gitignore": ".env\n.env.local\nnode_modules/\n"}
    tracked.update(files or {})
    for rel, text in tracked.items():
        (main_dir / rel).parent.mkdir(parents=True, exist_ok=True)
        (main_dir / rel).write_text(text)
    commit_all(main_dir, "initial")
    return main_dir


# The suite never uses the seed's port table (3000, 5434, 1025, 8025 + N): a developer's own
# servers listen there, and a test must not depend on what else runs on the machine. Every
# test repository gets the seed's variable names in a free, high range instead: the `repo`
# fixture commits a grove.toml holding only that table, and `write_config` appends it to a
# config that has no [ports] of its own. The few tests about the zero-config default use
# `bare_repo` and only read the values, never bind or probe them.
TEST_PORT_NAMES = tuple(config.DEFAULT_PORTS)
TEST_PORT_SPAN = 25  # per variable: room for 25 slots at stride 1
TEST_PORTS_MARK = "# tests: a free port range (conftest), never the machine's 3000/5434"
_PORTS_SECTION = re.compile(r"^\s*\[\s*ports\s*[\].]", re.MULTILINE)


def free_ports_table() -> str:
    """A [ports] table with the seed's variables in a free, high range, marked as the tests'."""
    base = free_port_base(TEST_PORT_SPAN * len(TEST_PORT_NAMES))
    lines = [TEST_PORTS_MARK, "[ports]"]
    lines += [f"{name} = {base + i * TEST_PORT_SPAN}" for i, name in enumerate(TEST_PORT_NAMES)]
    return "\n".join(lines) + "\n"


def _ports_table_of(main_dir: Path) -> str:
    """The test table already in main's grove.toml (kept, so slots keep their ports across
    a config change), or a new one."""
    try:
        current = (main_dir / "grove.toml").read_text()
    except OSError:
        current = ""
    if TEST_PORTS_MARK in current:
        return current[current.index(TEST_PORTS_MARK) :]
    return free_ports_table()


def with_test_ports(main_dir: Path, text: str) -> str:
    """text, plus the tests' [ports] table when it has no [ports] of its own."""
    if _PORTS_SECTION.search(text):
        return text
    separator = "\n" if text and not text.endswith("\n") else ""
    return text + separator + _ports_table_of(main_dir)


def slot_ports(main_dir: Path, n: int) -> dict[str, int]:
    """Slot n's ports, as grove computes them from main's grove.toml."""
    return config.load(main_dir).ports_for(n)


@pytest.fixture
def bare_repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A main checkout with a shared .env (dev values) and no grove.toml, cwd set to it.

    Zero config means the seed's port table, which a developer's own servers may hold: a
    test using it may read those ports but must not bind them or expect them free.
    """
    main_dir = make_repo(tmp_path / "work")
    (main_dir / ".env").write_text("API_KEY=sk_test_devkey1234567890\nFEATURE_X=on\n")
    monkeypatch.chdir(main_dir)
    return main_dir


@pytest.fixture
def repo(bare_repo: Path) -> Path:
    """bare_repo with a committed grove.toml holding only a free, high [ports] table."""
    write_config(bare_repo, "")
    return bare_repo


@dataclass
class Run:
    code: int
    out: str
    err: str

    @property
    def json(self) -> Any:
        return json.loads(self.out)


@pytest.fixture
def grove(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Call the CLI in-process: grove("create", "--json", cwd=path) -> Run."""

    def call(*args: str, cwd: Path | None = None) -> Run:
        capsys.readouterr()
        with monkeypatch.context() as patch:
            if cwd is not None:
                patch.chdir(cwd)
            code = main(list(args))
        captured = capsys.readouterr()
        return Run(code, captured.out, captured.err)

    yield call


def grove_process(
    *args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 120
) -> Run:
    """Run grove as a real process (for exec, signals and concurrency)."""
    proc = subprocess.run(
        [sys.executable, "-m", "grove", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=timeout,
        check=False,
    )
    return Run(proc.returncode, proc.stdout, proc.stderr)


def write_config(main_dir: Path, text: str) -> None:
    """Write and commit main's grove.toml; without a [ports] table of its own, the text gets
    the tests' free one (see TEST_PORTS_MARK)."""
    (main_dir / "grove.toml").write_text(with_test_ports(main_dir, text))
    commit_all(main_dir, "grove config")


def tree_snapshot(*roots: Path) -> dict[str, tuple[int, int, str]]:
    """Every file and link under roots with its mode, mtime and content or target."""
    snap: dict[str, tuple[int, int, str]] = {}
    for root in roots:
        for path in sorted(root.rglob("*")):
            st = path.lstat()
            if path.is_symlink():
                body = "->" + os.readlink(path)
            elif path.is_file():
                body = path.read_bytes().hex()
            else:
                body = "dir"
            snap[str(path)] = (st.st_mode, st.st_mtime_ns, body)
    return snap


@pytest.fixture
def fake_docker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A stand-in `docker` on PATH (no Docker engine runs on these machines).

    It appends its arguments, folder and the environment grove gave it to the returned
    log (one JSON object per call), prints FAKE_COMPOSE_PS (FAIL: fails like an engine
    that is down; NOPLUGIN: like a docker without the compose plugin) and exits with
    FAKE_DOCKER_EXIT.
    """
    folder = tmp_path / "fake-bin"
    folder.mkdir()
    log = tmp_path / "docker-calls.jsonl"
    script = folder / "docker"
    script.write_text(
        "#!/usr/bin/env python3\n"
        "import json, os, sys\n"
        "keys = ('PORT', 'DB_PORT', 'API_KEY', 'COMPOSE_PROJECT_NAME')\n"
        f"with open({str(log)!r}, 'a') as f:\n"
        "    call = {'argv': sys.argv[1:], 'cwd': os.getcwd()}\n"
        "    call.update({k: os.environ.get(k) for k in keys})\n"
        "    f.write(json.dumps(call) + '\\n')\n"
        "reply = os.environ.get('FAKE_COMPOSE_PS', '')\n"
        "if reply == 'FAIL':\n"
        "    sys.stderr.write('Cannot connect to the Docker daemon\\n'); sys.exit(1)\n"
        "if reply == 'NOPLUGIN':\n"
        "    sys.stderr.write(\"docker: 'compose' is not a docker command.\\n\"); sys.exit(1)\n"
        "if reply:\n"
        "    print(reply)\n"
        "sys.exit(int(os.environ.get('FAKE_DOCKER_EXIT', '0')))\n"
    )
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ['PATH']}")
    return log


@pytest.fixture
def bin_dir() -> Path:
    """PostgreSQL's bin folder, for tests that run real servers (never as root)."""
    require_unprivileged()
    return find_bin(None, Path.cwd())


def imported_by(cwd: Path, *args: str) -> set[str]:
    """The modules one in-process call of grove adds to a bare interpreter's."""
    probe = (
        "import io, sys, contextlib\n"
        "before = set(sys.modules)\n"
        "from grove.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        f"    code = main({list(args)!r})\n"
        "print(code, ' '.join(sorted(set(sys.modules) - before)))\n"
    )
    return set(_probe(cwd, probe).split())


def importers_of(
    cwd: Path, modules: tuple[str, ...], *args: str, prelude: str = ""
) -> dict[str, set[str]]:
    """For each of modules, the modules whose import statements asked for it during one
    in-process call of grove (its own import included), whether or not it was loaded yet.
    prelude: Python run first, unwatched."""
    probe = (
        f"{prelude}\n"
        "import builtins, io, sys, contextlib\n"
        f"asked = {{name: set() for name in {list(modules)!r}}}\n"
        "real = builtins.__import__\n"
        "def spy(name, globals=None, *rest, **kwargs):\n"
        "    if name in asked:\n"
        "        asked[name].add((globals or {}).get('__name__', '?'))\n"
        "    return real(name, globals, *rest, **kwargs)\n"
        "builtins.__import__ = spy\n"
        "from grove.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        f"    code = main({list(args)!r})\n"
        "builtins.__import__ = real\n"
        "import json\n"
        "print(code, json.dumps({name: sorted(found) for name, found in asked.items()}))\n"
    )
    found = json.loads(_probe(cwd, probe))
    return {name: set(importers) for name, importers in found.items()}


def _probe(cwd: Path, probe: str) -> str:
    """Run a probe that calls grove in-process and prints its exit code, a space, then what
    it found; that last part, once the call is seen to succeed."""
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=cwd, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    code, _, found = result.stdout.strip().partition(" ")
    assert code == "0", result.stderr
    return found


def logging_git(tmp_path: Path) -> tuple[dict[str, str], Path]:
    """(environment, log): with that environment, a git first on PATH appends its
    arguments to the log, then runs the real git."""
    import shutil
    import stat

    real = shutil.which("git")
    assert real is not None
    folder = tmp_path / "gitlog-bin"
    folder.mkdir(exist_ok=True)
    wrapper = folder / "git"
    wrapper.write_text(
        f'#!/bin/sh\nprintf "%s\\n" "$*" >> "$GROVE_TEST_GIT_LOG"\nexec {real} "$@"\n'
    )
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    log = tmp_path / "git.log"
    env = {"PATH": f"{folder}{os.pathsep}{os.environ['PATH']}", "GROVE_TEST_GIT_LOG": str(log)}
    return env, log
