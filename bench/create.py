#!/usr/bin/env python3
"""How long `grove create` takes to give a slot its dependencies and a seeded database,
next to doing the same by hand.

Run on purpose, not by the test suite, as a user PostgreSQL agrees to run as (not root):

    python bench/create.py                          # print the markdown section
    python bench/create.py --write                  # also update docs/benchmarks.md
    python bench/create.py --output /tmp/section.md # write the section to a file instead

The script builds its own fixture in a temporary folder: a git repository with a
package.json of real npm dependencies (a node_modules of well over 50 MB) and its
committed package-lock.json, and a `db/seed.sql` that loads 550,000 rows into two indexed
tables. `npm install` runs once in main, with npm's cache inside the fixture, so that the
cache is warm; grove's template is seeded once (`grove db reseed`) before anything is timed.

Then, round by round (interleaved, the order alternating), it times

- the naive path: `git worktree add --detach`, `npm ci --prefer-offline` from the warm
  cache, `createdb` of a new database on one shared PostgreSQL the script runs itself,
  and the seed (`psql -f db/seed.sql`) into it;
- `grove create --json`, configured with `[setup] copy = ["node_modules"]` and a cluster
  mode `[database]`: worktree, copy of main's node_modules, copy of the seeded template
  cluster, server started;
- for reference, `cp -a` of main's node_modules alone and of the template's data folder alone.

Every PostgreSQL the script or grove started is stopped at the end, and the fixture is
removed unless --keep. Standard library only; grove, git, npm and PostgreSQL's programs
run as subprocesses.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

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
SECTION = "## grove create vs the naive path"
REPRODUCE = "python bench/create.py --write"
PROJECT = "shop"
DB_NAME = "app"
DEFAULT_REPEAT = 5
DEFAULT_WARMUP = 1
DEFAULT_ROWS = 500_000
TARGET_RATIO = 0.2  # grove create at most 1/5 of the naive path
TARGET_SECONDS = 3.0  # and under 3 s median


# Real, pinned npm dependencies of a typical TypeScript web project. With their transitive
# dependencies they make a node_modules of about 122 MB in some 12,000 files (measured
# with npm 11 on Linux x64; typescript 7 brings a native compiler binary).
DEPENDENCIES = {
    "@babel/core": "7.29.13",
    "date-fns": "4.4.0",
    "eslint": "10.15.0",
    "lodash": "4.18.1",
    "prettier": "3.10.1",
    "rxjs": "7.8.2",
    "typescript": "7.0.2",
}

# The template's build options in grove (src/grove/database/__init__.py); the naive
# cluster gets the same, so the seed is not slower on the naive side for durability's sake.
FAST_PG_OPTIONS = "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"


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


SEED_COMMAND = "psql -v ON_ERROR_STOP=1 -q -f db/seed.sql"


# ---------------------------------------------------------------- environment


def bench_env(home: Path, npm_cache: Path) -> dict[str, str]:
    """The caller's environment (CA settings, proxies) without its git and libpq settings,
    plus a throwaway home, a hermetic git identity and npm's cache inside the fixture."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("GIT_", "PG", "npm_config_", "NPM_CONFIG_"))
        and k not in {"PYTHONDONTWRITEBYTECODE", "PYTHONPYCACHEPREFIX"}
    }
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


def find_pg_bin(explicit: str | None) -> Path:
    """PostgreSQL's bin folder, looked up the way grove does (PATH, then Debian's layout)."""
    needed = ("initdb", "pg_ctl", "postgres", "psql", "createdb")
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
    sys.exit("PostgreSQL's programs (initdb, pg_ctl, psql, createdb) not found: pass --pg-bin")


# ---------------------------------------------------------------- fixture


@dataclass
class Fixture:
    tmp: Path
    repo: Path
    env: dict[str, str]
    grove: Path
    pg_bin: Path
    naive_pg: Path  # data folder of the shared naive cluster
    naive_port: int
    slots: int
    one_time: dict[str, float] = field(default_factory=dict)
    sizes: dict[str, str] = field(default_factory=dict)

    @property
    def template_data(self) -> Path:
        return self.repo / ".git" / "grove" / "pg" / "template" / "data"

    def pg_env(self, port: int, dbname: str) -> dict[str, str]:
        env = dict(self.env)
        env.update(
            PGHOST="127.0.0.1",
            PGPORT=str(port),
            PGUSER="postgres",
            PGDATABASE=dbname,
            PATH=f"{self.pg_bin}{os.pathsep}{env.get('PATH', '')}",
        )
        return env


