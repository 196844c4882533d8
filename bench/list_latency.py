#!/usr/bin/env python3
"""How long `grove list` takes with 3 and with 10 slots, next to plain git.

Run on purpose, not by the test suite:

    python bench/list_latency.py            # print a markdown table
    python bench/list_latency.py --write    # also update docs/benchmarks.md

The script builds its own fixture in a temporary folder: a git repository with a
couple of thousand tracked files in nested folders, a `.env` in main and a
`grove.toml` allowing 10 slots, under a hermetic git configuration (an empty global
config, no system config, a fixed identity). Slots are created with the grove CLI.
Every command is timed as a subprocess, wall clock, after a warm-up; the cases are
interleaved (one run of each per round) so that drift on the machine hits them alike.

Standard library only; grove is run as a subprocess (`--grove` picks the executable).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from benchlib import command_line, cpu_description, find_grove, grove_python, write_section

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "benchmarks.md"
SECTION = "## grove list latency"
REPRODUCE = "python bench/list_latency.py --write"
SLOT_COUNTS = (3, 10)  # slots counting main, as in grove.toml's [grove] slots
PROJECT = "myproject"
DEFAULT_REPEAT = 15
DEFAULT_WARMUP = 1
DEFAULT_FILES = 2000


WORDS = [
    "alpha",
    "beta",
    "gamma",
    "delta",
    "value",
    "result",
    "index",
    "buffer",
    "count",
    "config",
    "request",
    "response",
    "handler",
    "session",
    "token",
    "stream",
    "record",
    "table",
    "column",
    "query",
    "cache",
    "worker",
    "queue",
    "event",
    "return",
    "import",
    "class",
    "def",
    "self",
    "none",
    "true",
    "false",
    "for",
    "while",
    "if",
    "else",
    "try",
]


# ---------------------------------------------------------------- environment


def hermetic_env(home: Path, bytecode_cache: bool) -> dict[str, str]:
    """The caller's environment without its git settings, plus a throwaway home.

    Python's bytecode cache is pinned too: by default .pyc files go to a folder in the
    fixture (the source tree is left alone), so after the warm-up grove starts the way
    an installed copy does. Without the cache every run compiles grove's modules again,
    which is what an inherited PYTHONDONTWRITEBYTECODE=1 does to an editable install.
    """
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("GIT_") and k not in {"PYTHONDONTWRITEBYTECODE", "PYTHONPYCACHEPREFIX"}
    }
    if bytecode_cache:
        env["PYTHONPYCACHEPREFIX"] = str(home / "pycache")
    else:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    gitconfig = home / "gitconfig"
    gitconfig.write_text("", encoding="utf-8")
    env.update(
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / ".config"),
        XDG_CACHE_HOME=str(home / ".cache"),
        GIT_CONFIG_GLOBAL=str(gitconfig),
        GIT_CONFIG_NOSYSTEM="1",
        GIT_AUTHOR_NAME="Grove Bench",
        GIT_AUTHOR_EMAIL="bench@example.invalid",
        GIT_COMMITTER_NAME="Grove Bench",
        GIT_COMMITTER_EMAIL="bench@example.invalid",
        GIT_AUTHOR_DATE="2024-01-01T12:00:00Z",
        GIT_COMMITTER_DATE="2024-01-01T12:00:00Z",
    )
    env.pop("NO_COLOR", None)
    return env


def run(argv: Sequence[str], cwd: Path, env: Mapping[str, str]) -> str:
    """Run a command that must succeed; return its stdout."""
    proc = subprocess.run(
        list(argv), cwd=cwd, env=dict(env), capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise RuntimeError(
            f"{' '.join(argv)} (in {cwd}) exited {proc.returncode}:\n{proc.stderr}{proc.stdout}"
        )
    return proc.stdout


# ---------------------------------------------------------------- fixture


def write_tree(repo: Path, n_files: int, seed: int = 1234) -> int:
    """n_files source-like files in nested folders (about 1.5 KB each); returns bytes."""
    rng = random.Random(seed)
    total = 0
    per_leaf = 20
    for i in range(n_files):
        leaf = i // per_leaf
        folder = repo / "src" / f"pkg{leaf // 10:02d}" / f"mod{leaf % 10}"
        if i % per_leaf == 0:
            folder.mkdir(parents=True, exist_ok=True)
        lines = []
        for _ in range(rng.randint(20, 60)):
            indent = "    " * rng.randint(0, 3)
            lines.append(indent + " ".join(rng.choices(WORDS, k=rng.randint(3, 9))))
        text = "\n".join(lines) + "\n"
        (folder / f"file{i % per_leaf:02d}.py").write_text(text, encoding="utf-8")
        total += len(text)
    return total


def build_repo(parent: Path, env: Mapping[str, str], n_files: int) -> tuple[Path, int]:
    repo = parent / PROJECT
    repo.mkdir()
    run(["git", "init", "-q", "-b", "main"], repo, env)
    size = write_tree(repo, n_files)
    (repo / "README.md").write_text("# myproject\n\nA benchmark fixture.\n", encoding="utf-8")
    (repo / ".gitignore").write_text(".env\n.env.local\nnode_modules/\n", encoding="utf-8")
    (repo / "grove.toml").write_text(f"[grove]\nslots = {max(SLOT_COUNTS)}\n", encoding="utf-8")
    run(["git", "add", "-A"], repo, env)
    run(["git", "commit", "-q", "-m", "fixture"], repo, env)
    (repo / ".env").write_text(
        "DATABASE_URL=postgres://dev:dev@localhost/dev\nSECRET_KEY=dev-only\nDEBUG=1\n",
        encoding="utf-8",
    )
    return repo, size


def worktrees(repo: Path, env: Mapping[str, str]) -> list[Path]:
    out = run(["git", "worktree", "list", "--porcelain", "-z"], repo, env)
    return [Path(t.removeprefix("worktree ")) for t in out.split("\0") if t.startswith("worktree ")]


def grow_to(repo: Path, slots: int, grove: Path, env: Mapping[str, str]) -> list[Path]:
    """Create slots with `grove create` until main plus slots-1 worktrees exist."""
    while len(worktrees(repo, env)) < slots:
        run([str(grove), "create"], repo, env)
    paths = worktrees(repo, env)
    if len(paths) != slots:
        raise RuntimeError(f"expected {slots} worktrees, found {len(paths)}")
    # Let every index settle: files written in the same instant as the index are
    # "racily clean" and get re-hashed by each status until a status that may write
    # the index refreshes it. grove's queries use --no-optional-locks and never do, so
    # run one ordinary `git status` per worktree, as an agent working there would.
    time.sleep(1.1)
    for path in paths:
        run(["git", "status", "--porcelain"], path, env)
    return paths


# ---------------------------------------------------------------- timing


@dataclass
class Case:
    label: str
    slots: str
    runs: list[tuple[list[str], Path]]  # one sample runs them all, in order
    samples: list[float]


def one_sample(case: Case, env: Mapping[str, str]) -> float:
    start = time.perf_counter()
    for argv, cwd in case.runs:
        proc = subprocess.run(argv, cwd=cwd, env=dict(env), capture_output=True, check=False)
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} exited {proc.returncode}: {proc.stderr!r}")
    return (time.perf_counter() - start) * 1000.0


def measure(cases: Sequence[Case], env: Mapping[str, str], repeat: int, warmup: int) -> None:
    for _ in range(warmup):
        for case in cases:
            one_sample(case, env)
    for _ in range(repeat):
        for case in cases:
            case.samples.append(one_sample(case, env))


def p90(samples: Sequence[float]) -> float:
    ordered = sorted(samples)
    rank = max(1, round(0.9 * len(ordered)))  # nearest rank
    return ordered[min(rank, len(ordered)) - 1]


def cases_for(slots: int, paths: list[Path], repo: Path, grove: Path) -> list[Case]:
    n = str(slots)
    return [
        Case("`grove list --json`", n, [([str(grove), "list", "--json"], repo)], []),
        Case("`grove list` (table)", n, [([str(grove), "list"], repo)], []),
        Case(
            "`git worktree list --porcelain`",
            n,
            [(["git", "worktree", "list", "--porcelain"], repo)],
            [],
        ),
        Case(
            f"`git status`, once per worktree, sequential ({len(paths)} runs)",
            n,
            [(["git", "status"], p) for p in paths],
            [],
        ),
    ]


# ---------------------------------------------------------------- report


def machine(env: Mapping[str, str], grove: Path, load: str) -> list[str]:
    cpus, model = cpu_description()
    py = grove_python(grove)
    py_version = run([py, "-c", "import sys; print(sys.version.split()[0])"], ROOT, env).strip()
    git_version = run(["git", "--version"], ROOT, env).strip().removeprefix("git version ")
    lines = [
        f"- CPUs (nproc): {cpus}" + (f" ({model})" if model else ""),
        f"- OS: {platform.system()} {platform.release()} ({platform.machine()})",
        f"- Python (grove's interpreter): {py_version}",
        f"- git: {git_version}",
        f"- Load average (1 min) when the run started: {load}",
    ]
    return lines


def table(cases: Sequence[Case]) -> str:
    head = "| command | slots | median ms | p90 ms | min ms | max ms |"
    rule = "|---|---:|---:|---:|---:|---:|"
    rows = [
        f"| {c.label} | {c.slots} | {statistics.median(c.samples):.1f} | {p90(c.samples):.1f} "
        f"| {min(c.samples):.1f} | {max(c.samples):.1f} |"
        for c in cases
    ]
    return "\n".join([head, rule, *rows])


def reproduce_command(args: argparse.Namespace) -> str:
    """The command line that reproduces this run (defaults left out)."""
    defaults = {"repeat": DEFAULT_REPEAT, "warmup": DEFAULT_WARMUP, "files": DEFAULT_FILES}
    return command_line(REPRODUCE, args, defaults | {"no_bytecode_cache": False})


def section(body_table: str, machine_lines: list[str], args: argparse.Namespace, size: int) -> str:
    today = dt.date.today().isoformat()
    bytecode = (
        "Python bytecode cache off (`PYTHONDONTWRITEBYTECODE=1`): grove's modules are "
        "compiled on every run."
        if args.no_bytecode_cache
        else "Python bytecode cache on (`.pyc` files written to a scratch folder during the "
        "warm-up), as for an installed grove."
    )
    intro = (
        "Wall-clock time of `grove list` on a grove of 3 slots (main + 2) and of 10 slots "
        "(main + 9), next to `git worktree list` on the same repository and, for context, "
        "an ordinary `git status` run in each worktree one after the other (`grove list` "
        "runs one `git status` per slot, concurrently, plus its env and port checks). "
        "`grove --help` is the start-up floor (interpreter, CLI module, argparse; no git); "
        "`python -c pass` is the interpreter alone. Every command runs as a subprocess "
        "from main; `grove list` (table) also renders with rich."
    )
    fixture = (
        f"Fixture: a fresh repository of {args.files:,} tracked files in nested folders "
        f"({size / 1e6:.1f} MB), a `.env` in main, `[grove] slots = 10`, slots made with "
        "`grove create`; hermetic git config; every index refreshed by one `git status` "
        f"before timing. {bytecode} {args.warmup} warm-up run(s), then {args.repeat} timed "
        "runs per command, interleaved round by round."
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
            f"Measured {today} on:",
            "",
            *machine_lines,
            "",
            "Reproduce (from the repository root, with grove installed in the venv):",
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
        "--repeat",
        type=int,
        default=DEFAULT_REPEAT,
        help=f"timed runs per command ({DEFAULT_REPEAT})",
    )
    parser.add_argument(
        "--warmup",
        type=int,
        default=DEFAULT_WARMUP,
        help=f"untimed runs per command ({DEFAULT_WARMUP})",
    )
    parser.add_argument(
        "--files",
        type=int,
        default=DEFAULT_FILES,
        help=f"tracked files in the fixture ({DEFAULT_FILES})",
    )
    parser.add_argument("--grove", help="grove executable (default: the one in this venv)")
    parser.add_argument(
        "--write",
        action="store_true",
        help=f"replace the '{SECTION}' section of docs/benchmarks.md",
    )
    parser.add_argument(
        "--no-bytecode-cache",
        action="store_true",
        help="run grove with PYTHONDONTWRITEBYTECODE=1 (compile on every run)",
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
    tmp = Path(tempfile.mkdtemp(prefix="grove-bench-")).resolve()
    try:
        home = tmp / "home"
        home.mkdir()
        env = hermetic_env(home, bytecode_cache=not args.no_bytecode_cache)
        grove_dir = tmp / "grove"
        grove_dir.mkdir()
        print(f"building fixture ({args.files} files) in {tmp} ...", file=sys.stderr)
        repo, size = build_repo(grove_dir, env, args.files)

        startup = [
            Case("`grove --help` (start-up)", "-", [([str(grove), "--help"], repo)], []),
            Case(
                "`python -c pass` (interpreter only)",
                "-",
                [([grove_python(grove), "-c", "pass"], repo)],
                [],
            ),
        ]
        results: list[Case] = []
        for count in SLOT_COUNTS:
            paths = grow_to(repo, count, grove, env)
            cases = cases_for(count, paths, repo, grove)
            if count == SLOT_COUNTS[0]:
                cases = startup + cases
            print(
                f"timing {count} slots: {args.warmup} warm-up + {args.repeat} runs "
                f"x {len(cases)} commands ...",
                file=sys.stderr,
            )
            measure(cases, env, args.repeat, args.warmup)
            results += cases

        body = table(results)
        print(body)
        if args.write:
            write_section(SECTION, section(body, machine(env, grove, load), args, size))
            print(f"updated {DOC.relative_to(ROOT)}", file=sys.stderr)
    finally:
        if args.keep:
            print(f"fixture kept in {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
