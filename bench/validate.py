#!/usr/bin/env python3
"""How long `grove validate --all` takes over 10 slots (user commands excluded).

Run on purpose, not by the test suite:

    python bench/validate.py              # print a markdown table
    python bench/validate.py --write      # also update docs/benchmarks.md
    python bench/validate.py --profile    # also print where one validate run spends its time

The script builds its own fixture in a temporary folder, under the same hermetic git
configuration as bench/list_latency.py (whose helpers it reuses): a git repository with a
couple of thousand tracked files, a realistic shared `.env` in main (dev and staging URLs,
test keys, flags, comments), a committed `grove.toml` with `[grove] slots = 10`, and 9
slots made with `grove create`, each with a few lines of the user's own in its
`.env.local`. No `[database]` and no compose file: validate runs no user command, so what
is timed is grove's own checks (env links, managed blocks, the port table, listening
ports, the production-secret scan, approval of the shared files, git layout).

Before timing, one `grove validate --all --json` must exit 0 with `"ok": true` and no
findings; every timed run must exit 0 too. Commands run as subprocesses, wall clock, after
a warm-up, interleaved round by round.

Standard library only; grove is run as a subprocess (`--grove` picks the executable).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path

from benchlib import command_line, find_grove, grove_python, write_section

# bench/ is on sys.path when this file runs as a script (ruff: src includes "bench").
from list_latency import (
    Case,
    grow_to,
    hermetic_env,
    machine,
    measure,
    p90,
    run,
    write_tree,
)

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "benchmarks.md"
SECTION = "## grove validate over 10 slots"
REPRODUCE = "python bench/validate.py --write"
SLOTS = 10  # counting main, as in grove.toml's [grove] slots
PROJECT = "myproject"
TARGET_MS = 1000.0  # the issue: under 1 s median on this machine
DEFAULT_REPEAT = 15
DEFAULT_WARMUP = 1
DEFAULT_FILES = 2000
PROFILE_TOP = 25

# A shared .env as a team keeps it: dev and staging values only, test keys, flags and a few
# comments. Nothing in it may trip grove's production-secret rules; the one AWS key id (AWS's
# own documentation example, a sandbox account) carries the inline allow marker.
SHARED_ENV = """\
# Shared development settings for myproject.
# Dev and staging values only: production secrets live in the secret manager.

# --- application
APP_NAME=myproject
APP_ENV=development
NODE_ENV=development
LOG_LEVEL=info
LOG_FORMAT=pretty
TZ=UTC
APP_URL=http://localhost:3000
API_BASE_URL=https://api.staging.myproject.example.com/v1
CORS_ORIGINS=http://localhost:3000,https://app.staging.myproject.example.com
SESSION_SECRET=dev-session-secret-not-for-production
JWT_SECRET=dev-jwt-secret-change-me
JWT_TTL_SECONDS=3600

# --- data stores (each slot's own ports come from .env.local)
DATABASE_URL=postgres://dev:dev@localhost:5434/myproject_dev
DATABASE_POOL_SIZE=5
REDIS_URL=redis://localhost:6379/0
ELASTICSEARCH_URL=http://localhost:9200
STAGING_DATABASE_URL=postgres://readonly:readonly@db.staging.myproject.example.com:5432/app

# --- storage (sandbox account)
AWS_REGION=eu-west-1
AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE # grove:allow
AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY
S3_BUCKET=myproject-dev-uploads
S3_ENDPOINT=https://s3.eu-west-1.amazonaws.com
CDN_URL=https://cdn.staging.myproject.example.com

# --- payments (test mode)
STRIPE_SECRET_KEY=sk_test_4eC39HqLyjWDarjtT1zdp7dc
STRIPE_PUBLISHABLE_KEY=pk_test_TYooMQauvdEDq54NiTphI7jx
STRIPE_WEBHOOK_SECRET=whsec_test_1234567890abcdefghij
STRIPE_PRICE_PRO=price_1NdevPro000000000000000

# --- mail (Mailpit in dev)
SMTP_HOST=localhost
SMTP_FROM="myproject dev <dev@myproject.example.com>"
MAIL_PREVIEW=true