def tree_size(path: Path) -> tuple[int, int]:
    """Bytes on disk (du) and number of files under path."""
    out = subprocess.run(
        ["du", "-s", "-B1", str(path)], capture_output=True, text=True, check=True
    ).stdout
    files = sum(len(names) for _, _, names in os.walk(path))
    return int(out.split()[0]), files


def grove_toml(slots: int, port_base: int, db_port_base: int) -> str:
    return textwrap.dedent(
        f"""\
        [grove]
        slots = {slots}

        [ports]
        PORT = {port_base}
        DB_PORT = {db_port_base}

        [setup]
        copy = ["node_modules"]

        [database]
        engine = "postgres"
        mode = "cluster"
        name = "{DB_NAME}"
        seed = ["{SEED_COMMAND}"]
        seed_inputs = ["db/seed.sql"]
        """
    )


def new_fixture(args: argparse.Namespace, tmp: Path, grove: Path, pg_bin: Path) -> Fixture:
    """Paths, environment and ports; nothing started yet."""
    home = tmp / "home"
    home.mkdir()
    env = bench_env(home, tmp / "npm-cache")
    env["PATH"] = f"{grove.parent}{os.pathsep}{env.get('PATH', '')}"
    rng = random.Random()
    taken: set[int] = set()
    slots = 1 + 2 * (args.warmup + args.repeat)  # a new slot per create and per adoption
    port_base = free_port_range(slots, taken, rng)
    db_port_base = free_port_range(slots, taken, rng)
    naive_port = free_port_range(1, taken, rng)
    repo = tmp / "grove" / PROJECT
    repo.mkdir(parents=True)
    (repo / "grove.toml").write_text(grove_toml(slots, port_base, db_port_base), encoding="utf-8")
    return Fixture(tmp, repo, env, grove, pg_bin, tmp / "naive-pg" / "data", naive_port, slots)


def build_fixture(fixture: Fixture, args: argparse.Namespace) -> None:
    """The repository, the warm npm cache, the naive server and grove's template."""
    repo, env, pg_bin, tmp = fixture.repo, fixture.env, fixture.pg_bin, fixture.tmp
    grove, naive_port = fixture.grove, fixture.naive_port
    log("writing the fixture repository")
    run(["git", "init", "-q", "-b", "main"], repo, env)
    package = {
        "name": PROJECT,
        "version": "1.0.0",
        "private": True,
        "description": "grove benchmark fixture",
        "dependencies": DEPENDENCIES,
    }
    (repo / "package.json").write_text(json.dumps(package, indent=2) + "\n", encoding="utf-8")
    (repo / ".gitignore").write_text(".env\n.env.local\nnode_modules/\n", encoding="utf-8")
    (repo / "db").mkdir()
    (repo / "db" / "seed.sql").write_text(seed_sql(args.rows), encoding="utf-8")
    (repo / "src").mkdir()
    (repo / "src" / "index.js").write_text(
        'const { format } = require("date-fns");\nconsole.log(format(new Date(), "yyyy"));\n',
        encoding="utf-8",
    )

    log("npm install in main (fills npm's cache; makes package-lock.json)")
    fixture.one_time["npm install in main (fills the cache)"] = timed(["npm", "install"], repo, env)
    run(["git", "add", "-A"], repo, env)
    run(["git", "commit", "-q", "-m", "fixture"], repo, env)
    (repo / ".env").write_text("SECRET_KEY=dev-only\nDEBUG=1\n", encoding="utf-8")
    size, files = tree_size(repo / "node_modules")
    fixture.sizes["node_modules"] = f"{size / 1e6:.0f} MB in {files:,} files"
    if size < 50e6:
        raise RuntimeError(f"node_modules is only {size / 1e6:.0f} MB; the bench wants >= 50 MB")

    log(f"starting the naive path's shared PostgreSQL on port {naive_port}")
    fixture.naive_pg.parent.mkdir()
    run(
        [
            str(pg_bin / "initdb"),
            "-D",
            str(fixture.naive_pg),
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
        ],
        tmp,
        {**env, "LC_ALL": "C"},
    )
    options = f"-c listen_addresses=127.0.0.1 -c port={naive_port} "
    options += f"-c unix_socket_directories='' {FAST_PG_OPTIONS}"
    run(
        [
            str(pg_bin / "pg_ctl"),
            "-D",
            str(fixture.naive_pg),
            "-l",
            str(fixture.naive_pg.parent / "postgres.log"),
            "-w",
            "-o",
            options,
            "start",
        ],
        tmp,
        {**env, "LC_ALL": "C"},
    )

    log("building grove's template: grove db reseed (runs the seed once)")
    start = time.perf_counter()
    out = run([str(grove), "db", "reseed", "--json"], repo, env).stdout
    fixture.one_time["grove db reseed (template build, seed runs once)"] = (
        time.perf_counter() - start
    )
    report = json.loads(out)
    if not report.get("template", {}).get("built"):
        raise RuntimeError(f"grove db reseed did not build the template: {out}")
    size, files = tree_size(fixture.template_data)
    wal, _ = tree_size(fixture.template_data / "pg_wal")
    fixture.sizes["template data folder"] = (
        f"{size / 1e6:.0f} MB in {files:,} files (pg_wal {wal / 1e6:.0f} MB)"
    )


