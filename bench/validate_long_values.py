#!/usr/bin/env python3
"""How long `grove validate --all` takes when one env line is long (issue 13).

Run on purpose, not by the test suite:

    python bench/validate_long_values.py            # print the tables
    python bench/validate_long_values.py --write    # also update docs/benchmarks.md

Before the fix, a 20 KB value took 0.36 s, 80 KB 4.1 s and a 10 MB line did not finish in
11 minutes: the production-host rule's URL pattern backtracked from every letter of a run
of scheme characters. python-dotenv has a pattern of the same kind for a run of blanks.

The fixture is a small repository in a temporary folder (hermetic git configuration, as in
bench/list_latency.py): a committed grove.toml with `[grove] slots = 3` and a port table in
a high range, a shared `.env` of a few dev lines, and 2 slots made with `grove create`. Each
case writes one long value, approves the shared files (`grove env approve`, so only the
long line can give a finding) and times `grove validate --all --json` as a subprocess, wall
clock, after a warm-up; every run's exit code and finding ids are checked against what the
case expects. Then, in-process, the two patterns that were slow are timed alone on the same
values, next to what grove runs now: the old URL pattern (`re.findall`) against
`secretscan.url_candidates`, and python-dotenv's parser on a run of blanks against
`envfile.read_assignments`. The old ones are skipped at 10 MB: they would not finish.

Standard library only for the timed runs; grove is run as a subprocess (`--grove` picks
the executable), and its modules are imported for the in-process rows.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from benchlib import find_grove, write_section

# bench/ is on sys.path when this file runs as a script (ruff: src includes "bench").
from list_latency import hermetic_env, machine, run

ROOT = Path(__file__).resolve().parent.parent
SECTION = "## grove validate with one long env value"
REPRODUCE = "python bench/validate_long_values.py --write"
DEFAULT_REPEAT = 5
DEFAULT_WARMUP = 1
SIZES = {"20 KB": 20 * 1024, "80 KB": 80 * 1024, "10 MB": 10 * 1024 * 1024}
PORT_BASE = 47100  # far from the seed's 3000/5434/1025/8025, which a developer's servers use
OLD_URL_SCAN = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s\"',]+")
OLD_LIMIT = 100 * 1024  # the old patterns are timed up to here; 10 MB would not finish

SHARED_ENV = """\
# Shared development settings (dev and staging values only)
APP_NAME=myproject
NODE_ENV=development
API_BASE_URL=https://api.staging.myproject.example.com/v1
STRIPE_SECRET_KEY=sk_test_4eC39HqLyjWDarjtT1zdp7dc
FEATURE_SEARCH_V2=true
"""


def scheme_run(size: int) -> str:
    """Letters, dots and dashes with no "://": the old URL pattern's worst case."""
    return ("db.prod-" * (size // 8 + 1))[:size]


def many_schemes(size: int) -> str:
    return ("a://" * (size // 4 + 1))[:size]


def blank_run(size: int) -> str:
    """A run of blanks inside an unquoted value: python-dotenv's comment stripping
    backtracks over it."""
    return "x" + " " * (size - 2) + "y"


@dataclass(frozen=True)
class Shape:
    label: str
    make: Callable[[int], str]
    where: str  # "shared": main's .env; "local": slot 1's .env.local


SHAPES = (
    Shape("run of scheme characters (`db.prod-db.prod-...`)", scheme_run, "shared"),
    Shape('many "://" (`a://a://...`)', many_schemes, "shared"),
    Shape("run of blanks (`x      ...y`)", blank_run, "local"),
)


@dataclass
class Case:
    label: str
    where: str
    size: str
    line: str  # the long line, or "" for the baseline
    expect: tuple[int, list[tuple[str, str]]]  # exit code, (check, level) of each finding
    samples: list[float] = field(default_factory=list)


def expected(shape: Shape, size: int) -> tuple[int, list[tuple[str, str]]]:
    """What validate must say: a line over 128 KiB is an error; a shorter one with a long
    run of blanks a warning; the other shapes hold no secret."""
    if size > 128 * 1024:
        return 1, [("secrets.too-long", "error")]
    if shape.make is blank_run:
        return 0, [("secrets.too-long", "warning")]
    return 0, []


# ---------------------------------------------------------------- fixture


def build(parent: Path, env: Mapping[str, str], grove: Path) -> Path:
    repo = parent / "myproject"
    repo.mkdir()
    run(["git", "init", "-q", "-b", "main"], repo, env)
    (repo / ".gitignore").write_text(".env\n.env.local\n", encoding="utf-8")
    ports = ["PORT", "DB_PORT", "MAILPIT_SMTP_PORT", "MAILPIT_UI_PORT"]
    table = "\n".join(f"{name} = {PORT_BASE + 10 * i}" for i, name in enumerate(ports))
    (repo / "grove.toml").write_text(f"[grove]\nslots = 3\n\n[ports]\n{table}\n", "utf-8")
    run(["git", "add", "-A"], repo, env)
    run(["git", "commit", "-q", "-m", "fixture"], repo, env)
    (repo / ".env").write_text(SHARED_ENV, encoding="utf-8")
    for _ in range(2):
        run([str(grove), "create", "--json"], repo, env)
    return repo


def place(repo: Path, case: Case, env: Mapping[str, str], grove: Path) -> None:
    """Main's .env and slot 1's .env.local as the case wants them, the shared file approved."""
    local = repo.parent / "myproject-wt1" / ".env.local"
    block = local.read_text(encoding="utf-8").split("\nLONG_VALUE=")[0].rstrip("\n") + "\n"
    shared = SHARED_ENV + (f"LONG_VALUE={case.line}\n" if case.where == "shared" else "")
    (repo / ".env").write_text(shared, encoding="utf-8")
    local.write_text(
        block + (f"LONG_VALUE={case.line}\n" if case.where == "local" else ""), encoding="utf-8"
    )
    run([str(grove), "env", "approve", "--json"], repo, env)


def validate_once(grove: Path, repo: Path, env: Mapping[str, str], case: Case) -> float:
    start = time.perf_counter()
    proc = subprocess.run(
        [str(grove), "validate", "--all", "--json"],
        cwd=repo,
        env=dict(env),
        capture_output=True,
        text=True,
        check=False,
    )
    elapsed = time.perf_counter() - start
    try:
        findings = json.loads(proc.stdout).get("findings", [])
    except json.JSONDecodeError:
        findings = [{"check": "?", "level": proc.stdout[:200] + proc.stderr[:200]}]
    got = (proc.returncode, [(f["check"], f["level"]) for f in findings])
    if got != case.expect:
        sys.exit(f"{case.label} {case.size}: expected {case.expect}, validate gave {got}")
    if case.line and case.line[:64] in proc.stdout + proc.stderr:
        sys.exit(f"{case.label} {case.size}: validate printed the value")
    return elapsed


# ---------------------------------------------------------------- in-process rows


def best_of(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def pattern_rows(repeat: int) -> list[str]:
    """The two slow patterns alone on the same values: the old ones once (they are slow),
    what grove runs now best of repeat."""
    from dotenv.parser import parse_stream

    from grove import envfile, secretscan

    rows = []
    for label, size in SIZES.items():
        value = scheme_run(size)
        old = (
            f"{1000 * best_of(lambda v=value: OLD_URL_SCAN.findall(v), 1):,.0f}"
            if size <= OLD_LIMIT
            else "not run (would not finish)"
        )
        new = best_of(lambda v=value: list(secretscan.url_candidates(v)), repeat)
        rows.append(f"| URL scan, run of scheme characters | {label} | {old} | {1000 * new:.3f} |")
    for label, size in SIZES.items():
        text = f"LONG_VALUE={blank_run(size)}\n"
        old = (
            f"{1000 * best_of(lambda t=text: list(parse_stream(io.StringIO(t))), 1):,.0f}"
            if size <= OLD_LIMIT
            else "not run (would not finish)"
        )
        new = best_of(lambda t=text: envfile.read_assignments(t), repeat)
        rows.append(f"| dotenv parse, run of blanks | {label} | {old} | {1000 * new:.3f} |")
    head = "| pattern | value | before: ms (one run) | now: ms (best) |\n|---|---|---:|---:|"
    return [head, *rows]


# ---------------------------------------------------------------- report


def table(cases: Sequence[Case]) -> str:
    head = (
        "| long line | where | value | exit | findings | median s | min s | max s |\n"
        "|---|---|---|---:|---|---:|---:|---:|"
    )
    rows = []
    for c in cases:
        found = ", ".join(f"`{check}` ({level})" for check, level in c.expect[1]) or "none"
        rows.append(
            f"| {c.label} | {c.where} | {c.size} | {c.expect[0]} | {found} "
            f"| {statistics.median(c.samples):.3f} | {min(c.samples):.3f} "
            f"| {max(c.samples):.3f} |"
        )
    return "\n".join([head, *rows])


def grove_commit(env: Mapping[str, str]) -> str:
    """The commit measured, and whether grove's sources differed from it."""
    head = run(["git", "rev-parse", "--short=12", "HEAD"], ROOT, env).strip()
    dirty = run(["git", "status", "--porcelain", "--", "src"], ROOT, env).strip()
    return f"- grove: commit {head}" + (" plus uncommitted changes under src/" if dirty else "")


def section(
    body: str, patterns: list[str], machine_lines: list[str], args: argparse.Namespace
) -> str:
    intro = (
        "Wall-clock time of `grove validate --all --json` (main + 2 slots) with one long "
        "line: 20 KB, 80 KB and 10 MB. Before the fix a 20 KB value took 0.36 s, 80 KB 4.1 s, "
        "and a 10 MB line did not finish in 11 minutes (issue 13): the production-host rule's "
        "URL pattern backtracked from every letter of a run of scheme characters. Now no "
        "scan costs more than linear time, and one line a bounded time: the secret rules read "
        "at most 128 KiB of a value, no dotenv parser is handed a line over 128 KiB or with "
        "more than 256 blanks in a row, and such a line is named (`secrets.too-long`)."
    )
    fixture = (
        "Fixture: a small repository with `[grove] slots = 3`, a port table in a high "
        "range, a six-line shared `.env` and 2 slots made with `grove create`; hermetic git "
        "config. Each case writes one line `LONG_VALUE=<value>` (in main's `.env`, or below "
        "the block of slot 1's `.env.local`), approves the shared files, then times "
        f"{args.warmup} warm-up and {args.repeat} runs. Every run's exit code and findings "
        "are checked against the table; none may print the value."
    )
    patterns_intro = (
        "The two patterns that were slow, alone and in-process (one run each), next to what "
        f"grove runs now on the same values (best of {args.repeat}): the old URL pattern "
        "(`re.findall`) and `secretscan.url_candidates`; "
        "python-dotenv's parser on the line and `envfile.read_assignments` (which keeps that "
        "line from it)."
    )
    return "\n".join(
        [
            SECTION,
            "",
            textwrap.fill(intro, width=88),
            "",
            textwrap.fill(fixture, width=88),
            "",
            body,
            "",
            textwrap.fill(patterns_intro, width=88),
            "",
            *patterns,
            "",
            f"Measured {dt.date.today().isoformat()} on:",
            "",
            *machine_lines,
            "",
            "Reproduce (from the repository root, with grove installed in the venv):",
            "",
            "```sh",
            REPRODUCE
            + (f" --repeat {args.repeat}" if args.repeat != DEFAULT_REPEAT else "")
            + (f" --warmup {args.warmup}" if args.warmup != DEFAULT_WARMUP else ""),
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
    parser.add_argument("--grove", help="grove executable (default: the one in this venv)")
    parser.add_argument(
        "--write", action="store_true", help=f"replace the '{SECTION}' section of benchmarks.md"
    )
    parser.add_argument("--keep", action="store_true", help="keep the fixture and print its path")
    args = parser.parse_args(argv)
    if args.repeat < 1 or args.warmup < 0:
        parser.error("--repeat must be >= 1, --warmup >= 0")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    grove = find_grove(args.grove)
    load = f"{os.getloadavg()[0]:.2f}" if hasattr(os, "getloadavg") else "n/a"
    tmp = Path(tempfile.mkdtemp(prefix="grove-bench-long-")).resolve()
    try:
        home = tmp / "home"
        home.mkdir()
        env = hermetic_env(home, bytecode_cache=True)
        (tmp / "grove").mkdir()
        repo = build(tmp / "grove", env, grove)
        cases = [Case("none (baseline)", "-", "-", "", (0, []))]
        cases += [
            Case(shape.label, shape.where, label, shape.make(size), expected(shape, size))
            for shape in SHAPES
            for label, size in SIZES.items()
        ]
        for case in cases:
            print(f"timing: {case.label}, {case.size} ...", file=sys.stderr)
            place(repo, case, env, grove)
            for _ in range(args.warmup):
                validate_once(grove, repo, env, case)
            case.samples = [validate_once(grove, repo, env, case) for _ in range(args.repeat)]
        body = table(cases)
        print(body)
        print("timing the patterns alone ...", file=sys.stderr)
        patterns = pattern_rows(args.repeat)
        print()
        print("\n".join(patterns))
        if args.write:
            lines = [grove_commit(env), *machine(env, grove, load)]
            write_section(SECTION, section(body, patterns, lines, args))
            print(f"updated {(ROOT / 'docs' / 'benchmarks.md').relative_to(ROOT)}", file=sys.stderr)
    finally:
        if args.keep:
            print(f"fixture kept in {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