# --- auth providers (dev apps)
GOOGLE_CLIENT_ID=123456789012-devapp.apps.googleusercontent.com
GOOGLE_CLIENT_SECRET=dev-google-client-secret
GITHUB_CLIENT_ID=Iv1.devapp0000000000
GITHUB_CLIENT_SECRET=dev-github-client-secret
OAUTH_REDIRECT_URL=http://localhost:3000/auth/callback

# --- observability
SENTRY_DSN=https://abc123def456@o0.ingest.sentry.io/0
SENTRY_ENVIRONMENT=development
OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:4318
METRICS_ENABLED=false

# --- feature flags
FEATURE_NEW_CHECKOUT=false
FEATURE_SEARCH_V2=true
FEATURE_DARK_MODE=true
SHOW_PRODUCTION_BANNER=false
RATE_LIMIT_PER_MINUTE=600
"""

GITIGNORE = ".env\n.env.local\nnode_modules/\n"


def user_lines(n: int) -> str:
    """What a developer adds below grove's block in slot n's .env.local."""
    return (
        "\n# my overrides for this slot\n"
        "LOG_LEVEL=debug\n"
        f"SEED_USER_EMAIL=dev+wt{n}@myproject.example.com\n"
        f"FEATURE_NEW_CHECKOUT={'true' if n % 2 else 'false'}\n"
    )


# ---------------------------------------------------------------- fixture


def build_repo(parent: Path, env: Mapping[str, str], n_files: int) -> tuple[Path, int]:
    repo = parent / PROJECT
    repo.mkdir()
    run(["git", "init", "-q", "-b", "main"], repo, env)
    size = write_tree(repo, n_files)
    (repo / "README.md").write_text("# myproject\n\nA benchmark fixture.\n", encoding="utf-8")
    (repo / ".gitignore").write_text(GITIGNORE, encoding="utf-8")
    # The URLs that embed a table port are written per slot, as `grove init` proposes;
    # otherwise validate (rightly) warns that every slot shares them.
    (repo / "grove.toml").write_text(
        f"[grove]\nslots = {SLOTS}\n\n[env.rewrite]\n"
        'APP_URL = "PORT"\nCORS_ORIGINS = "PORT"\nDATABASE_URL = "DB_PORT"\n'
        'OAUTH_REDIRECT_URL = "PORT"\n',
        encoding="utf-8",
    )
    run(["git", "add", "-A"], repo, env)
    run(["git", "commit", "-q", "-m", "fixture"], repo, env)
    # Before the first create, which records the shared files' state as approved.
    (repo / ".env").write_text(SHARED_ENV, encoding="utf-8")
    return repo, size


def add_user_lines(paths: Sequence[Path]) -> None:
    for n, path in enumerate(paths):
        local = path / ".env.local"
        with local.open("a", encoding="utf-8") as fh:
            fh.write(user_lines(n))


def check_healthy(grove: Path, repo: Path, env: Mapping[str, str]) -> None:
    """One validate run must say ok with no findings, or the fixture is wrong."""
    proc = subprocess.run(
        [str(grove), "validate", "--all", "--json"],
        cwd=repo,
        env=dict(env),
        capture_output=True,
        text=True,
        check=False,
    )
    try:
        report = json.loads(proc.stdout)
    except json.JSONDecodeError:
        report = {}
    findings = report.get("findings", [])
    if proc.returncode == 0 and report.get("ok") is True and not findings:
        if len(report.get("slots", [])) != SLOTS:
            sys.exit(f"validate checked {report.get('slots')}, expected {SLOTS} slots")
        return
    print(f"grove validate --all --json exited {proc.returncode}:", file=sys.stderr)
    for f in findings:
        print(
            f"  slot {f.get('slot')} {f.get('level')} {f.get('check')}: {f.get('message')}",
            file=sys.stderr,
        )
    if not findings:
        print(proc.stdout + proc.stderr, file=sys.stderr)
    sys.exit("the fixture is not healthy (see above); fix the fixture before timing")


# ---------------------------------------------------------------- timing


def cases_for(paths: Sequence[Path], repo: Path, grove: Path) -> list[Case]:
    g = str(grove)
    n = str(len(paths))
    last = paths[-1]
    return [
        Case("`grove validate --all --json`", n, [([g, "validate", "--all", "--json"], repo)], []),
        Case("`grove validate --all` (text)", n, [([g, "validate", "--all"], repo)], []),
        Case(
            f"`grove validate --json` in {last.name} (its own slot only)",
            "1",
            [([g, "validate", "--json"], last)],
            [],
        ),
        Case("`grove list --json`", n, [([g, "list", "--json"], repo)], []),
        Case("`grove --help` (start-up)", "-", [([g, "--help"], repo)], []),
        Case(
            "`python -c pass` (interpreter only)",
            "-",
            [([grove_python(grove), "-c", "pass"], repo)],
            [],
        ),
    ]


# ---------------------------------------------------------------- profile


def profile(grove: Path, repo: Path, env: Mapping[str, str], top: int) -> str:
    """Import time of grove's modules and a cProfile of one in-process validate run."""
    py = grove_python(grove)
    argv = ["-m", "grove", "validate", "--all", "--json"]
    proc = subprocess.run(
        [py, "-X", "importtime", *argv],
        cwd=repo,
        env=dict(env),
        capture_output=True,
        text=True,
        check=False,
    )
    # "import time: self [us] | cumulative | imported package", nesting shown by indent.
    rows: list[tuple[int, int, str]] = []
    for line in proc.stderr.splitlines():
        m = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)", line)
        if m:
            rows.append((len(m.group(3)), int(m.group(2)), m.group(4)))
    outermost = [(cum, name) for depth, cum, name in rows if depth == 1]
    total_import = sum(cum for cum, _ in outermost)
    lines = [f"imports: {total_import / 1000:.1f} ms in all (outermost imports, cumulative):"]
    lines += [
        f"  {cum / 1000:7.1f} ms  {name}" for cum, name in sorted(outermost, reverse=True)[:top]
    ]
    stats = repo.parent.parent / "validate.prof"
    run([py, "-m", "cProfile", "-o", str(stats), *argv], repo, env)
    code = (
        "import pstats, sys; "
        "pstats.Stats(sys.argv[1]).sort_stats('cumulative').print_stats(int(sys.argv[2]))"
    )
    lines += ["", run([py, "-c", code, str(stats), str(top)], repo, env)]
    return "\n".join(lines)