def log(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------- the two paths


def sql_count(fixture: Fixture, port: int, dbname: str, table: str) -> int:
    out = run(
        [str(fixture.pg_bin / "psql"), "-X", "-A", "-t", "-c", f"SELECT count(*) FROM {table}"],
        fixture.tmp,
        fixture.pg_env(port, dbname),
    ).stdout
    return int(out.strip())


def check_slot(fixture: Fixture, path: Path, port: int, dbname: str, rows: int) -> None:
    """What either path made must be usable: dependencies present, every row there."""
    if not (path / "node_modules" / "typescript" / "package.json").is_file():
        raise RuntimeError(f"{path}: node_modules is incomplete")
    got = sql_count(fixture, port, dbname, "orders")
    if got != rows:
        raise RuntimeError(f"{dbname} on port {port}: {got} orders, expected {rows}")


def naive(fixture: Fixture, index: int, rows: int) -> dict[str, float]:
    """git worktree add + npm ci from the warm cache + createdb + seed."""
    path = fixture.tmp / "naive" / f"wt{index}"
    dbname = f"{DB_NAME}_naive{index}"
    pg_env = fixture.pg_env(fixture.naive_port, dbname)
    parts: dict[str, float] = {}
    start = time.perf_counter()
    parts["git worktree add"] = timed(
        ["git", "worktree", "add", "-q", "--detach", str(path), "HEAD"], fixture.repo, fixture.env
    )
    parts["npm ci --prefer-offline"] = timed(["npm", "ci", "--prefer-offline"], path, fixture.env)
    parts["createdb"] = timed([str(fixture.pg_bin / "createdb"), dbname], path, pg_env)
    parts["seed (psql -f db/seed.sql)"] = timed(["/bin/sh", "-c", SEED_COMMAND], path, pg_env)
    parts["total"] = time.perf_counter() - start
    check_slot(fixture, path, fixture.naive_port, dbname, rows)
    return parts


GROVE_PHASES = (
    # (label, the narration line that ends the phase)
    ("start-up, config, template check", re.compile(r"^grove: adding worktree ")),
    ("git worktree add, env files", re.compile(r"^grove: \[\d+/\d+\] copy node_modules")),
    ("node_modules copy", re.compile(r"^grove: cloning the database template")),
)


def grove_create(fixture: Fixture, rows: int) -> dict[str, float]:
    """`grove create --json`, its phases read off the time-stamped narration on stderr."""
    parts: dict[str, float] = {}
    with tempfile.TemporaryFile(mode="w+", encoding="utf-8") as stdout:
        start = time.perf_counter()
        proc = subprocess.Popen(
            [str(fixture.grove), "create", "--json"],
            cwd=fixture.repo,
            env=fixture.env,
            stdout=stdout,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert proc.stderr is not None
        marks: list[tuple[str, float]] = []
        stderr_lines = []
        for line in proc.stderr:
            now = time.perf_counter()
            stderr_lines.append(line)
            marks.append((line.rstrip("\n"), now))
        returncode = proc.wait()
        end = time.perf_counter()
        stdout.seek(0)
        out = stdout.read()
    if returncode != 0:
        raise RuntimeError(f"grove create exited {returncode}:\n{''.join(stderr_lines)}{out}")
    result = json.loads(out)
    database = result.get("database") or {}
    if not database.get("cloned") or (database.get("template") or {}).get("built"):
        raise RuntimeError(f"grove create did not clone an existing template: {out}")
    previous = start
    for label, pattern in GROVE_PHASES:
        at = next((t for text, t in marks if pattern.search(text)), None)
        if at is None:
            raise RuntimeError(f"grove's narration lacks a line for {label!r}: {stderr_lines}")
        parts[label] = at - previous
        previous = at
    parts["database clone + start, JSON out"] = end - previous
    parts["of which database clone + start (grove's JSON)"] = float(database["seconds"])
    parts["total"] = end - start
    check_slot(fixture, Path(result["path"]), int(database["port"]), database["database"], rows)
    return parts


def grove_adopt(fixture: Fixture, index: int, rows: int) -> dict[str, float]:
    """A worktree made outside grove, the way Cursor makes one (untimed: that is Cursor's
    part), then what Cursor's setup runs in it: `grove take --here --json`."""
    path = fixture.tmp / "cursor-worktrees" / f"w{index}"
    path.parent.mkdir(exist_ok=True)
    run(["git", "worktree", "add", "-q", "--detach", str(path), "HEAD"], fixture.repo, fixture.env)
    sync()
    start = time.perf_counter()
    proc = run(
        [str(fixture.grove), "take", "--here", "--label", "cursor", "--json"], path, fixture.env
    )
    total = time.perf_counter() - start
    result = json.loads(proc.stdout)
    if not result.get("adopted") or Path(result["path"]) != path.resolve():
        raise RuntimeError(f"take --here did not adopt {path}: {proc.stdout}")
    port = int(result["ports"]["DB_PORT"])
    check_slot(fixture, path, port, DB_NAME, rows)
    return {"total": total}


def copy_alone(source: Path, destination: Path) -> dict[str, float]:
    return {
        "total": timed(
            ["cp", "-a", "--reflink=auto", str(source), str(destination)], Path("/"), os.environ
        )
    }


# ---------------------------------------------------------------- timing


@dataclass
class Case:
    key: str
    label: str
    samples: list[dict[str, float]] = field(default_factory=list)

    def series(self, part: str) -> list[float]:
        return [sample[part] for sample in self.samples]

    def median(self, part: str = "total") -> float:
        return statistics.median(self.series(part))


def sync() -> None:
    """Flush dirty pages, so one run's write-back is not billed to the next."""
    subprocess.run(["sync"], check=False)


def measure(fixture: Fixture, args: argparse.Namespace) -> list[Case]:
    naive_case = Case("naive", "naive path")
    grove_case = Case("grove", "`grove create --json`")
    adopt_case = Case("adopt", "`grove take --here --json` in a worktree made outside grove")
    cp_nm = Case("cp-nm", "`cp -a` main's node_modules, alone")
    cp_pg = Case("cp-pg", "`cp -a` the template's data folder, alone")
    ref = fixture.tmp / "reference"
    ref.mkdir()
    counter = {"naive": 0, "cp": 0, "adopt": 0}

    def run_naive() -> dict[str, float]:
        counter["naive"] += 1
        return naive(fixture, counter["naive"], args.rows)

    def run_adopt() -> dict[str, float]:
        counter["adopt"] += 1
        return grove_adopt(fixture, counter["adopt"], args.rows)

    def run_cp(source: Path, stem: str) -> dict[str, float]:
        counter["cp"] += 1
        return copy_alone(source, ref / f"{stem}{counter['cp']}")

    jobs = [
        (naive_case, run_naive),
        (grove_case, lambda: grove_create(fixture, args.rows)),
        (cp_nm, lambda: run_cp(fixture.repo / "node_modules", "node_modules")),
        (cp_pg, lambda: run_cp(fixture.template_data, "pgdata")),
        (adopt_case, run_adopt),
    ]
    rounds = args.warmup + args.repeat
    for round_no in range(rounds):
        warm = round_no < args.warmup
        order = jobs if round_no % 2 == 0 else jobs[1::-1] + jobs[2:]
        for case, job in order:
            sync()
            sample = job()
            what = "warm-up" if warm else f"round {round_no - args.warmup + 1}/{args.repeat}"
            log(f"{what}: {case.key} {sample['total']:.2f} s")
            if not warm:
                case.samples.append(sample)
    return [naive_case, grove_case, cp_nm, cp_pg, adopt_case]


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
    try:
        proc = subprocess.run(
            ["cp", "--reflink=always", str(probe), str(probe) + ".copy"],
            capture_output=True,
            check=False,
        )
        return "yes" if proc.returncode == 0 else "no (cp --reflink=auto makes full copies)"
    finally:
        for path in (probe, Path(str(probe) + ".copy")):
            path.unlink(missing_ok=True)


def machine(fixture: Fixture, load: str, cpu: str) -> list[str]:
    env = fixture.env
    cpus, model = cpu_description()
    python = version(
        [grove_python(fixture.grove), "-c", "import sys; print(sys.version.split()[0])"], env
    )
    fs = version(["stat", "-f", "-c", "%T", str(fixture.tmp)], env)
    mounted = version(["findmnt", "-n", "-o", "FSTYPE", "-T", str(fixture.tmp)], env)
    if mounted not in {"n/a", fs}:
        fs += f" (`findmnt`: {mounted})"  # stat says ext2/ext3 for ext4: one magic number
    return [
        f"- grove: {grove_revision(env)}",
        f"- CPUs (nproc): {cpus}" + (f" ({model})" if model else ""),
        f"- OS: {platform.system()} {platform.release()} ({platform.machine()})",
        f"- Python (grove's interpreter): {python}",
        f"- git: {version(['git', '--version'], env).removeprefix('git version ')}",
        f"- PostgreSQL: {version([str(fixture.pg_bin / 'postgres'), '--version'], env)}",
        f"- Node: {version(['node', '--version'], env)}, npm {version(['npm', '--version'], env)}",
        f"- File system of the fixture (`stat -f -c %T`): {fs}; "
        f"reflinks: {reflink_support(fixture.tmp)}",
        f"- Load average (1 min) when the run started: {load}",
        f"- CPU use of the whole machine during the timed rounds (/proc/stat, all cores): {cpu}",
    ]


def cpu_times() -> list[int] | None:
    """The machine-wide CPU counters of /proc/stat (user nice system idle iowait irq softirq
    steal ...), or None where there is no such file."""
    try:
        first = Path("/proc/stat").read_text(encoding="utf-8").splitlines()[0]
    except (OSError, IndexError):
        return None
    return [int(v) for v in first.split()[1:]]


def cpu_summary(before: list[int] | None, after: list[int] | None) -> str:
    if before is None or after is None:
        return "n/a"
    delta = [b - a for a, b in zip(before, after, strict=False)]
    total = sum(delta[:8]) or 1
    idle, iowait = delta[3], delta[4]
    steal = delta[7] if len(delta) > 7 else 0
    busy = total - idle - iowait - steal
    return (
        f"{100 * busy / total:.0f}% busy, {100 * iowait / total:.0f}% iowait, "
        f"{100 * steal / total:.1f}% steal"
    )


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


def row(label: str, values: Sequence[float], note: str = "") -> str:
    return (
        f"| {label} | {statistics.median(values):.2f} | {min(values):.2f} | {max(values):.2f} "
        f"| {note} |"
    )


def results_table(cases: Sequence[Case]) -> str:
    naive_case, grove_case, cp_nm, cp_pg, adopt_case = cases
    lines = [
        "| path / step | median s | min s | max s | note |",
        "|---|---:|---:|---:|---|",
        row("**naive path, total**", naive_case.series("total"), "the four steps back to back"),
    ]
    for part in naive_case.samples[0]:
        if part != "total":
            lines.append(row(f"&nbsp;&nbsp;{part}", naive_case.series(part)))
    lines.append(row("**`grove create --json`, total**", grove_case.series("total")))
    for part in grove_case.samples[0]:
        if part == "total":
            continue
        note = (
            "`database.seconds`: copy of the data folder + `pg_ctl start`"
            if part.startswith("of which")
            else "from grove's time-stamped narration"
        )
        indent = "&nbsp;" * (4 if part.startswith("of which") else 2)
        lines.append(row(f"{indent}{part}", grove_case.series(part), note))
    ratio = grove_case.median() / naive_case.median()
    lines.append(
        f"| **ratio grove / naive (medians)** | {ratio:.3f} | | | "
        f"grove is {1 / ratio:.1f}x faster |"
    )
    setup_only = [sample["total"] - sample["git worktree add"] for sample in naive_case.samples]
    lines.append(
        row(
            f"**{adopt_case.label}**",
            adopt_case.series("total"),
            "Cursor's setup: env files, node_modules copy, database clone",
        )
    )
    lines.append(
        row(
            "&nbsp;&nbsp;naive path without `git worktree add`",
            setup_only,
            "what a setup script would run instead",
        )
    )
    adopt_ratio = adopt_case.median() / statistics.median(setup_only)
    lines.append(
        f"| ratio take --here / naive setup (medians) | {adopt_ratio:.3f} | | | "
        f"{1 / adopt_ratio:.1f}x faster |"
    )
    lines.append(row("reference: `cp -a` main's node_modules, alone", cp_nm.series("total")))
    lines.append(row("reference: `cp -a` the template's data folder, alone", cp_pg.series("total")))
    return "\n".join(lines)


def verdict(cases: Sequence[Case]) -> tuple[str, bool]:
    naive_case, grove_case = cases[0], cases[1]
    ratio = grove_case.median() / naive_case.median()
    median = grove_case.median()
    ratio_ok = ratio <= TARGET_RATIO
    time_ok = median < TARGET_SECONDS
    text = (
        f"Targets: `grove create` at most 1/5 of the naive time (ratio {ratio:.3f}: "
        f"{'met' if ratio_ok else 'NOT met'}) and under {TARGET_SECONDS:g} s median "
        f"({median:.2f} s: {'met' if time_ok else 'NOT met'})."
    )
    return text, ratio_ok and time_ok


def reproduce_command(args: argparse.Namespace) -> str:
    defaults = {"repeat": DEFAULT_REPEAT, "warmup": DEFAULT_WARMUP, "rows": DEFAULT_ROWS}
    return command_line(REPRODUCE, args, defaults)


def section(
    cases: Sequence[Case], fixture: Fixture, args: argparse.Namespace, machine_lines: list[str]
) -> str:
    today = dt.date.today().isoformat()
    accounts = max(1, args.rows // 10)
    deps = ", ".join(f"{name} {ver}" for name, ver in sorted(DEPENDENCIES.items()))
    intro = (
        "Wall-clock time to get a new worktree with its dependencies installed and its own "
        "seeded PostgreSQL database, two ways, in one run. The naive path is what one does "
        "by hand: `git worktree add --detach`, `npm ci --prefer-offline` from a warm npm "
        "cache, `createdb` of a new database on one shared PostgreSQL server that is already "
        f"running, and the seed (`{SEED_COMMAND}`) into it. The grove path is one "
        '`grove create --json` with `[setup] copy = ["node_modules"]` and `[database]` in '
        "cluster mode: it adds the worktree, writes the env files, copies main's "
        "`node_modules` (`cp -a --reflink=auto`), copies the seeded template cluster's data "
        "folder and starts the slot's own server. A third path is what Cursor's worktree "
        "setup runs after `grove agents install cursor`: `grove take --here --json` inside a "
        "worktree made outside grove (`git worktree add --detach` into another folder, "
        "untimed, as Cursor makes its own), which adopts it as a slot with the same copy and "
        "clone. Every result is checked after each run "
        "(node_modules present, every seeded row there); checks are not timed."
    )
    fixture_text = (
        "Fixture: a git repository with a package.json of real, pinned npm dependencies "
        f"({deps}) and their committed package-lock.json; `node_modules` is "
        f"{fixture.sizes['node_modules']}. `db/seed.sql` loads {accounts:,} accounts and "
        f"{args.rows:,} orders ({accounts + args.rows:,} rows) into two tables with a "
        "primary key, a unique index, a foreign key and two more indexes, then ANALYZE; the "
        f"seeded template cluster is {fixture.sizes['template data folder']}. npm's cache "
        "lives in the fixture and is filled by one `npm install` in main before timing "
        "(audit, fund and update checks off, so the naive path makes no network calls). The "
        "naive server runs with the options grove builds its template with "
        f"(`{FAST_PG_OPTIONS}`), so durability does not slow the naive seed."
    )
    method = (
        f"Method: {plural(args.warmup, 'untimed warm-up round')}, then "
        f"{plural(args.repeat, 'timed round')}; each "
        "round runs the naive path, `grove create`, the two reference copies and `take "
        "--here`, the first two in alternating order; `sync` before every run, so no run pays"
        " for an earlier one's write-back. Each round makes a new worktree, a new database "
        "and a new slot (slots are not reused). grove's phases are read from the times its "
        "progress lines reach stderr. Not in the timed grove path: the one-time template "
        "build below, which runs the seed once for every later slot. Not in the naive path: "
        "the env files grove writes, and starting the shared server."
    )
    one_time = [
        "| one-time step (not timed above) | seconds |",
        "|---|---:|",
        *(f"| {label} | {seconds:.2f} |" for label, seconds in fixture.one_time.items()),
    ]
    target_text, _ = verdict(cases)
    return "\n".join(
        [
            SECTION,
            "",
            fill(intro, width=88),
            "",
            fill(fixture_text, width=88),
            "",
            fill(method, width=88),
            "",
            results_table(cases),
            "",
            fill(target_text, width=88),
            "",
            *one_time,
            "",
            f"Measured {today} on:",
            "",
            *machine_lines,
            "",
            "Reproduce (from the repository root, with grove installed in the venv, as a user "
            "PostgreSQL runs as, i.e. not root):",
            "",
            "```sh",
            reproduce_command(args),
            "```",
            "",
        ]
    )


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}" + ("" if count == 1 else "s")


def fill(text: str, width: int = 88) -> str:
    return textwrap.fill(text, width=width, break_on_hyphens=False, break_long_words=False)


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
    """Every PostgreSQL grove or the bench started: grove's slots, then anything left."""
    if (fixture.repo / "grove.toml").exists():
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
    pg_ctl_stop(fixture.pg_bin, fixture.naive_pg, fixture.env)


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
    if args.repeat < 1 or args.warmup < 0 or args.rows < 10:
        parser.error("--repeat must be >= 1, --warmup >= 0, --rows >= 10")
    if 1 + 2 * (args.warmup + args.repeat) > 100:
        parser.error("warm-up plus timed rounds must stay within grove's 99 slots")
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
    tmp = Path(tempfile.mkdtemp(prefix="grove-bench-create-")).resolve()
    fixture: Fixture | None = None
    try:
        with terminate_cleanly():
            log(f"fixture in {tmp}")
            fixture = new_fixture(args, tmp, grove, pg_bin)
            build_fixture(fixture, args)
            before = cpu_times()
            cases = measure(fixture, args)
            cpu = cpu_summary(before, cpu_times())
            log(f"CPU during the rounds: {cpu}")
            machine_lines = machine(fixture, load, cpu)
            text = section(cases, fixture, args, machine_lines)
            print(text)
            if args.output:
                args.output.write_text(text, encoding="utf-8")
                log(f"wrote the section to {args.output}")
            if args.write:
                write_section(SECTION, text)
                log(f"updated {DOC.relative_to(ROOT)}")
            log(verdict(cases)[0])
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
