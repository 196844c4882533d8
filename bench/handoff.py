#!/usr/bin/env python3
"""How long handing a warm slot to a new task takes (`grove take`), and giving it back
(`grove release --reset`), next to creating a fresh worktree for the task.

Run on purpose, not by the test suite, as a user PostgreSQL agrees to run as (not root):

    python bench/handoff.py                          # print the markdown section
    python bench/handoff.py --write                  # also update docs/benchmarks.md
    python bench/handoff.py --output /tmp/section.md # write the section to a file instead

The script builds its own fixture in a temporary folder: a git repository of a Next.js-like
project with real, pinned npm dependencies (a node_modules of at least 300 MB) and their
committed package-lock.json, a branch whose lockfile adds one small dependency, and a
`db/seed.sql` that loads 550,000 rows into two indexed tables. npm's cache lives in the
fixture and is filled before anything is timed. grove is configured with `[setup] copy`
and `run` (`npm ci`), `[reset] disposable` and a cluster mode `[database]`; slot 1 is made
once with `grove create`.

Then, round by round (the order of the three groups alternating), it times

- (a) `grove take --branch <new> --json` of the free warm slot (lockfile unchanged);
- (b) `grove release 1 --reset --json` after a simulated task (a commit on the branch,
  build output in `.next/`, rows written to the slot's database);
- the same two once more through an instrumented launcher (grove's own `main()` with
  timers around its steps) for the breakdown, and for the database reset's share of (b);
- (e) `grove take` of a branch whose package-lock.json differs (grove re-runs `npm ci`),
  and, for reference, the `release --reset` after it (which installs main's lockfile again);
- (c) `git worktree add -b` + `cp -a` of main's node_modules;
- (d) `git worktree add -b` + `npm ci --prefer-offline` from the warm cache.

Fresh worktrees of (c) and (d) are removed after each run, outside the timed region. Every
PostgreSQL grove started is stopped at the end, and the fixture is removed unless --keep.
Standard library only; grove, git, npm and PostgreSQL's programs run as subprocesses.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchlib import (
    command_line,
    cpu_description,
    find_grove,
    free_port_range,
    grove_python,
    write_section,
)

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "benchmarks.md"
SECTION = "## Evergreen handoff: grove take vs creating a worktree"
REPRODUCE = "python bench/handoff.py --write"
PROJECT = "shop"
DB_NAME = "app"
SLOT = 1
DEFAULT_REPEAT = 5
DEFAULT_WARMUP = 1
DEFAULT_ROWS = 500_000
MIN_NODE_MODULES = 300e6  # bytes
TARGET_TAKE_SECONDS = 0.2  # (a) median at most 0.2 s
TARGET_TAKE_RATIO = 0.1  # and at most 1/10 of (c)
TARGET_RELEASE_OVERHEAD = 0.5  # (b) at most 0.5 s plus the database reset

# Real, pinned npm dependencies of a Next.js application and its toolchain. With their
# transitive dependencies (next brings its native SWC binaries) they make a node_modules
# of about 540 MB in some 20,700 files (npm 11, Linux x64).
DEPENDENCIES = {
    "@babel/core": "8.1.3",
    "@swc/core": "1.16.22",
    "eslint": "10.15.0",
    "jest": "30.5.2",
    "next": "16.4.6",
    "prettier": "3.10.1",
    "react": "19.3.1",
    "react-dom": "19.3.1",
    "typescript": "7.0.2",
}
# The branch of (e) adds this one small dependency, so only its package.json and
# package-lock.json differ from main.
EXTRA_DEPENDENCY = ("is-number", "7.0.0")
LOCKFILE_BRANCH = "deps/add-is-number"

SETUP_RUN = "npm ci --prefer-offline --no-audit --no-fund"
SEED_COMMAND = "psql -v ON_ERROR_STOP=1 -q -f db/seed.sql"
DISPOSABLE = (".next", "dist")
# What the simulated task leaves in .next/ (build output `release --reset` removes).
BUILD_FILES = 1500
BUILD_FILE_BYTES = 16 * 1024


def seed_sql(rows: int) -> str:
    accounts = max(1, rows // 10)
    return textwrap.dedent(
        f"""\
        -- Benchmark seed: {accounts:,} accounts and {rows:,} orders, with indexes.
        CREATE TABLE accounts (
            id bigint PRIMARY KEY,
            email text NOT NULL UNIQUE,
            name text NOT NULL,
            created_at timestamptz NOT NULL
        );
        INSERT INTO accounts
        SELECT g, 'user' || g || '@example.com', 'User ' || g,
               timestamptz '2024-01-01 00:00:00+00' + g * interval '1 minute'
        FROM generate_series(1, {accounts}) AS g;

        CREATE TABLE orders (
            id bigint PRIMARY KEY,
            account_id bigint NOT NULL REFERENCES accounts (id),
            status text NOT NULL,
            total_cents integer NOT NULL,
            note text,
            created_at timestamptz NOT NULL
        );
        INSERT INTO orders
        SELECT g, 1 + (g::bigint * 7919) % {accounts},
               (ARRAY['new', 'paid', 'shipped', 'refunded'])[1 + g % 4],
               (g * 37) % 100000, md5(g::text),
               timestamptz '2024-01-01 00:00:00+00' + g * interval '10 seconds'
        FROM generate_series(1, {rows}) AS g;
        CREATE INDEX orders_account_id ON orders (account_id);
        CREATE INDEX orders_created_at ON orders (created_at);
        ANALYZE;
        """
    )


# ---------------------------------------------------------------- instrumented launcher

# grove's functions the breakdown times, as "module:qualified name". Each is wrapped; a
# call is recorded under the chain of wrapped calls it runs in, inclusive of its callees.
PROBES = (
    "grove.slots:open_grove",
    "grove.lifecycle.take:take",
    "grove.lifecycle.release:release",
    "grove.lifecycle.release:reset_slot",
    "grove.lifecycle.take:_free_slot",
    "grove.lifecycle.take:_hand_over",
    "grove.lifecycle.create:check_request",
    "grove.lifecycle.create:prepare_database",
    "grove.lifecycle.remove:risks",
    "grove.git:switch",
    "grove.git:switch_detached",
    "grove.git:status",
    "grove.git:discard_changes",
    "grove.converge:link_shared",
    "grove.converge:write_local",
    "grove.fsio:remove_tree",
    "grove.fsio:copy_tree",
    "grove.fsio:write_atomic",
    "grove.database:ensure_template",
    "grove.database:seed_digest",
    "grove.database:reset",
    "grove.database:provision",
    "grove.database:start",
    "grove.database:check_port",
    "grove.database:run_migrations",
    "grove.database.cluster_mode:ClusterBackend._clone",
    "grove.database.cluster:Cluster.stop",
    "grove.database.cluster:Cluster.start",
    "grove.steps:sync",
    "grove.steps:install_digest",
    "grove.steps:_run",
    "grove.state.leases:write",
    "grove.state.leases:end",
)

# Runs as `python -c LAUNCHER <grove arguments>`: grove's console script (`grove.cli:main`)
# with the probes above put in place as each module is first imported (so grove imports
# exactly what it always does, when it always does). The timings go to the file named by
# GROVE_BENCH_TIMINGS.
LAUNCHER = r"""
import importlib.abc, json, os, sys, time
entered = time.perf_counter()
stack, totals, order, found = [], {}, [], set()
wanted = {}
for spec in json.loads(os.environ["GROVE_BENCH_PROBES"]):
    module_name, _, qualname = spec.partition(":")
    wanted.setdefault(module_name, []).append((qualname, spec))
