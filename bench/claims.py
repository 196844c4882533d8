#!/usr/bin/env python3
"""What a claim on the git remote adds to `grove take`: a take with `--claim` next to a
plain take, against a bare remote on this machine.

Run on purpose, not by the test suite:

    python bench/claims.py                 # print the markdown section
    python bench/claims.py --write         # also update docs/benchmarks.md

The fixture is a git repository with a `grove.toml` (two slots, a free high port range, no
`[team]`), a bare repository as its `origin`, and a second clone of it. Slot 1 is made once
with `grove create`, so every take hands over a warm slot.

Then, round by round (the order alternating), it times:

- (a) `grove take --branch plain-<i>`: the plain take;
- (b) `grove take --branch claimed-<i> --claim`: the claim, then the same take;
- (c) `grove take --branch held --claim` refused, because the other clone holds the claim;
- (d) `grove claims`: the remote's claims, fetched.

`grove release 1` after (a) and (b) runs outside the timed region. A wrapper first on PATH
logs every git process grove starts, so the pushes and fetches of each are counted too.
Standard library only; grove and git run as subprocesses.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from benchlib import command_line, cpu_description, find_grove, port_free, write_section

HEADING = "## Claims on the git remote: grove take --claim vs a plain take"
REPRODUCE = "python bench/claims.py --write"
DEFAULT_ROUNDS = 15


def free_base(span: int) -> int:
    for base in range(43000, 60000, span):
        if all(port_free(base + k) for k in range(span)):
            return base
    raise SystemExit("no free port range")


def git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(cwd), *args], check=True, capture_output=True)


def build_fixture(root: Path) -> tuple[Path, Path]:
    """main (with origin, a bare repository) and a second clone of it."""
    main = root / "work" / "app"
    main.mkdir(parents=True)
    (main / ".gitignore").write_text(".env\n.env.local\n")
    (main / ".env").write_text("API_KEY=sk_test_bench000000000000\n")
    (main / "README.md").write_text("# app\n")
    (main / "grove.toml").write_text(f"[grove]\nslots = 2\n[ports]\nPORT = {free_base(2)}\n")
    git(main, "init", "-q", "-b", "main")
    git(main, "add", "-A")
    git(main, "commit", "-q", "-m", "app")
    remote = root / "remote.git"
    git(root, "init", "-q", "--bare", "-b", "main", str(remote))
    git(main, "remote", "add", "origin", str(remote))
    git(main, "push", "-q", "origin", "main")
    other = root / "laptop" / "app"
    other.parent.mkdir()
    git(root, "clone", "-q", "-b", "main", str(remote), str(other))
    return main, other


def git_logger(root: Path) -> tuple[dict[str, str], Path]:
    """An environment whose `git` logs its arguments, one line per process, then runs git."""
    real = shutil.which("git")
    if real is None:
        raise SystemExit("git is needed")
    folder = root / "gitlog"
    folder.mkdir()
    log = root / "git.log"
    wrapper = folder / "git"
    wrapper.write_text(f'#!/bin/sh\nprintf "%s\\n" "$*" >> "{log}"\nexec "{real}" "$@"\n')
    wrapper.chmod(0o755)
    return {**os.environ, "PATH": f"{folder}{os.pathsep}{os.environ['PATH']}"}, log


class Run:
    def __init__(self, seconds: float, code: int, calls: list[str]):
        self.seconds = seconds
        self.code = code
        self.calls = calls

    def count(self, word: str) -> int:
        return sum(1 for line in self.calls if f" {word} " in f" {line} ")


def timed(grove: Path, cwd: Path, env: dict[str, str], log: Path, *args: str) -> Run:
    log.write_text("")
    start = time.perf_counter()
    argv = [str(grove), *args]
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - start
    calls = log.read_text().splitlines()
    return Run(seconds, done.returncode, calls)


def measure(grove: Path, rounds: int) -> dict[str, list[Run]]:
    runs: dict[str, list[Run]] = {"a": [], "b": [], "c": [], "d": []}
    with tempfile.TemporaryDirectory(prefix="grove-bench-claims-") as tmp:
        root = Path(tmp)
        identity = {"GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "b@b"}
        identity |= {"GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "b@b"}
        os.environ.update(identity)
        # An installed grove has its bytecode compiled; without the cache every call would
        # compile grove's modules again, which no user pays.
        os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
        main, other = build_fixture(root)
        env, log = git_logger(root)
        subprocess.run([str(grove), "create"], cwd=main, check=True, capture_output=True)
        held = [str(grove), "take", "--branch", "held", "--claim", "--label", "laptop"]
        subprocess.run(held, cwd=other, check=True, capture_output=True)
        release = [str(grove), "release", "1", "--label", "bench"]
        for i in range(rounds):
            order = "abcd" if i % 2 == 0 else "dcba"
            for what in order:
                if what == "a":
                    take = ("take", "--branch", f"plain-{i}", "--label", "bench")
                    runs["a"].append(timed(grove, main, env, log, *take))
                    subprocess.run(release, cwd=main, check=True, capture_output=True)
                elif what == "b":
                    take = ("take", "--branch", f"claimed-{i}", "--claim", "--label", "bench")
                    runs["b"].append(timed(grove, main, env, log, *take))
                    subprocess.run(release, cwd=main, check=True, capture_output=True)
                elif what == "c":
                    take = ("take", "--branch", "held", "--claim", "--label", "bench")
                    runs["c"].append(timed(grove, main, env, log, *take))
                else:
                    runs["d"].append(timed(grove, main, env, log, "claims"))
        for what, expected in (("a", 0), ("b", 0), ("c", 1), ("d", 0)):
            codes = {run.code for run in runs[what]}
            if codes != {expected}:
                raise SystemExit(f"({what}) exited with {sorted(codes)}, expected {expected}")
    return runs


def _ms(values: list[float]) -> str:
    return f"{statistics.median(values) * 1000:.0f} ms"


def _row(label: str, runs: list[Run]) -> str:
    seconds = [run.seconds for run in runs]
    low, high = min(seconds) * 1000, max(seconds) * 1000
    gits = statistics.median(len(run.calls) for run in runs)
    pushes = statistics.median(run.count("push") for run in runs)
    fetches = statistics.median(run.count("fetch") for run in runs)
    return (
        f"| {label} | {_ms(seconds)} | {low:.0f} ms | {high:.0f} ms | {gits:g} | {pushes:g} "
        f"| {fetches:g} |"
    )


def section(runs: dict[str, list[Run]], rounds: int, reproduce: str) -> str:
    cpus, model = cpu_description()
    machine = f"{platform.system()} {platform.machine()}, {cpus} CPU(s)"
    machine += f", {model}" if model else ""
    plain = statistics.median(run.seconds for run in runs["a"])
    claimed = statistics.median(run.seconds for run in runs["b"])
    pushes = statistics.median(run.count("push") for run in runs["b"])
    rows = "\n".join(
        [
            _row("(a) `grove take --branch B` (plain)", runs["a"]),
            _row("(b) `grove take --branch B --claim`", runs["b"]),
            _row("(c) `--claim` refused: another clone holds B", runs["c"]),
            _row("(d) `grove claims` (fetch and list)", runs["d"]),
        ]
    )
    return (
        f"{HEADING}\n\n"
        f"`{reproduce}` ({rounds} rounds, medians; {dt.date.today()}, {machine}, "
        f"Python {platform.python_version()}, {_git_version()}).\n\n"
        "The fixture: a small repository with two slots, slot 1 made once (every take hands "
        "it over warm), a bare repository on the same disk as its `origin`, and a second "
        "clone that holds the claim on `held`. Each take gets a new branch and is released "
        "outside the timed region. The remote is local, so this is git's own cost; over a "
        "network each push and fetch adds one round trip to the server.\n\n"
        "| measurement | median | min | max | git processes | pushes | fetches |\n"
        "|---|---:|---:|---:|---:|---:|---:|\n"
        f"{rows}\n\n"
        f"A claim adds {(claimed - plain) * 1000:.0f} ms to a take here "
        f"({plain * 1000:.0f} ms -> {claimed * 1000:.0f} ms) and {pushes:g} push(es): the "
        "compare-and-swap that creates the claim before anything local changes. The claim "
        "names the slot the take expects (the lowest free one); only a take that ends in "
        "another slot pushes again, renewing the claim to name it. A refused claim costs "
        "its push and one fetch (to name the holder), and changes nothing local.\n"
    )


def _git_version() -> str:
    done = subprocess.run(["git", "--version"], capture_output=True, text=True, check=False)
    return done.stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rounds", type=int, default=DEFAULT_ROUNDS)
    parser.add_argument("--grove", help="the grove executable (default: found)")
    parser.add_argument("--write", action="store_true", help="update docs/benchmarks.md")
    args = parser.parse_args()
    grove = find_grove(args.grove)
    reproduce = command_line(REPRODUCE, args, {"rounds": DEFAULT_ROUNDS})
    text = section(measure(grove, args.rounds), args.rounds, reproduce)
    print(text)
    if args.write:
        write_section(HEADING, text)


if __name__ == "__main__":
    main()