# ---------------------------------------------------------------- report


def table(cases: Sequence[Case]) -> str:
    head = "| command | slots checked | median ms | p90 ms | min ms | max ms |"
    rule = "|---|---:|---:|---:|---:|---:|"
    rows = [
        f"| {c.label} | {c.slots} | {statistics.median(c.samples):.1f} | {p90(c.samples):.1f} "
        f"| {min(c.samples):.1f} | {max(c.samples):.1f} |"
        for c in cases
    ]
    return "\n".join([head, rule, *rows])


def verdict(cases: Sequence[Case]) -> str:
    median = statistics.median(cases[0].samples)
    held = "met" if median < TARGET_MS else "NOT met"
    return (
        f"Target (median of `grove validate --all --json` over {SLOTS} slots under "
        f"{TARGET_MS / 1000:.0f} s): **{held}**, {median:.0f} ms."
    )


def reproduce_command(args: argparse.Namespace) -> str:
    """The command line that reproduces this run (defaults left out)."""
    defaults = {"repeat": DEFAULT_REPEAT, "warmup": DEFAULT_WARMUP, "files": DEFAULT_FILES}
    return command_line(REPRODUCE, args, defaults | {"no_bytecode_cache": False})


def section(
    body_table: str, cases: Sequence[Case], machine_lines: list[str], args: argparse.Namespace
) -> str:
    today = dt.date.today().isoformat()
    bytecode = (
        "Python bytecode cache off (`PYTHONDONTWRITEBYTECODE=1`): grove's modules are "
        "compiled on every run."
        if args.no_bytecode_cache
        else "Python bytecode cache on (`.pyc` files written to a scratch folder during the "
        "warm-up), as for an installed grove."
    )
    intro = (
        f"Wall-clock time of `grove validate --all` from main on a grove of {SLOTS} slots "
        "(main + 9), user commands excluded: no `[database]` (so no `migrate_status`) and "
        "no compose file, so every check is grove's own: shared env links, managed blocks, "
        "the port table, listening ports (psutil), the production-secret scan of the shared "
        "`.env` and of each slot's `.env.local`, approval of the shared files, git layout. "
        "For context: `grove validate` inside one slot (checks that slot only), `grove list "
        "--json` on the same grove, `grove --help` (start-up floor) and `python -c pass`."
    )
    fixture = (
        f"Fixture: a fresh repository of {args.files:,} tracked files in nested folders, a "
        f"shared `.env` of {len(SHARED_ENV.splitlines())} lines in main (dev/staging URLs, "
        "`sk_test_` keys, flags, comments), `[grove] slots = 10` with its four localhost URLs "
        "in `[env.rewrite]`, 9 slots made with "
        "`grove create`, four user lines appended to every `.env.local`; hermetic git "
        "config. Before timing, validate must exit 0 with `ok: true` and no findings, and "
        f"every timed run must exit 0. {bytecode} {args.warmup} warm-up run(s), then "
        f"{args.repeat} timed runs per command, interleaved round by round."
    )
    return "\n".join(
        [
            SECTION,
            "",
            textwrap.fill(intro, width=88),
            "",
            textwrap.fill(fixture, width=88),
            "",
            body_table,
            "",
            verdict(cases),
            "",
            f"Measured {today} on:",
            "",
            *machine_lines,
            "",
            "Reproduce (from the repository root, with grove installed in the venv; "
            "`--profile` also prints import times and a cProfile of one run):",
            "",
            "```sh",
            reproduce_command(args),
            "```",
            "",
        ]
    )