def wrap(owner, attr, name):
    original = getattr(owner, attr)
    def probe(*args, **kwargs):
        stack.append(name)
        key = " > ".join(stack)
        if key not in totals:
            totals[key] = 0.0
            order.append(key)
        start = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            totals[key] += time.perf_counter() - start
            stack.pop()
    setattr(owner, attr, probe)
def patch(module):
    for qualname, spec in wanted.get(module.__name__, []):
        owner = module
        *path, attr = qualname.split(".")
        try:
            for part in path:
                owner = getattr(owner, part)
            getattr(owner, attr)
        except AttributeError:
            continue
        wrap(owner, attr, spec)
        found.add(spec)
class Hook(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name not in wanted:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(name, path, target)
            if spec is not None:
                break
        else:
            return None
        run_module = spec.loader.exec_module
        def exec_module(module):
            run_module(module)
            patch(module)
        spec.loader.exec_module = exec_module
        return spec
sys.meta_path.insert(0, Hook())
from grove import cli
sys.argv[0] = "grove"
main_at = time.perf_counter()
code = 3
try:
    code = cli.main()
finally:
    ended = time.perf_counter()
    missing = [spec for specs in wanted.values() for _, spec in specs
               if spec not in found and spec.partition(":")[0] in sys.modules]
    with open(os.environ["GROVE_BENCH_TIMINGS"], "w", encoding="utf-8") as fh:
        json.dump({"entered": entered, "main": main_at, "ended": ended, "totals": totals,
                   "order": order, "missing": missing}, fh)
sys.exit(code)
"""

LABELS = {
    "grove.slots:open_grove": "find the repository (its `.git`), read grove.toml",
    "grove.lifecycle.take:take": "`take()`",
    "grove.lifecycle.release:release": "`release()`",
    "grove.lifecycle.release:reset_slot": "`reset_slot()`",
    "grove.lifecycle.take:_free_slot": "find the free, clean slot (leases, `git status`)",
    "grove.lifecycle.take:_hand_over": "hand the slot over",
    "grove.lifecycle.create:check_request": "check the request (`git rev-parse`, branch)",
    "grove.lifecycle.create:prepare_database": "database template up to date?",
    "grove.database:ensure_template": ("take the template lock, compare the seed digest"),
    "grove.database:seed_digest": "hash the seed inputs",
    "grove.fsio:write_atomic": "write a file (temp file, fsync, rename)",
    "grove.lifecycle.remove:risks": "work a reset would lose? (`git status`)",
    "grove.git:switch": "`git switch`",
    "grove.git:switch_detached": "`git switch --detach` to main's HEAD",
    "grove.git:status": "`git status`",
    "grove.git:discard_changes": "discard changes",
    "grove.converge:link_shared": "relink the shared env files",
    "grove.converge:write_local": "rewrite `.env.local`'s managed block",
    "grove.fsio:remove_tree": "remove a folder",
    "grove.fsio:copy_tree": "`cp -a` a folder",
    "grove.database:reset": "**database reset**",
    "grove.database:provision": "database provisioned and running?",
    "grove.database:start": "start the server if it is not running",
    "grove.database:check_port": "is the port free? (psutil)",
    "grove.database:run_migrations": "migrations (none configured)",
    "grove.database.cluster_mode:ClusterBackend._clone": "copy the template into the slot",
    "grove.database.cluster:Cluster.stop": "`pg_ctl stop -m fast`",
    "grove.database.cluster:Cluster.start": "`pg_ctl start -w`",
    "grove.steps:sync": "sync (database up; install if the lockfile changed)",
    "grove.steps:install_digest": "hash the lockfiles",
    "grove.steps:_run": "run `npm ci`",
    "grove.state.leases:write": "write the lease",
    "grove.state.leases:end": "end the lease",
}
DB_RESET_KEY = " > ".join(
    (
        "grove.lifecycle.release:release",
        "grove.lifecycle.release:reset_slot",
        "grove.database:reset",
    )
)
STARTUP = "process start-up and imports, until grove's `main()`"
CLI_REST = "the rest of `main()`: arguments, import of the command's modules, JSON answer"
EXIT = "interpreter exit (and the launcher writing its timings)"


# ---------------------------------------------------------------- environment


def bench_env(home: Path, npm_cache: Path) -> dict[str, str]:
    """The caller's environment (CA settings, proxies, registry) without its git and libpq
    settings, plus a throwaway home, a hermetic git identity and npm's cache in the
    fixture."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("GIT_", "PG")) and k not in {"PYTHONDONTWRITEBYTECODE"}
    }
    for key in [k for k in env if k.lower().startswith("npm_config_cache")]:
        del env[key]
    gitconfig = home / "gitconfig"
    gitconfig.write_text("", encoding="utf-8")
    env.update(
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / ".config"),
        XDG_CACHE_HOME=str(home / ".cache"),
        PYTHONPYCACHEPREFIX=str(home / "pycache"),  # grove starts as an installed copy does
        GIT_CONFIG_GLOBAL=str(gitconfig),
        GIT_CONFIG_NOSYSTEM="1",
        GIT_AUTHOR_NAME="Grove Bench",
        GIT_AUTHOR_EMAIL="bench@example.invalid",
        GIT_COMMITTER_NAME="Grove Bench",
        GIT_COMMITTER_EMAIL="bench@example.invalid",
        npm_config_cache=str(npm_cache),
        npm_config_audit="false",
        npm_config_fund="false",
        npm_config_update_notifier="false",
        npm_config_loglevel="error",
    )
    return env


def run(
    argv: Sequence[str], cwd: Path, env: Mapping[str, str], check: bool = True
) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        list(argv), cwd=cwd, env=dict(env), capture_output=True, text=True, check=False
    )
    if check and proc.returncode != 0:
        raise RuntimeError(
            f"{' '.join(argv)} (in {cwd}) exited {proc.returncode}:\n{proc.stderr}{proc.stdout}"
        )
    return proc


def timed(argv: Sequence[str], cwd: Path, env: Mapping[str, str]) -> float:
    """Seconds a command that must succeed takes, wall clock."""
    start = time.perf_counter()
    run(argv, cwd, env)
    return time.perf_counter() - start


def log(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def sync() -> None:
    """Flush dirty pages, so one run's write-back is not billed to the next."""
    subprocess.run(["sync"], check=False)


def find_pg_bin(explicit: str | None) -> Path:
    """PostgreSQL's bin folder, looked up the way grove does (PATH, then Debian's layout)."""
    needed = ("initdb", "pg_ctl", "postgres", "psql")
    candidates: list[Path] = []
    if explicit:
        candidates.append(Path(explicit))
    on_path = shutil.which("pg_ctl")
    if on_path:
        candidates.append(Path(on_path).resolve().parent)
    candidates += sorted(
        (p for p in Path("/usr/lib/postgresql").glob("*/bin") if p.parent.name.isdigit()),
        key=lambda p: int(p.parent.name),
        reverse=True,
    )
    for folder in candidates:
        if all((folder / name).exists() for name in needed):
            return folder
    sys.exit("PostgreSQL's programs (initdb, pg_ctl, psql) not found: pass --pg-bin")


# ---------------------------------------------------------------- fixture


@dataclass
class Fixture:
    tmp: Path
    repo: Path
    env: dict[str, str]
    grove: Path
    pg_bin: Path
    rows: int
    db_port: int  # slot 1's DB_PORT
    one_time: dict[str, float] = field(default_factory=dict)
    sizes: dict[str, str] = field(default_factory=dict)
    main_head: str = ""

    @property
    def slot_path(self) -> Path:
        return self.repo.parent / f"{PROJECT}-wt{SLOT}"

    def pg_env(self) -> dict[str, str]:
        env = dict(self.env)
        env.update(
            PGHOST="127.0.0.1",
            PGPORT=str(self.db_port),
            PGUSER="postgres",
            PGDATABASE=DB_NAME,
            # grove's clusters take only the repository's password (issue 13).
            PGPASSWORD=(self.repo / ".git" / "grove" / "pg" / "password").read_text().strip(),
        )
        return env

    def sql(self, query: str) -> str:
        argv = [str(self.pg_bin / "psql"), "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", query]
        return run(argv, self.tmp, self.pg_env()).stdout.strip()


def grove_toml(port_base: int, db_port_base: int, pg_bin: Path) -> str:
    return textwrap.dedent(
        f"""\
        [grove]
        slots = 2

        [ports]
        PORT = {port_base}
        DB_PORT = {db_port_base}

        [setup]
        copy = ["node_modules"]
        run = ["{SETUP_RUN}"]

        [reset]
        disposable = {json.dumps(list(DISPOSABLE))}

        [database]
        engine = "postgres"
        mode = "cluster"
        name = "{DB_NAME}"
        seed = ["{SEED_COMMAND}"]
        seed_inputs = ["db/seed.sql"]
        bin = "{pg_bin}"
        """
    )


def tree_size(path: Path) -> tuple[int, int]:
    """Bytes on disk (du) and number of files under path."""
    out = subprocess.run(
        ["du", "-s", "-B1", str(path)], capture_output=True, text=True, check=True
    ).stdout
    files = sum(len(names) for _, _, names in os.walk(path))
    return int(out.split()[0]), files


def new_fixture(args: argparse.Namespace, tmp: Path, grove: Path, pg_bin: Path) -> Fixture:
    """Paths, environment and ports; nothing started yet."""
    home = tmp / "home"
    home.mkdir()
    env = bench_env(home, tmp / "npm-cache")
    env["PATH"] = os.pathsep.join([str(grove.parent), str(pg_bin), env.get("PATH", "")])
    rng = random.Random()
    taken: set[int] = set()
    port_base = free_port_range(2, taken, rng)
    db_port_base = free_port_range(2, taken, rng)
    repo = tmp / "grove" / PROJECT
    repo.mkdir(parents=True)
    (repo / "grove.toml").write_text(grove_toml(port_base, db_port_base, pg_bin), encoding="utf-8")
    return Fixture(tmp, repo, env, grove, pg_bin, args.rows, db_port_base + SLOT)


def write_project(repo: Path, rows: int) -> None:
    package = {
        "name": PROJECT,
        "version": "1.0.0",
        "private": True,
        "description": "grove handoff benchmark fixture",
        "scripts": {"dev": "next dev", "build": "next build", "test": "jest"},
        "dependencies": DEPENDENCIES,
    }
    (repo / "package.json").write_text(json.dumps(package, indent=2) + "\n", encoding="utf-8")
    ignored = [".env", ".env.local", "node_modules/", *(f"{d}/" for d in DISPOSABLE)]
    (repo / ".gitignore").write_text("\n".join(ignored) + "\n", encoding="utf-8")
    (repo / "db").mkdir()
    (repo / "db" / "seed.sql").write_text(seed_sql(rows), encoding="utf-8")
    pages = repo / "app"
    pages.mkdir()
    (pages / "page.tsx").write_text(
        "export default function Home() {\n  return <main>shop</main>;\n}\n", encoding="utf-8"
    )
    (pages / "layout.tsx").write_text(
        "export default function Layout({ children }: { children: React.ReactNode }) {\n"
        "  return <html><body>{children}</body></html>;\n}\n",
        encoding="utf-8",
    )


def make_lockfile_branch(fixture: Fixture) -> None:
    """A branch whose package.json and package-lock.json add EXTRA_DEPENDENCY; its tarball
    goes into npm's cache, so (e)'s `npm ci --prefer-offline` stays offline too."""
    repo, env = fixture.repo, fixture.env
    work = fixture.tmp / "lockfile-branch"
    run(["git", "worktree", "add", "-q", "-b", LOCKFILE_BRANCH, str(work), "HEAD"], repo, env)
    name, version = EXTRA_DEPENDENCY
    spec = f"{name}@{version}"
    start = time.perf_counter()
    run(["npm", "install", "--package-lock-only", "--save-exact", spec], work, env)
    run(["npm", "cache", "add", spec], work, env)
    fixture.one_time[f"lockfile branch: `npm install --package-lock-only {spec}`"] = (
        time.perf_counter() - start
    )
    if (work / "package-lock.json").read_bytes() == (repo / "package-lock.json").read_bytes():
        raise RuntimeError("the lockfile branch's package-lock.json equals main's")
    run(["git", "add", "package.json", "package-lock.json"], work, env)
    run(["git", "commit", "-q", "-m", f"add {spec}"], work, env)
    run(["git", "worktree", "remove", "--force", str(work)], repo, env)


def build_fixture(fixture: Fixture) -> None:
    """The repository, the warm npm cache, grove's template and slot 1."""
    repo, env = fixture.repo, fixture.env
    log("writing the fixture repository")
    run(["git", "init", "-q", "-b", "main"], repo, env)
    write_project(repo, fixture.rows)
    log("npm install in main (fills npm's cache; makes package-lock.json)")
    fixture.one_time["`npm install` in main (fills the cache)"] = timed(
        ["npm", "install"], repo, env
    )
    run(["git", "add", "-A"], repo, env)
    run(["git", "commit", "-q", "-m", "fixture"], repo, env)
    fixture.main_head = run(["git", "rev-parse", "HEAD"], repo, env).stdout.strip()
    (repo / ".env").write_text("SECRET_KEY=dev-only\nDEBUG=1\n", encoding="utf-8")
    size, files = tree_size(repo / "node_modules")
    fixture.sizes["node_modules"] = f"{size / 1e6:.0f} MB in {files:,} files"
    if size < MIN_NODE_MODULES:
        raise RuntimeError(
            f"node_modules is only {size / 1e6:.0f} MB; the bench wants >= "
            f"{MIN_NODE_MODULES / 1e6:.0f} MB"
        )
    lock_size = (repo / "package-lock.json").stat().st_size
    fixture.sizes["package-lock.json"] = f"{lock_size / 1e3:.0f} kB"

    log(f"making branch {LOCKFILE_BRANCH} (a lockfile that differs from main's)")
    make_lockfile_branch(fixture)

    log("building grove's template: grove db reseed (runs the seed once)")
    start = time.perf_counter()
    report = json.loads(run([str(fixture.grove), "db", "reseed", "--json"], repo, env).stdout)
    fixture.one_time["`grove db reseed` (template build, the seed runs once)"] = (
        time.perf_counter() - start
    )
    if not report.get("template", {}).get("built"):
        raise RuntimeError(f"grove db reseed did not build the template: {report}")
    data = repo / ".git" / "grove" / "pg" / "template" / "data"
    size, files = tree_size(data)
    fixture.sizes["template data folder"] = f"{size / 1e6:.0f} MB in {files:,} files"

    log(f"grove create {SLOT} (copy of node_modules, npm ci, database clone)")
    start = time.perf_counter()
    made = json.loads(run([str(fixture.grove), "create", str(SLOT), "--json"], repo, env).stdout)
    fixture.one_time[f"`grove create {SLOT}` (worktree, copy, `npm ci`, database clone)"] = (
        time.perf_counter() - start
    )
    if Path(made["path"]).resolve() != fixture.slot_path.resolve():
        raise RuntimeError(f"grove made slot {SLOT} at {made['path']}, not {fixture.slot_path}")
    if fixture.sql("SELECT count(*) FROM orders") != str(fixture.rows):
        raise RuntimeError("slot 1's database does not hold the seeded rows")


# ---------------------------------------------------------------- one run of each path


@dataclass
class Probed:
    """One instrumented run: wall clock and the launcher's timings, in seconds."""

    wall: float
    parts: dict[str, float]
    order: list[str]


def grove_json(fixture: Fixture, args: Sequence[str]) -> tuple[float, dict[str, Any]]:
    """Wall-clock seconds of `grove ARGS --json` (which must succeed) and its answer."""
    argv = [str(fixture.grove), *args, "--json"]
    start = time.perf_counter()
    proc = run(argv, fixture.repo, fixture.env)
    seconds = time.perf_counter() - start
    return seconds, json.loads(proc.stdout)


def grove_probed(fixture: Fixture, args: Sequence[str]) -> tuple[Probed, dict[str, Any]]:
    """`grove ARGS --json` through the instrumented launcher."""
    timings = fixture.tmp / "timings.json"
    timings.unlink(missing_ok=True)
    env = dict(fixture.env)
    env["GROVE_BENCH_PROBES"] = json.dumps(PROBES)
    env["GROVE_BENCH_TIMINGS"] = str(timings)
    argv = [grove_python(fixture.grove), "-c", LAUNCHER, *args, "--json"]
    start = time.perf_counter()
    proc = run(argv, fixture.repo, env)
    end = time.perf_counter()
    data = json.loads(timings.read_text(encoding="utf-8"))
    if data["missing"]:
        log(f"probes not found in grove (left out): {', '.join(data['missing'])}")
    parts: dict[str, float] = dict(data["totals"])
    commands = sum(v for k, v in parts.items() if " > " not in k)  # the outermost probes
    parts[STARTUP] = data["main"] - start
    parts[CLI_REST] = data["ended"] - data["main"] - commands
    parts[EXIT] = end - data["ended"]
    order = [STARTUP, CLI_REST, *data["order"], EXIT]
    return Probed(end - start, parts, order), json.loads(proc.stdout)


def check_take(fixture: Fixture, answer: dict[str, Any], branch: str, install: bool) -> None:
    """What take handed out is ready: the slot, its branch, node_modules, the database."""
    if answer.get("slot") != SLOT or answer.get("created") or answer.get("branch") != branch:
        raise RuntimeError(f"grove take did not hand out warm slot {SLOT} on {branch}: {answer}")
    ran = answer.get("synced", {}).get("ran", [])
    if (SETUP_RUN in ran) != install:
        raise RuntimeError(
            f"grove take {'did not run' if install else 'ran'} `{SETUP_RUN}`: {answer}"
        )
    if not (fixture.slot_path / "node_modules" / "next" / "package.json").is_file():
        raise RuntimeError("node_modules is incomplete after grove take")
    extra = (fixture.slot_path / "node_modules" / EXTRA_DEPENDENCY[0]).is_dir()
    if extra != (branch == LOCKFILE_BRANCH):
        raise RuntimeError(f"node_modules does not match {branch}'s lockfile")
    if fixture.sql("SELECT count(*) FROM orders") != str(fixture.rows):
        raise RuntimeError("the slot's database is not up with the seeded rows after take")


def simulate_task(fixture: Fixture, label: str) -> None:
    """What an agent leaves behind: a commit, build output, rows in its database."""
    path, env = fixture.slot_path, fixture.env
    (path / "app" / f"feature_{label}.tsx").write_text(
        f"export const feature = {label!r};\n", encoding="utf-8"
    )
    run(["git", "add", "-A"], path, env)
    run(["git", "commit", "-q", "-m", f"task {label}"], path, env)
    chunk = os.urandom(BUILD_FILE_BYTES // 2).hex().encode()
    for i in range(BUILD_FILES):
        folder = path / ".next" / "static" / f"chunks{i // 100:02d}"
        if i % 100 == 0:
            folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{i:05d}.js").write_bytes(chunk)
    fixture.sql(
        "CREATE TABLE scratch AS SELECT g FROM generate_series(1, 1000) g; "
        "UPDATE orders SET status = 'task' WHERE id <= 1000; "
        f"INSERT INTO orders SELECT {fixture.rows} + g, 1, 'new', 1, NULL, now() "
        "FROM generate_series(1, 1000) g"
    )


def check_release(fixture: Fixture, answer: dict[str, Any], install: bool) -> None:
    """After release --reset: lease gone, detached at main's HEAD, build output gone,
    the database back at the template's state."""
    reset = answer.get("reset") or {}
    released = [r.get("slot") for r in answer.get("released", [])]
    if released != [SLOT] or not reset.get("database"):
        raise RuntimeError(f"grove release --reset did not release and reset: {answer}")
    if (SETUP_RUN in reset.get("synced", {}).get("ran", [])) != install:
        raise RuntimeError(
            f"grove release --reset {'did not run' if install else 'ran'} `{SETUP_RUN}`"
        )
    path, env = fixture.slot_path, fixture.env
    head = run(["git", "rev-parse", "HEAD"], path, env).stdout.strip()
    on_branch = run(["git", "symbolic-ref", "-q", "HEAD"], path, env, check=False)
    if head != fixture.main_head or on_branch.returncode == 0:
        raise RuntimeError(f"slot {SLOT} is not detached at main's HEAD after the reset")
    if any((path / d).exists() for d in DISPOSABLE):
        raise RuntimeError("build output survived release --reset")
    if (path / "node_modules" / EXTRA_DEPENDENCY[0]).exists():
        raise RuntimeError("node_modules still has the lockfile branch's extra dependency")
    counts = fixture.sql(
        "SELECT count(*) || ' ' || count(*) FILTER (WHERE status = 'task') "
        "|| ' ' || (to_regclass('scratch') IS NULL) FROM orders"
    )
    if counts != f"{fixture.rows} 0 true":
        raise RuntimeError(f"the database is not back at the template's state: {counts}")


def new_worktree(
    fixture: Fixture, kind: str, index: int, step: str, install: list[str]
) -> dict[str, float]:
    """git worktree add -b for a new branch, then install (one of the two plain ways)."""
    path = fixture.tmp / "plain" / f"{kind}{index}"
    branch = f"task/{kind}{index}"
    parts: dict[str, float] = {}
    start = time.perf_counter()
    parts["`git worktree add -b`"] = timed(
        ["git", "worktree", "add", "-q", "-b", branch, str(path), "main"], fixture.repo, fixture.env
    )
    argv = [a.replace("{path}", str(path)) for a in install]
    parts[step] = timed(argv, path, fixture.env)
    parts["total"] = time.perf_counter() - start
    if not (path / "node_modules" / "next" / "package.json").is_file():
        raise RuntimeError(f"{path}: node_modules is incomplete")
    run(["git", "worktree", "remove", "--force", str(path)], fixture.repo, fixture.env)
    run(["git", "branch", "-q", "-D", branch], fixture.repo, fixture.env)
    return parts


# ---------------------------------------------------------------- timing


@dataclass
class Case:
    key: str
    label: str
    samples: list[dict[str, float]] = field(default_factory=list)

    def series(self, part: str = "total") -> list[float]:
        return [sample[part] for sample in self.samples]

    def median(self, part: str = "total") -> float:
        return statistics.median(self.series(part))


@dataclass
class Results:
    cases: dict[str, Case]
    probed: dict[str, list[Probed]]


class Rounds:
    """The timed paths, run round by round; warm-up rounds are run but not recorded."""

    def __init__(self, fixture: Fixture) -> None:
        self.fixture = fixture
        self.cases = {
            "a": Case("a", "(a) `grove take --branch <new> --json`, free warm slot"),
            "b": Case("b", f"(b) `grove release {SLOT} --reset --json` after the task"),
            "c": Case("c", "(c) `git worktree add -b` + `cp -a node_modules`"),
            "d": Case("d", "(d) `git worktree add -b` + `npm ci --prefer-offline`"),
            "e": Case(
                "e", f"(e) `grove take --branch {LOCKFILE_BRANCH} --json` (lockfile differs)"
            ),
            "e2": Case("e2", f"`grove release {SLOT} --reset --json` after (e)"),
        }
        self.probed: dict[str, list[Probed]] = {"take": [], "release": []}
        self.warm = True
        self.round = 0
        self.plain_runs = 0

    def record(self, key: str, sample: dict[str, float]) -> None:
        phase = "warm-up" if self.warm else f"round {self.round}"
        log(f"{phase}: {key} {sample['total']:.3f} s")
        if not self.warm:
            self.cases[key].samples.append(sample)

    def take_release(self, tag: str, probe: bool) -> None:
        """(a) then (b), or the same two through the instrumented launcher."""
        fixture = self.fixture
        branch = f"task/{'p' if probe else 'a'}{tag}"
        take_args = ["take", "--branch", branch, "--label", "bench"]
        release_args = ["release", str(SLOT), "--reset", "--label", "bench"]  # as the holder
        sync()
        if probe:
            took, answer = grove_probed(fixture, take_args)
        else:
            seconds, answer = grove_json(fixture, take_args)
            self.record("a", {"total": seconds})
        check_take(fixture, answer, branch, install=False)
        simulate_task(fixture, tag)
        sync()
        if probe:
            released, answer = grove_probed(fixture, release_args)
            if not self.warm:
                self.probed["take"].append(took)
                self.probed["release"].append(released)
        else:
            seconds, answer = grove_json(fixture, release_args)
            self.record("b", {"total": seconds})
        check_release(fixture, answer, install=False)

    def handoff(self) -> None:
        tag = f"{self.round}{'w' if self.warm else ''}"
        self.take_release(tag, probe=False)
        self.take_release(tag, probe=True)
        sync()
        seconds, answer = grove_json(self.fixture, ["take", "--branch", LOCKFILE_BRANCH])
        self.record("e", {"total": seconds})
        check_take(self.fixture, answer, LOCKFILE_BRANCH, install=True)
        sync()
        seconds, answer = grove_json(self.fixture, ["release", str(SLOT), "--reset"])
        self.record("e2", {"total": seconds})
        check_release(self.fixture, answer, install=True)

    def plain(self, kind: str) -> None:
        self.plain_runs += 1
        if kind == "c":
            source = str(self.fixture.repo / "node_modules")
            step = "`cp -a --reflink=auto` main's node_modules"
            install = ["cp", "-a", "--reflink=auto", source, "{path}/node_modules"]
        else:
            step = f"`{SETUP_RUN}`"
            install = SETUP_RUN.split()
        sync()
        self.record(kind, new_worktree(self.fixture, kind, self.plain_runs, step, install))


def measure(fixture: Fixture, args: argparse.Namespace) -> Results:
    rounds = Rounds(fixture)
    groups: list[Callable[[], None]] = [
        rounds.handoff,
        lambda: rounds.plain("c"),
        lambda: rounds.plain("d"),
    ]
    for round_no in range(args.warmup + args.repeat):
        rounds.warm = round_no < args.warmup
        rounds.round = round_no - args.warmup + 1
        for group in groups if round_no % 2 == 0 else groups[::-1]:
            group()
    return Results(rounds.cases, rounds.probed)


# ---------------------------------------------------------------- report


def version(argv: Sequence[str], env: Mapping[str, str]) -> str:
    try:
        proc = subprocess.run(
            list(argv), env=dict(env), capture_output=True, text=True, check=False
        )
    except OSError:
        return "n/a"
    return (proc.stdout or proc.stderr).strip().splitlines()[0] if proc.returncode == 0 else "n/a"


def reflink_support(folder: Path) -> str:
    probe = folder / "reflink-probe"
    probe.write_bytes(b"x" * 4096)
    copy = Path(str(probe) + ".copy")
    try:
        proc = subprocess.run(
            ["cp", "--reflink=always", str(probe), str(copy)], capture_output=True, check=False
        )
        return "yes" if proc.returncode == 0 else "no (cp --reflink=auto makes full copies)"
    finally:
        probe.unlink(missing_ok=True)
        copy.unlink(missing_ok=True)


def load_now() -> str:
    return f"{os.getloadavg()[0]:.2f}" if hasattr(os, "getloadavg") else "n/a"


def grove_revision(env: Mapping[str, str]) -> str:
    """The commit of this checkout, and whether grove's sources differ from it."""
    git = ["git", "-c", f"safe.directory={ROOT}", "--no-optional-locks"]  # may be another user's
    head = run([*git, "rev-parse", "--short=12", "HEAD"], ROOT, env, check=False).stdout.strip()
    if not head:
        return "n/a (not a git checkout)"
    changed = run(
        [*git, "status", "--porcelain", "--", "src"], ROOT, env, check=False
    ).stdout.strip()
    return f"commit {head}" + (" plus uncommitted changes under src/" if changed else "")


def machine(fixture: Fixture, load: str) -> list[str]:
    env = fixture.env
    cpus, model = cpu_description()
    python = version(
        [grove_python(fixture.grove), "-c", "import sys; print(sys.version.split()[0])"], env
    )
    fs = version(["findmnt", "-n", "-o", "FSTYPE", "-T", str(fixture.tmp)], env)
    node = version(["node", "--version"], env)
    npm = version(["npm", "--version"], env)
    return [
        f"- grove: {grove_revision(env)}",
        f"- CPUs (nproc): {cpus}" + (f" ({model})" if model else ""),
        f"- OS: {platform.system()} {platform.release()} ({platform.machine()})",
        f"- Python (grove's interpreter): {python}",
        f"- git: {version(['git', '--version'], env).removeprefix('git version ')}",
        f"- PostgreSQL: {version([str(fixture.pg_bin / 'postgres'), '--version'], env)}",
        f"- Node: {node}, npm {npm}",
        f"- File system of the fixture: {fs}; reflinks: {reflink_support(fixture.tmp)}",
        f"- Load average (1 min) when the run started: {load}; when it ended: {load_now()}",
    ]


def row(label: str, values: Sequence[float], note: str = "") -> str:
    return (
        f"| {label} | {statistics.median(values):.3f} | {min(values):.3f} "
        f"| {max(values):.3f} | {note} |"
    )


def db_reset_series(results: Results) -> list[float]:
    return [p.parts.get(DB_RESET_KEY, 0.0) for p in results.probed["release"]]


def release_overhead_series(results: Results) -> list[float]:
    return [p.wall - p.parts.get(DB_RESET_KEY, 0.0) for p in results.probed["release"]]


def results_table(results: Results) -> str:
    cases = results.cases
    a, b, c, d, e, e2 = (cases[k] for k in ("a", "b", "c", "d", "e", "e2"))
    probed_take = [p.wall for p in results.probed["take"]]
    probed_release = [p.wall for p in results.probed["release"]]
    ratio = a.median() / c.median()
    lines = [
        "| path | median s | min s | max s | note |",
        "|---|---:|---:|---:|---|",
        row(f"**{a.label}**", a.series(), "lockfile unchanged: `synced.ran` empty every time"),
        row(
            "&nbsp;&nbsp;same, instrumented launcher",
            probed_take,
            "for the breakdown below",
        ),
        row(
            f"**{b.label}**",
            b.series(),
            "detach at main's HEAD, remove `.next`, database to the template",
        ),
        row("&nbsp;&nbsp;same, instrumented launcher", probed_release, "for the breakdown below"),
        row(
            "&nbsp;&nbsp;of which the database reset",
            db_reset_series(results),
            "`pg_ctl stop`, copy of the template's data folder, `pg_ctl start`",
        ),
        row(
            "&nbsp;&nbsp;(b) minus the database reset",
            release_overhead_series(results),
            "per instrumented run",
        ),
        row(f"**{c.label}**", c.series(), "no database, env files or ports"),
    ]
    lines += [
        row(f"&nbsp;&nbsp;{part}", c.series(part)) for part in c.samples[0] if part != "total"
    ]
    lines.append(row(f"**{d.label}**", d.series(), "no database, env files or ports"))
    lines += [
        row(f"&nbsp;&nbsp;{part}", d.series(part)) for part in d.samples[0] if part != "total"
    ]
    lines += [
        row(f"**{e.label}**", e.series(), "grove re-runs `npm ci` in the slot"),
        row(f"reference: {e2.label}", e2.series(), "`npm ci` again, back to main's lockfile"),
        f"| **ratio (a) / (c), medians** | {ratio:.3f} | | | "
        f"take is {1 / ratio:.0f}x faster than worktree + copy |",
        f"| ratio (a) / (d), medians | {a.median() / d.median():.4f} | | | "
        f"take is {d.median() / a.median():.0f}x faster than worktree + `npm ci` |",
    ]
    return "\n".join(lines)


def breakdown_table(results: Results) -> str:
    lines = [
        "| step | median ms | max ms |",
        "|---|---:|---:|",
    ]
    for name, runs in (("take", results.probed["take"]), ("release", results.probed["release"])):
        command = (
            "(a) `grove take --branch <new>`" if name == "take" else "(b) `grove release --reset`"
        )
        walls = [p.wall * 1000 for p in runs]
        lines.append(
            f"| **{command}, wall clock** | {statistics.median(walls):.0f} | {max(walls):.0f} |"
        )
        order: list[str] = []
        for probed in runs:
            order += [k for k in probed.order if k not in order]
        for key in order:
            values = [p.parts.get(key, 0.0) * 1000 for p in runs]
            if statistics.median(values) < 1.0:
                continue
            *parents, last = key.split(" > ")
            label = LABELS.get(last, last)
            indent = "&nbsp;" * (2 * (len(parents) + 1))
            lines.append(
                f"| {indent}{label} | {statistics.median(values):.0f} | {max(values):.0f} |"
            )
    return "\n".join(lines)


def verdict(results: Results) -> tuple[list[str], bool]:
    cases = results.cases
    a, b, c = cases["a"].median(), cases["b"].median(), cases["c"].median()
    overhead = statistics.median(release_overhead_series(results))
    db_reset = statistics.median(db_reset_series(results))
    checks = [
        (
            a <= TARGET_TAKE_SECONDS,
            f"(a) median at most {TARGET_TAKE_SECONDS:g} s: {a:.3f} s",
        ),
        (
            a <= TARGET_TAKE_RATIO * c,
            f"(a) at most 1/10 of (c): {a:.3f} s vs {c:.3f} s / 10 = {c / 10:.3f} s "
            f"(ratio {a / c:.3f})",
        ),
        (
            overhead <= TARGET_RELEASE_OVERHEAD,
            f"(b) at most {TARGET_RELEASE_OVERHEAD:g} s plus the database reset: (b) minus "
            f"the reset is {overhead:.3f} s (median of the instrumented runs; the plain "
            f"runs' median {b:.3f} s minus the reset's median {db_reset:.3f} s is "
            f"{b - db_reset:.3f} s)",
        ),
    ]
    lines = [f"- {text}: **{'met' if ok else 'NOT met'}**" for ok, text in checks]
    return lines, all(ok for ok, _ in checks)


def reproduce_command(args: argparse.Namespace) -> str:
    defaults = {"repeat": DEFAULT_REPEAT, "warmup": DEFAULT_WARMUP, "rows": DEFAULT_ROWS}
    return command_line(REPRODUCE, args, defaults)


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}" + ("" if count == 1 else "s")


def fill(text: str, width: int = 88) -> str:
    return textwrap.fill(text, width=width, break_on_hyphens=False, break_long_words=False)


def section(
    results: Results, fixture: Fixture, args: argparse.Namespace, machine_lines: list[str]
) -> str:
    today = dt.date.today().isoformat()
    accounts = max(1, args.rows // 10)
    deps = ", ".join(f"{name} {ver}" for name, ver in sorted(DEPENDENCIES.items()))
    extra = "@".join(EXTRA_DEPENDENCY)
    intro = (
        "Wall-clock time to give a new task a ready worktree. grove hands out a slot that is "
        "already set up (`grove take`): it checks out the task's branch, re-runs `[setup] "
        "run` only when the lockfile differs from the one last installed there, and makes "
        "sure the slot's database is up; `grove release --reset` gives the slot back for the "
        "next task: detached at main's HEAD, build output removed, the database back at the "
        "seeded template. The alternative is a fresh worktree per task, with its "
        "dependencies copied from main (c) or installed from a warm npm cache (d); (c) and "
        "(d) give no database, env files or ports, so they are the floor of that path, not "
        "its whole cost."
    )
    fixture_text = (
        "Fixture: a git repository of a Next.js-like application with real, pinned npm "
        f"dependencies ({deps}) and their committed package-lock.json "
        f"({fixture.sizes['package-lock.json']}); `node_modules` is "
        f"{fixture.sizes['node_modules']}. Branch `{LOCKFILE_BRANCH}` adds {extra}, so "
        "its package.json and package-lock.json differ from main's. `db/seed.sql` loads "
        f"{accounts:,} accounts and {args.rows:,} orders into two indexed tables; the "
        f"seeded template cluster is {fixture.sizes['template data folder']}. grove.toml: "
        f'`[grove] slots = 2`, `[setup] copy = ["node_modules"]` and `run = ["{SETUP_RUN}"]`,'
        f" `[reset] disposable = {json.dumps(list(DISPOSABLE))}`, `[database]` in cluster "
        f'mode with `seed = ["{SEED_COMMAND}"]`. npm\'s cache lives in the fixture and is '
        "warm before timing (no network calls in any timed run); slot 1 is made once by "
        "`grove create 1`; hermetic git config."
    )
    method = (
        f"Method: {plural(args.warmup, 'untimed warm-up round')}, then "
        f"{plural(args.repeat, 'timed round')}; each round runs three groups, in reverse "
        "order every other round: the grove group, (c) and (d). The grove group takes slot 1 "
        "for a new branch (a), simulates a task (a commit on the branch, "
        f"{BUILD_FILES:,} files / {BUILD_FILES * BUILD_FILE_BYTES / 1e6:.0f} MB of build "
        "output in `.next/`, 1,000 rows updated, 1,000 inserted and a table created in the "
        "slot's database) and releases it with `--reset` (b); then the same once more "
        "through an instrumented launcher (grove's own `main()`, with timers around its "
        "steps) for the breakdown; then (e), a take of the branch whose lockfile differs, "
        "and the release after it. (c) and (d) each add a worktree for a new branch and "
        "remove it (and the branch) after timing. `sync` before every timed command; "
        "every result is checked after its run (slot, branch, whether `npm ci` ran, "
        "node_modules matching the lockfile, database rows, HEAD, `.next` gone); checks "
        "and the simulated task are not timed."
    )
    target_lines, _ = verdict(results)
    one_time = [
        "| one-time step (not timed above) | seconds |",
        "|---|---:|",
        *(f"| {label} | {seconds:.2f} |" for label, seconds in fixture.one_time.items()),
    ]
    return "\n".join(
        [
            SECTION,
            "",
            fill(intro),
            "",
            fill(fixture_text),
            "",
            fill(method),
            "",
            results_table(results),
            "",
            "Targets:",
            "",
            *target_lines,
            "",
            fill(
                "Where the time of (a) and (b) goes, from the instrumented runs: grove's "
                "functions timed in-process, each including the steps under it and the "
                "import of any grove module or library it is the first to use; start-up is "
                "measured from the moment the bench starts the process; rows under 1 ms "
                "are left out."
            ),
            "",
            breakdown_table(results),
            "",
            *one_time,
            "",
            f"Measured {today} on:",
            "",
            *machine_lines,
            "",
            "Reproduce (from the repository root, with grove installed in the venv, as a user "
            "PostgreSQL runs as, i.e. not root; it downloads the npm packages once):",
            "",
            "```sh",
            reproduce_command(args),
            "```",
            "",
        ]
    )


# ---------------------------------------------------------------- clean-up


def pg_ctl_stop(pg_bin: Path, data: Path, env: Mapping[str, str]) -> None:
    if not (data / "postmaster.pid").exists():
        return
    proc = run(
        [str(pg_bin / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "-t", "60", "stop"],
        data.parent,
        env,
        check=False,
    )
    if proc.returncode != 0 and (data / "postmaster.pid").exists():
        log(f"could not stop the server of {data}: {proc.stderr.strip()}")


def stop_everything(fixture: Fixture) -> None:
    """Every PostgreSQL grove started: its slots, then anything left under .git/grove/pg."""
    if (fixture.repo / ".git" / "grove").is_dir():
        proc = run(
            [str(fixture.grove), "db", "stop", "--all", "--json"],
            fixture.repo,
            fixture.env,
            check=False,
        )
        if proc.returncode != 0:
            log(f"grove db stop --all exited {proc.returncode}: {proc.stderr.strip()}")
    pg_root = fixture.repo / ".git" / "grove" / "pg"
    if pg_root.is_dir():
        for pid_file in sorted(pg_root.glob("*/data/postmaster.pid")):
            pg_ctl_stop(fixture.pg_bin, pid_file.parent, fixture.env)


@contextlib.contextmanager
def terminate_cleanly() -> Iterator[None]:
    """SIGTERM and SIGHUP unwind like Ctrl-C, so the clean-up below still runs."""

    def handler(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


# ---------------------------------------------------------------- main


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--repeat", type=int, default=DEFAULT_REPEAT, help=f"timed rounds ({DEFAULT_REPEAT})"
    )
    parser.add_argument(
        "--warmup", type=int, default=DEFAULT_WARMUP, help=f"untimed rounds ({DEFAULT_WARMUP})"
    )
    parser.add_argument(
        "--rows",
        type=int,
        default=DEFAULT_ROWS,
        help=f"orders the seed loads, plus a tenth as many accounts ({DEFAULT_ROWS:,})",
    )
    parser.add_argument("--grove", help="grove executable (default: the one in this venv)")
    parser.add_argument("--pg-bin", help="PostgreSQL's bin folder (default: found like grove)")
    parser.add_argument(
        "--write", action="store_true", help=f"replace the '{SECTION}' section of {DOC.name}"
    )
    parser.add_argument("--output", type=Path, help="write the section to this file")
    parser.add_argument("--keep", action="store_true", help="keep the fixture and print its path")
    args = parser.parse_args(argv)
    if args.repeat < 1 or args.warmup < 0 or args.rows < 2000:
        parser.error("--repeat must be >= 1, --warmup >= 0, --rows >= 2000")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        sys.exit("PostgreSQL refuses to run as root: run this bench as an ordinary user")
    for tool in ("git", "npm", "node", "cp", "du", "sync"):
        if shutil.which(tool) is None:
            sys.exit(f"{tool} not found on PATH")
    grove = find_grove(args.grove)
    pg_bin = find_pg_bin(args.pg_bin)
    load = load_now()
    tmp = Path(tempfile.mkdtemp(prefix="grove-bench-handoff-")).resolve()
    fixture: Fixture | None = None
    try:
        with terminate_cleanly():
            log(f"fixture in {tmp}")
            fixture = new_fixture(args, tmp, grove, pg_bin)
            build_fixture(fixture)
            results = measure(fixture, args)
            machine_lines = machine(fixture, load)
            text = section(results, fixture, args, machine_lines)
            print(text)
            if args.output:
                args.output.write_text(text, encoding="utf-8")
                log(f"wrote the section to {args.output}")
            if args.write:
                write_section(SECTION, text)
                log(f"updated {DOC.relative_to(ROOT)}")
            for line in verdict(results)[0]:
                log(line)
            return 0
    finally:
        if fixture is not None:
            stop_everything(fixture)
        if args.keep:
            log(f"fixture kept in {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