# ---------------------------------------------------------------- main


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--repeat", type=int, default=DEFAULT_REPEAT, help=f"timed runs ({DEFAULT_REPEAT})"
    )
    parser.add_argument(
        "--warmup", type=int, default=DEFAULT_WARMUP, help=f"untimed runs ({DEFAULT_WARMUP})"
    )
    parser.add_argument(
        "--files",
        type=int,
        default=DEFAULT_FILES,
        help=f"tracked files in the fixture ({DEFAULT_FILES})",
    )
    parser.add_argument("--grove", help="grove executable (default: the one in this venv)")
    parser.add_argument(
        "--write", action="store_true", help=f"replace the '{SECTION}' section of {DOC.name}"
    )
    parser.add_argument(
        "--no-bytecode-cache",
        action="store_true",
        help="run grove with PYTHONDONTWRITEBYTECODE=1 (compile on every run)",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="print import times and a cProfile of one validate run (stderr)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the fixture and print its path")
    args = parser.parse_args(argv)
    if args.repeat < 1 or args.warmup < 0 or args.files < 1:
        parser.error("--repeat and --files must be >= 1, --warmup >= 0")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    grove = find_grove(args.grove)
    load = f"{os.getloadavg()[0]:.2f}" if hasattr(os, "getloadavg") else "n/a"
    tmp = Path(tempfile.mkdtemp(prefix="grove-bench-validate-")).resolve()
    try:
        home = tmp / "home"
        home.mkdir()
        env = hermetic_env(home, bytecode_cache=not args.no_bytecode_cache)
        grove_dir = tmp / "grove"
        grove_dir.mkdir()
        print(f"building fixture ({args.files} files) in {tmp} ...", file=sys.stderr)
        repo, _size = build_repo(grove_dir, env, args.files)
        paths = grow_to(repo, SLOTS, grove, env)
        add_user_lines(paths)
        check_healthy(grove, repo, env)

        cases = cases_for(paths, repo, grove)
        print(
            f"timing: {args.warmup} warm-up + {args.repeat} runs x {len(cases)} commands ...",
            file=sys.stderr,
        )
        measure(cases, env, args.repeat, args.warmup)
        check_healthy(grove, repo, env)  # nothing drifted while timing

        body = table(cases)
        print(body)
        print()
        print(verdict(cases))
        if args.profile:
            print(profile(grove, repo, env, PROFILE_TOP), file=sys.stderr)
        if args.write:
            write_section(SECTION, section(body, cases, machine(env, grove, load), args))
            print(f"updated {DOC.relative_to(ROOT)}", file=sys.stderr)
    finally:
        if args.keep:
            print(f"fixture kept in {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
