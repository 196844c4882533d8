#!/usr/bin/env python3
"""Issue 16's speed targets, each as a ratio against a baseline timed in the same run.

Run on purpose, not by the test suite:

    python bench/speed.py --skip-real-app        # synthetic fixture only (any user)
    python bench/speed.py --write                # everything; not as root (PostgreSQL)

Targets (medians over interleaved rounds; the order of the cases reverses every other
round, so drift on the machine hits a case and its baseline alike):

1. `grove list --json` over 10 slots (main + 9) at most 1.3x `git status` run once per
   worktree, one after another, in the same 10 worktrees.
2. `grove env 1 --format json` and `grove --help` each at most 1.5x `python -c pass` with
   grove's own interpreter.
3. `grove take --branch B --json` of a warm slot whose lockfile and migrations are
   unchanged: its time minus that of `git switch -c B2 <the same start sha>` in the same
   slot, divided by `python -c pass`, at most 2.5. On the synthetic fixture and on a
   real-app-shaped one (bench/handoff.py's Next.js-like repository with a >= 300 MB
   node_modules, a seeded PostgreSQL database, `[setup]`, `[database]`, plus 2,000 tracked
   source files and a `[services]` web server that `grove up 1` starts before timing).
   The slot is released (`grove release 1`) and detached at the start point after every
   take, and the baseline's branch is left the same way, outside the timed region. For
   the real app, instrumented runs say where the time goes: interpreter start, imports
   (`python -X importtime`), grove's steps, every subprocess (count and time).
4. `grove validate --all --json` over the 10 slots of (1): at most 0.5 s.

Fixtures are built in a temporary folder under a hermetic git configuration and home;
Python's bytecode cache is on (written to the fixture during the warm-up), as for an
installed grove. Every service and PostgreSQL server started is stopped at the end, on
failure too. Standard library only; grove runs as a subprocess (`--grove`).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import getpass
import json
import os
import platform
import random
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import tomllib
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import handoff
from benchlib import (
    command_line,
    cpu_description,
    find_grove,
    free_port_range,
    grove_python,
    write_section,
)

# bench/ is on sys.path when this file runs as a script.
from list_latency import build_repo, hermetic_env, p90, run, worktrees, write_tree

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "benchmarks.md"
SECTION = "## Speed targets: grove next to git and the interpreter"
REPRODUCE = "python bench/speed.py --write"
SUMMARY_COMMAND = "`python bench/speed.py --write`"
SLOTS = 10
DEFAULT_REPEAT = 15
DEFAULT_WARMUP = 1
DEFAULT_FILES = 2000
TARGET_LIST = 1.3
TARGET_STARTUP = 1.5
TARGET_TAKE = 2.5
TARGET_VALIDATE_S = 0.5
LABEL = "bench"

SERVER_JS = """\
const http = require('http');
http.createServer((req, res) => res.end('ok'))
  .listen(Number(process.env.PORT), '127.0.0.1');
"""


def log(message: str) -> None:
    print(f"speed: {message}", file=sys.stderr, flush=True)


def median_ms(samples: Sequence[float]) -> float:
    return statistics.median(samples) * 1000.0


# ---------------------------------------------------------------- timed cases


@dataclass
class Case:
    """One timed thing: `timed` returns seconds of the timed region; `after` runs untimed
    right after it (undoing what it did)."""

    key: str
    label: str
    timed: Callable[[], float]
    after: Callable[[], None] | None = None
    samples: list[float] = field(default_factory=list)

    def median(self) -> float:
        return statistics.median(self.samples)


def rounds(cases: Sequence[Case], repeat: int, warmup: int, what: str) -> None:
    for i in range(warmup + repeat):
        order = list(cases) if i % 2 == 0 else list(cases)[::-1]
        for case in order:
            seconds = case.timed()
            if case.after is not None:
                case.after()
            if i >= warmup:
                case.samples.append(seconds)
        if i < warmup:
            log(f"{what} warm-up round done")
        else:
            timings = ", ".join(f"{c.key} {c.samples[-1] * 1000:.0f}" for c in cases)
            log(f"{what} round {i - warmup + 1}/{repeat} (ms): {timings}")


def timed_run(
    argv: Sequence[str], cwd: Path, env: Mapping[str, str], ok_codes: tuple[int, ...] = (0,)
) -> tuple[float, subprocess.CompletedProcess[str]]:
    start = time.perf_counter()
    proc = subprocess.run(
        list(argv), cwd=cwd, env=dict(env), capture_output=True, text=True, check=False
    )
    seconds = time.perf_counter() - start
    if proc.returncode not in ok_codes:
        raise RuntimeError(
            f"{' '.join(argv)} (in {cwd}) exited {proc.returncode}:\n{proc.stderr}{proc.stdout}"
        )
    return seconds, proc


def command_case(
    key: str, label: str, argv: Sequence[str], cwd: Path, env: Mapping[str, str]
) -> Case:
    return Case(key, label, lambda: timed_run(argv, cwd, env)[0])


def sequence_case(
    key: str, label: str, runs: Sequence[tuple[Sequence[str], Path]], env: Mapping[str, str]
) -> Case:
    def timed() -> float:
        start = time.perf_counter()
        for argv, cwd in runs:
            timed_run(argv, cwd, env)
        return time.perf_counter() - start

    return Case(key, label, timed)


class Handoff:
    """`grove take` of slot 1 and its baseline `git switch -c` in the same slot. Both start
    from the slot detached at the start point; both are put back there untimed."""

    def __init__(
        self, grove: Path, repo: Path, slot: Path, env: Mapping[str, str], check: Callable
    ) -> None:
        self.grove, self.repo, self.slot, self.env = grove, repo, slot, env
        self.check = check  # (answer) -> None, untimed
        self.start = run(["git", "rev-parse", "HEAD"], repo, env).strip()
        self.count = 0
        self.answers: list[dict[str, Any]] = []

    def _name(self, kind: str) -> str:
        self.count += 1
        return f"bench/{kind}{self.count}"

    def _detach(self, branch: str) -> None:
        run(["git", "switch", "-q", "--detach", self.start], self.slot, self.env)
        run(["git", "branch", "-q", "-D", branch], self.slot, self.env)

    def switch(self) -> float:
        self.branch = self._name("switch")
        seconds, _ = timed_run(
            ["git", "switch", "-c", self.branch, self.start], self.slot, self.env
        )
        return seconds

    def after_switch(self) -> None:
        self._detach(self.branch)

    def take_argv(self) -> list[str]:
        self.branch = self._name("take")
        return ["take", "--branch", self.branch, "--label", LABEL, "--json"]

    def take(self) -> float:
        argv = [str(self.grove), *self.take_argv()]
        seconds, proc = timed_run(argv, self.repo, self.env)
        self.answer = json.loads(proc.stdout)
        return seconds

    def after_take(self) -> None:
        answer = self.answer
        if answer.get("slot") != 1 or answer.get("created") or answer.get("branch") != self.branch:
            raise RuntimeError(
                f"grove take did not hand out warm slot 1 on {self.branch}: {answer}"
            )
        if answer.get("synced", {}).get("ran"):
            raise RuntimeError(f"grove take ran steps (lockfile unchanged?): {answer}")
        self.check(answer)
        run([str(self.grove), "release", "1", "--label", LABEL, "--json"], self.repo, self.env)
        self._detach(self.branch)

    def resident_case(self, client: Sequence[str]) -> Case:
        """The same take, asked of bench/resident.py's server through its client."""

        def timed() -> float:
            seconds, proc = timed_run([*client, *self.take_argv()], self.repo, self.env)
            self.answer = json.loads(proc.stdout)
            return seconds

        return Case(
            "take-resident", "the same take, served by a resident process", timed, self.after_take
        )

    def cases(self) -> list[Case]:
        return [
            Case("switch", "`git switch -c B2 <start>` in slot 1", self.switch, self.after_switch),
            Case(
                "take", "`grove take --branch B --json` (slot 1, warm)", self.take, self.after_take
            ),
        ]


# ---------------------------------------------------------------- instrumented take

# Runs before handoff's launcher: records when the process got to Python code, and every
# subprocess grove starts (its program and first word, and the time until it was reaped).
PRELUDE = r"""
import time as _bench_time
_bench_t0 = _bench_time.perf_counter()
import atexit as _bench_atexit, json as _bench_json, os as _bench_os
import subprocess as _bench_sp
_bench_calls, _bench_started = [], []
def _bench_label(args):
    argv = [args] if isinstance(args, (str, bytes)) else [str(a) for a in args]
    name = _bench_os.path.basename(str(argv[0]))
    skip = False
    for word in argv[1:]:
        if skip:
            skip = False
            continue
        if word in ("-C", "-c"):
            skip = True
            continue
        if not word.startswith("-"):
            return f"{name} {word}"
    return " ".join([name, *argv[1:2]])
_bench_init = _bench_sp.Popen.__init__
def _bench_popen(self, args, *a, **k):
    start = _bench_time.perf_counter()
    _bench_init(self, args, *a, **k)
    self._bench = (_bench_label(args), start)
    _bench_started.append(self._bench[0])
_bench_sp.Popen.__init__ = _bench_popen
_bench_handle = _bench_sp.Popen._handle_exitstatus
def _bench_reaped(self, *a, **k):
    result = _bench_handle(self, *a, **k)
    mark = self.__dict__.pop("_bench", None)
    if mark is not None:
        _bench_calls.append((mark[0], _bench_time.perf_counter() - mark[1]))
    return result
_bench_sp.Popen._handle_exitstatus = _bench_reaped
def _bench_dump():
    with open(_bench_os.environ["GROVE_BENCH_CALLS"], "w", encoding="utf-8") as fh:
        _bench_json.dump({"t0": _bench_t0, "calls": _bench_calls,
                          "started": _bench_started}, fh)
_bench_atexit.register(_bench_dump)
"""

PROBES = (
    *handoff.PROBES,
    "grove.lifecycle.gate:require_approved",
    "grove.lifecycle.create:record_task_branch",
    "grove.lifecycle.create:converge_main",
    "grove.steps:run_setup",
    "grove.steps:migrations_digest",
    "grove.steps:pending_sync",
    "grove.steps:read_record",
    "grove.steps:write_record",
    "grove.slots:discover",
    "grove.slots:reread_registry",
    "grove.processes:scan",
    "grove.state.leases:read",
    "grove.fsio:_open_lock",
    "grove.fsio:_unlock",
    "grove.git:rev_parse",
    "grove.git:worktrees",
    "grove.git:locate",
    "grove.git:branch_exists",
    "grove.git:valid_branch_name",
    "grove.cli:_start_take_early",
    "grove.lifecycle.headstart:begin_status",
    "grove.lifecycle.headstart:begin",
    "grove.lifecycle.headstart:status_of",
    "grove.lifecycle.headstart:end",
    "grove.approval:known_unchanged",
    "grove.database.binaries:major_of",
)
LABELS = {
    **handoff.LABELS,
    "grove.lifecycle.gate:require_approved": "shared files approved?",
    "grove.lifecycle.create:record_task_branch": "record the task's branch",
    "grove.lifecycle.create:converge_main": "converge main",
    "grove.steps:run_setup": "finish setup (nothing pending?)",
    "grove.steps:migrations_digest": "hash the migrations",
    "grove.steps:pending_sync": "what needs syncing",
    "grove.steps:read_record": "read the slot's record",
    "grove.steps:write_record": "write the slot's record",
    "grove.slots:discover": "discover the slots (git's worktree records, registry)",
    "grove.slots:reread_registry": "re-read the registry",
    "grove.processes:scan": "scan processes / listening ports",
    "grove.state.leases:read": "read a lease",
    "grove.fsio:_open_lock": "open a lock file",
    "grove.fsio:_unlock": "unlock",
    "grove.git:rev_parse": "`git rev-parse`",
    "grove.git:worktrees": "`git worktree list`",
    "grove.git:locate": "find the repository (its `.git`; `git rev-parse` when unusual)",
    "grove.git:branch_exists": "branch exists? (`git rev-parse`)",
    "grove.git:valid_branch_name": "valid branch name? (`git check-ref-format`)",
    "grove.cli:_start_take_early": "head start before argparse: open the grove, start the status",
    "grove.lifecycle.headstart:begin_status": "lock the likely slot, start its `git status`",
    "grove.lifecycle.headstart:begin": "start the request's three git questions",
    "grove.lifecycle.headstart:status_of": "wait for the head start's `git status`",
    "grove.lifecycle.headstart:end": "end the head start (let go of a slot not chosen)",
    "grove.approval:known_unchanged": "approval unchanged since last checked? (kept answer)",
    "grove.database.binaries:major_of": "PostgreSQL version of a bin folder (kept answer)",
}
IMPORT_LINE = re.compile(r"^import time:\s+(\d+)\s+\|\s+(\d+)\s+\|( +)(\S+)\s*$")


@dataclass
class Probe:
    wall: float
    interpreter: float  # process start until the first line of Python code
    launcher: float  # the instrument's own set-up (its hooks, importing subprocess)
    import_cli: float  # `from grove import cli`
    parts: dict[str, float]  # probes, inclusive, keyed by their call chain
    order: list[str]
    rest: float  # main() outside the outermost probes
    exit: float
    calls: list[tuple[str, float]]
    started: list[str]


def parse_importtime(stderr: str) -> dict[str, tuple[bool, float]]:
    """Each module imported: whether no other module imported it (top level), and its
    cumulative seconds (itself and what it imported first)."""
    found: dict[str, tuple[bool, float]] = {}
    for line in stderr.splitlines():
        match = IMPORT_LINE.match(line)
        if match:
            top = len(match.group(3)) == 1
            found[match.group(4)] = (top, int(match.group(2)) / 1e6)
    return found


def probed_take(hand: Handoff, tmp: Path) -> Probe:
    """One `grove take` through handoff's instrumented launcher, with -X importtime and the
    subprocess recorder. The caller releases and detaches afterwards."""
    timings, calls = tmp / "timings.json", tmp / "calls.json"
    for path in (timings, calls):
        path.unlink(missing_ok=True)
    env = dict(hand.env)
    env.update(
        GROVE_BENCH_PROBES=json.dumps(PROBES),
        GROVE_BENCH_TIMINGS=str(timings),
        GROVE_BENCH_CALLS=str(calls),
    )
    argv = [
        grove_python(hand.grove),
        "-c",
        PRELUDE + handoff.LAUNCHER,
        *hand.take_argv(),
    ]
    start = time.perf_counter()
    proc = subprocess.run(argv, cwd=hand.repo, env=env, capture_output=True, text=True, check=False)
    end = time.perf_counter()
    if proc.returncode != 0:
        raise RuntimeError(f"instrumented take exited {proc.returncode}:\n{proc.stderr[-3000:]}")
    hand.answer = json.loads(proc.stdout)
    data = json.loads(timings.read_text(encoding="utf-8"))
    recorded = json.loads(calls.read_text(encoding="utf-8"))
    if data["missing"]:
        log(f"probes not found in grove (left out): {', '.join(data['missing'])}")
    parts = dict(data["totals"])
    outer = sum(v for k, v in parts.items() if " > " not in k)
    return Probe(
        wall=end - start,
        interpreter=recorded["t0"] - start,
        launcher=data["entered"] - recorded["t0"],
        import_cli=data["main"] - data["entered"],
        parts=parts,
        order=list(data["order"]),
        rest=data["ended"] - data["main"] - outer,
        exit=end - data["ended"],
        calls=[(name, seconds) for name, seconds in recorded["calls"]],
        started=list(recorded["started"]),
    )


def importtime_case(hand: Handoff, found: list[dict[str, tuple[bool, float]]]) -> Case:
    """A plain take (grove's own script, no probes) under `python -X importtime`: which
    modules it imports and what they cost. Its wall clock is not used."""

    def timed() -> float:
        argv = [grove_python(hand.grove), "-X", "importtime", str(hand.grove), *hand.take_argv()]
        seconds, proc = timed_run(argv, hand.repo, hand.env)
        hand.answer = json.loads(proc.stdout)
        found.append(parse_importtime(proc.stderr))
        return seconds

    return Case("imports", "take under `-X importtime`", timed, hand.after_take)


def probe_case(hand: Handoff, work: Path, probes: list[Probe]) -> Case:
    """The instrumented take, as one more case of the rounds (its samples are not used)."""
    work.mkdir(exist_ok=True)

    def probed() -> float:
        probes.append(probed_take(hand, work))
        return probes[-1].wall

    return Case("probed", "instrumented take", probed, hand.after_take)


def bare_imports(python: str, env: Mapping[str, str], cwd: Path) -> set[str]:
    """Modules a bare `python -c pass` imports at start-up (site, encodings...)."""
    proc = subprocess.run(
        [python, "-X", "importtime", "-c", "pass"],
        cwd=cwd,
        env=dict(env),
        capture_output=True,
        text=True,
        check=False,
    )
    return set(parse_importtime(proc.stderr))


def breakdown(
    fixture: str,
    probes: Sequence[Probe],
    imports: Sequence[dict[str, tuple[bool, float]]],
    bare: set[str],
    python_pass: float,
) -> str:
    def med(values: Sequence[float]) -> float:
        return statistics.median(values) * 1000.0

    lines = [
        f"| where the time of `grove take` goes ({fixture}, instrumented runs) | median ms |",
        "|---|---:|",
        f"| **wall clock, instrumented** (the probes and the recorder add to it) "
        f"| {med([p.wall for p in probes]):.1f} |",
        f"| process start until the first line of Python (`python -c pass` alone: "
        f"{python_pass * 1000:.1f}) | {med([p.interpreter for p in probes]):.1f} |",
        f"| the instrument's own set-up: its hooks, importing `importlib.abc`, `subprocess` "
        "and `json` early (not in a plain run) "
        f"| {med([p.launcher for p in probes]):.1f} |",
        f"| `from grove import cli` | {med([p.import_cli for p in probes]):.1f} |",
        f"| `main()` outside the steps below: arguments, imports of the command's modules, "
        f"JSON answer | {med([p.rest for p in probes]):.1f} |",
    ]
    order: list[str] = []
    for probe in probes:
        order += [k for k in probe.order if k not in order]
    for key in order:
        values = [p.parts.get(key, 0.0) for p in probes]
        if med(values) < 0.5:
            continue
        *parents, last = key.split(" > ")
        indent = "&nbsp;" * (2 * len(parents))
        lines.append(f"| {indent}{LABELS.get(last, last)} | {med(values):.1f} |")
    lines.append(
        f"| interpreter exit (and the instrument writing its timings) "
        f"| {med([p.exit for p in probes]):.1f} |"
    )

    # Subprocesses: how many of each per take, and their time (start to reaped).
    kinds: list[str] = []
    for probe in probes:
        for name in probe.started:
            if name not in kinds:
                kinds.append(name)
    sub = [
        "",
        f"| subprocesses of one take ({fixture}) | count | median ms, all of them |",
        "|---|---:|---:|",
    ]
    totals = [sum(s for _, s in p.calls) for p in probes]
    counts = [len(p.started) for p in probes]
    sub.append(f"| **all** | {statistics.median(counts):g} | {med(totals):.1f} |")
    for kind in kinds:
        count = statistics.median([p.started.count(kind) for p in probes])
        spent = med([sum(s for n, s in p.calls if n == kind) for p in probes])
        sub.append(f"| `{kind}` | {count:g} | {spent:.1f} |")

    # Imports beyond a bare interpreter: by top-level package, and the heaviest packages
    # wherever they were first imported (these overlap the first list).
    def per_run(found: dict[str, tuple[bool, float]], top_only: bool) -> dict[str, float]:
        per: dict[str, float] = {}
        for module, (top, seconds) in found.items():
            if module in bare or (top_only and not top) or (not top_only and "." in module):
                continue
            root = module.split(".")[0]
            per[root] = per.get(root, 0.0) + seconds
        return per

    def ranked(top_only: bool) -> list[tuple[str, float]]:
        runs = [per_run(found, top_only) for found in imports]
        roots = {root for per in runs for root in per}
        values = {root: med([per.get(root, 0.0) for per in runs]) for root in roots}
        return sorted(values.items(), key=lambda kv: -kv[1])

    total = med([sum(per_run(found, True).values()) for found in imports])
    imp = [
        "",
        f"| imports of one plain take ({fixture}) beyond a bare interpreter "
        "(`-X importtime`, cumulative) | median ms |",
        "|---|---:|",
        f"| **all** | {total:.1f} |",
        "| *by top-level import:* | |",
    ]
    imp += [f"| `{root}` | {ms:.1f} |" for root, ms in ranked(True)[:8] if ms >= 0.5]
    imp.append("| *heaviest packages, wherever first imported (overlapping):* | |")
    heavy = [(root, ms) for root, ms in ranked(False) if root != "grove"]
    imp += [f"| `{root}` | {ms:.1f} |" for root, ms in heavy[:10] if ms >= 0.5]
    return "\n".join(lines + sub + imp)


# ---------------------------------------------------------------- synthetic fixture


def synthetic(args: argparse.Namespace, grove: Path, tmp: Path) -> dict[str, Any]:
    home = tmp / "home"
    home.mkdir()
    env = hermetic_env(home, bytecode_cache=True)
    parent = tmp / "grove"
    parent.mkdir()
    log(f"synthetic fixture ({args.files} files) in {parent}")
    repo, size = build_repo(parent, env, args.files)
    base = free_port_range(SLOTS, set(), random.Random())
    (repo / "grove.toml").write_text(
        f"[grove]\nslots = {SLOTS}\n\n[ports]\nPORT = {base}\n", encoding="utf-8"
    )
    run(["git", "commit", "-q", "-am", "ports"], repo, env)
    while len(worktrees(repo, env)) < SLOTS:
        run([str(grove), "create"], repo, env)
    paths = worktrees(repo, env)
    if len(paths) != SLOTS:
        raise RuntimeError(f"expected {SLOTS} worktrees, found {len(paths)}")
    time.sleep(1.1)  # let the indexes settle (see list_latency.grow_to)
    for path in paths:
        run(["git", "status", "--porcelain"], path, env)
    _, first = timed_run([str(grove), "validate", "--all", "--json"], repo, env, (0, 1))
    validate_ok = json.loads(first.stdout).get("ok")
    python = grove_python(grove)
    slot = repo.parent / f"{repo.name}-wt1"
    if slot.resolve() not in {p.resolve() for p in paths}:
        raise RuntimeError(f"slot 1 is not at {slot}")
    hand = Handoff(grove, repo, slot, env, lambda answer: None)
    probes: list[Probe] = []
    imports: list[dict[str, tuple[bool, float]]] = []
    run(["git", "switch", "-q", "--detach", hand.start], slot, env)
    with resident_server(python, tmp / "resident.sock", repo, env) as client:
        cases = [
            command_case("py", "`python -c pass`", [python, "-c", "pass"], repo, env),
            command_case("help", "`grove --help`", [str(grove), "--help"], repo, env),
            command_case(
                "env",
                "`grove env 1 --format json`",
                [str(grove), "env", "1", "--format", "json"],
                repo,
                env,
            ),
            command_case(
                "env-computed",
                "`grove env 1 --format json`, computed (`GROVE_NO_CACHE=1`)",
                [str(grove), "env", "1", "--format", "json"],
                repo,
                {**env, "GROVE_NO_CACHE": "1"},
            ),
            sequence_case(
                "status",
                f"`git status` once per worktree, sequential ({len(paths)} runs)",
                [(["git", "status"], p) for p in paths],
                env,
            ),
            command_case("list", "`grove list --json`", [str(grove), "list", "--json"], repo, env),
            command_case(
                "take-imports",
                "the modules a take loads, imported, nothing run (`python -c 'import ...'`)",
                [python, "-c", TAKE_IMPORTS],
                repo,
                env,
            ),
            Case(
                "validate",
                "`grove validate --all --json`",
                lambda: timed_run([str(grove), "validate", "--all", "--json"], repo, env, (0, 1))[
                    0
                ],
            ),
            *hand.cases(),
            hand.resident_case(client),
            probe_case(hand, tmp / "probe", probes),
            importtime_case(hand, imports),
        ]
        rounds(cases, args.repeat, args.warmup, "synthetic")
    return {
        "probes": probes[-args.repeat :],
        "imports": imports[-args.repeat :],
        "bare": bare_imports(python, env, repo),
        "cases": {c.key: c for c in cases},
        "size": size,
        "validate_ok": validate_ok,
        "env": env,
        "port_base": base,
    }


@contextlib.contextmanager
def resident_server(
    python: str, sock: Path, cwd: Path, env: Mapping[str, str]
) -> Iterator[list[str]]:
    """bench/resident.py serving takes on sock, for as long as the block runs; yields the
    client's command line."""
    script = str(Path(__file__).resolve().parent / "resident.py")
    server = subprocess.Popen(
        [python, script, "serve", str(sock)],
        cwd=cwd,
        env=dict(env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 30
        while not sock.exists():
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"resident server did not start: {server.communicate()[1]}")
            time.sleep(0.05)
        yield [python, script, str(sock)]
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, 15)
        server.wait()


# ---------------------------------------------------------------- real-app fixture


def http_ok(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as response:
            return response.status == 200
    except OSError:
        return False


@contextlib.contextmanager
def real_app_fixture(args: argparse.Namespace, grove: Path, tmp: Path) -> Iterator[handoff.Fixture]:
    pg_bin = handoff.find_pg_bin(args.pg_bin)
    ns = argparse.Namespace(rows=args.rows)
    fixture = handoff.new_fixture(ns, tmp, grove, pg_bin)
    try:
        toml = fixture.repo / "grove.toml"
        toml.write_text(
            toml.read_text(encoding="utf-8")
            + '\n[services]\nweb = { run = "node bench-server.js", port = "PORT" }\n',
            encoding="utf-8",
        )
        (fixture.repo / "bench-server.js").write_text(SERVER_JS, encoding="utf-8")
        write_tree(fixture.repo, args.files)
        handoff.build_fixture(fixture)  # commits all of the above; npm, template, slot 1
        log("grove up 1 (the web service)")
        handoff.run([str(grove), "up", "1", "--json"], fixture.repo, fixture.env)
        yield fixture
    finally:
        if fixture.slot_path.is_dir():
            proc = handoff.run(
                [str(grove), "down", "1", "--json"], fixture.repo, fixture.env, check=False
            )
            if proc.returncode != 0:
                log(f"grove down 1 exited {proc.returncode}: {proc.stderr.strip()}")
        handoff.stop_everything(fixture)


def real_app(args: argparse.Namespace, grove: Path, tmp: Path) -> dict[str, Any]:
    with real_app_fixture(args, grove, tmp) as fixture:
        config = tomllib.loads((fixture.repo / "grove.toml").read_text(encoding="utf-8"))
        web_port = int(config["ports"]["PORT"]) + handoff.SLOT
        if not http_ok(web_port):
            raise RuntimeError(f"slot 1's web service does not answer on port {web_port}")

        def check(answer: dict[str, Any]) -> None:
            if not http_ok(web_port):
                raise RuntimeError("slot 1's web service stopped answering after take")
            if fixture.sql("SELECT count(*) FROM orders") != str(fixture.rows):
                raise RuntimeError("slot 1's database lost its rows after take")

        env = fixture.env
        python = grove_python(grove)
        # The slot starts detached at main's HEAD, as release --reset leaves it.
        hand = Handoff(grove, fixture.repo, fixture.slot_path, env, check)
        run(["git", "switch", "-q", "--detach", hand.start], fixture.slot_path, env)
        probes: list[Probe] = []
        imports: list[dict[str, tuple[bool, float]]] = []
        cases = [
            command_case("py", "`python -c pass`", [python, "-c", "pass"], fixture.repo, env),
            *hand.cases(),
            probe_case(hand, tmp / "probe", probes),
            importtime_case(hand, imports),
        ]
        rounds(cases, args.repeat, args.warmup, "real app")
        bare = bare_imports(python, env, fixture.repo)
        sizes = dict(fixture.sizes)
        return {
            "cases": {c.key: c for c in cases},
            "probes": probes[-args.repeat :],
            "imports": imports[-args.repeat :],
            "bare": bare,
            "sizes": sizes,
            "pg": handoff.version([str(fixture.pg_bin / "postgres"), "--version"], env),
            "node": handoff.version(["node", "--version"], env),
        }


# ---------------------------------------------------------------- report


@dataclass
class Row:
    key: str  # the summary table's first cell
    what: str
    measured: str
    baseline: str
    ratio: float | None
    target: str
    met: bool
    short: str = ""  # the summary table's result, before the ratio


def rows_for(syn: dict[str, Any] | None, real: dict[str, Any] | None) -> list[Row]:
    rows: list[Row] = []
    if syn is not None:
        c = syn["cases"]
        ms = {k: v.median() * 1000 for k, v in c.items()}
        ratio = ms["list"] / ms["status"]
        rows.append(
            Row(
                "`grove list --json`, 10 slots, vs `git status` per worktree",
                "`grove list --json`, 10 slots",
                f"{ms['list']:.1f} ms",
                f"`git status` x10, sequential: {ms['status']:.1f} ms",
                ratio,
                f"at most {TARGET_LIST}x",
                ratio <= TARGET_LIST,
                f"{ms['list']:.0f} ms vs {ms['status']:.0f} ms",
            )
        )
        for key, label in (("env", "`grove env 1 --format json`"), ("help", "`grove --help`")):
            ratio = ms[key] / ms["py"]
            rows.append(
                Row(
                    f"{label} vs `python -c pass`",
                    label,
                    f"{ms[key]:.1f} ms",
                    f"`python -c pass`: {ms['py']:.1f} ms",
                    ratio,
                    f"at most {TARGET_STARTUP}x",
                    ratio <= TARGET_STARTUP,
                    f"{ms[key]:.0f} ms vs {ms['py']:.0f} ms",
                )
            )
        rows.append(take_row("synthetic", c))
        seconds = c["validate"].median()
        rows.append(
            Row(
                "`grove validate --all --json`, 10 slots (speed target)",
                "`grove validate --all --json`, 10 slots",
                f"{seconds * 1000:.1f} ms",
                "(absolute)",
                None,
                f"at most {TARGET_VALIDATE_S} s",
                seconds <= TARGET_VALIDATE_S,
            )
        )
    if real is not None:
        rows.append(take_row("real app", real["cases"]))
    return rows


# What a take imports (stdlib through grove's own modules) before it does anything: the
# floor under any per-call take, for the note below the take breakdown.
TAKE_IMPORTS = (
    "import argparse, json, grove.cli, grove.arguments, grove.slots, "
    "grove.lifecycle.headstart, grove.commands.take, grove.lifecycle.take"
)


def imports_floor(c: Mapping[str, Case]) -> str:
    imports, py = c["take-imports"].median() * 1000, c["py"].median() * 1000
    return fill(
        f"The floor under a take started per call: importing the modules it loads, and "
        f"running nothing, takes {imports:.1f} ms, {imports - py:.1f} ms over `python -c "
        f"pass` ({py:.1f} ms), that is {(imports - py) / py:.2f}x `python -c pass` of the "
        f"{TARGET_TAKE}x the target allows for everything a take adds to `git switch -c`."
    )


def resident_note(c: Mapping[str, Case]) -> str:
    take, switch, py = (c[k].median() * 1000 for k in ("take-resident", "switch", "py"))
    return fill(
        f"A resident process would not meet it either. Served by `bench/resident.py` (an "
        f"experiment, not a grove feature: a server that keeps a take's modules loaded and "
        f"forks a child per take; the per-call client passes it its folder, arguments, "
        f"environment and standard streams), the same take took {take:.1f} ms: "
        f"{take - switch:.1f} ms over `git switch -c`, {(take - switch) / py:.2f}x `python "
        f"-c pass`. The client is itself a Python start, and the take's own work after the "
        f"imports (its git processes, locks, lease and record writes, links) is more than "
        f"the rest of the budget."
    )


def take_row(fixture: str, c: Mapping[str, Case]) -> Row:
    take, switch, py = (c[k].median() * 1000 for k in ("take", "switch", "py"))
    ratio = (take - switch) / py
    return Row(
        f"`grove take` of a warm slot, {fixture} fixture: added to `git switch -c`, "
        "in `python -c pass`",
        f"`grove take --branch B --json`, warm slot, {fixture} fixture",
        f"{take:.1f} ms; minus `git switch -c` ({switch:.1f} ms) = {take - switch:.1f} ms",
        f"`python -c pass`: {py:.1f} ms",
        ratio,
        f"(take - switch) at most {TARGET_TAKE}x `python -c pass`",
        ratio <= TARGET_TAKE,
        f"take {take:.0f} ms - switch {switch:.0f} ms = {take - switch:.0f} ms over "
        f"`python -c pass` {py:.0f} ms",
    )


def verdict(row: Row) -> str:
    return "met" if row.met else "**NOT met**"


def targets_table(rows: Sequence[Row]) -> str:
    lines = [
        "| target | measured (median) | baseline (median, same run) | ratio | target | result |",
        "|---|---:|---:|---:|---|---|",
    ]
    for row in rows:
        ratio = "-" if row.ratio is None else f"{row.ratio:.2f}"
        lines.append(
            f"| {row.what} | {row.measured} | {row.baseline} | {ratio} | {row.target} "
            f"| {verdict(row)} |"
        )
    return "\n".join(lines)


def samples_table(groups: Sequence[tuple[str, Mapping[str, Case]]]) -> str:
    lines = [
        "| fixture | command | median ms | p90 ms | min ms | max ms |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for name, cases in groups:
        for case in cases.values():
            if case.key in ("probed", "imports"):
                continue
            s = [x * 1000 for x in case.samples]
            lines.append(
                f"| {name} | {case.label} | {statistics.median(s):.1f} | {p90(s):.1f} "
                f"| {min(s):.1f} | {max(s):.1f} |"
            )
    return "\n".join(lines)


def machine_lines(grove: Path, env: Mapping[str, str], load: str, real: dict | None) -> list[str]:
    cpus, model = cpu_description()
    python = handoff.version(
        [grove_python(grove), "-c", "import sys; print(sys.version.split()[0])"], env
    )
    lines = [
        f"- grove: {handoff.grove_revision(env)}",
        f"- CPUs (nproc): {cpus}" + (f" ({model})" if model else ""),
        f"- OS: {platform.system()} {platform.release()} ({platform.machine()})",
        f"- Python (grove's interpreter): {python}",
        f"- git: {handoff.version(['git', '--version'], env).removeprefix('git version ')}",
    ]
    if real is not None:
        lines.append(f"- PostgreSQL: {real['pg']}; Node: {real['node']}")
    lines.append(
        f"- Load average (1 min) when the run started: {load}; when it ended: {handoff.load_now()}"
    )
    return lines


def reproduce_command(args: argparse.Namespace) -> str:
    defaults = {"skip_real_app": False, "repeat": DEFAULT_REPEAT, "warmup": DEFAULT_WARMUP}
    defaults |= {"files": DEFAULT_FILES, "rows": handoff.DEFAULT_ROWS}
    return command_line(REPRODUCE, args, defaults)


def fill(text: str) -> str:
    return textwrap.fill(text, width=88, break_on_hyphens=False, break_long_words=False)


def section(
    args: argparse.Namespace,
    syn: dict[str, Any],
    real: dict[str, Any] | None,
    machine: list[str],
) -> str:
    today = dt.date.today().isoformat()
    intro = (
        "Issue 16's targets, each a ratio against a baseline timed in the same run, so a busy "
        "machine moves both alike: medians of interleaved rounds (the order of the cases "
        "reverses every other round), every command a subprocess, wall clock, after "
        f"{args.warmup} warm-up round(s); {args.repeat} timed rounds. Python's bytecode cache "
        "is on (written to the fixture during the warm-up), as for an installed grove. "
        "`python -c pass` runs grove's own interpreter."
    )
    synthetic_text = (
        f"Synthetic fixture: a fresh repository of {args.files:,} tracked files "
        f"({syn['size'] / 1e6:.1f} MB), a `.env` in main, `[grove] slots = 10`, one `[ports]` "
        f"variable on a free high range ({syn['port_base']}+), 9 slots made with `grove "
        "create` (10 worktrees with main), hermetic git config and home, every index "
        "refreshed by one `git status` before timing. `grove validate --all --json` "
        f"answered `ok: {str(syn['validate_ok']).lower()}` before timing. `grove env` "
        "answers from its cache (an answer kept with the stats of every file it was "
        "computed from) once the warm-up has kept one; the same call computed afresh "
        "(`GROVE_NO_CACHE=1`) is timed too, for comparison."
    )
    take_text = (
        "Take: slot 1 starts detached at main's HEAD. The baseline is `git switch -c B2 "
        "<main's HEAD>` run in slot 1 (then, untimed, `git switch --detach` back and the "
        "branch deleted); the measurement is `grove take --branch B --label bench --json` "
        "from main (then, untimed: the answer checked to be slot 1 with nothing synced, "
        "`grove release 1 --label bench --json`, detach, branch deleted). The ratio is "
        "(take - switch) / `python -c pass`, from the medians."
    )
    parts = [
        SECTION,
        "",
        fill(intro),
        "",
        fill(synthetic_text),
        "",
        fill(take_text),
        "",
    ]
    if real is not None:
        sizes = real["sizes"]
        parts += [
            fill(
                "Real-app fixture: bench/handoff.py's Next.js-like repository (pinned npm "
                f"dependencies, `node_modules` {sizes.get('node_modules', '?')}, a seeded "
                f"database of {args.rows:,} orders in a cluster-mode `[database]`, `[setup] "
                'copy = ["node_modules"]` and `run = ["npm ci ..."]`, `[reset] disposable`), '
                f"plus {args.files:,} tracked source files and `[services] web = {{ run = "
                '"node bench-server.js", port = "PORT" }`, a tiny HTTP server that `grove '
                "up 1` starts before timing. After every take the web service must still "
                "answer and the database hold its rows (untimed)."
            ),
            "",
        ]
    else:
        parts += ["The real-app part was skipped (`--skip-real-app`).", ""]
    rows = rows_for(syn, real)
    parts += [targets_table(rows), ""]
    groups_data = [("synthetic", syn)] + ([("real app", real)] if real is not None else [])
    groups = [(name, data["cases"]) for name, data in groups_data]
    parts += ["All timed commands:", "", samples_table(groups), ""]
    parts += [
        fill(
            "Where the rest of the time of a take goes: the same take through "
            "bench/handoff.py's instrumented launcher (grove's `main()` with timers "
            "around its steps, each inclusive of the steps under it and of the first "
            "import of any module it uses) and a recorder of every subprocess grove starts "
            "(time from start until reaped), once per round on each fixture; rows under "
            "0.5 ms are left out. The imports are those of one more plain take per round, "
            "run as `python -X importtime <grove> take ...`, less what a bare `python -c "
            "pass` imports."
        ),
        "",
    ]
    for name, data in groups_data:
        py = data["cases"]["py"].median()
        parts += [breakdown(name, data["probes"], data["imports"], data["bare"], py), ""]
    parts += [imports_floor(syn["cases"]), "", resident_note(syn["cases"]), ""]
    parts += [
        f"Measured {today} on:",
        "",
        *machine,
        "",
        "Reproduce (from the repository root; the real-app part needs PostgreSQL and npm, "
        "and runs as a user PostgreSQL agrees to run as, i.e. not root; it downloads the "
        "npm packages once):",
        "",
        "```sh",
        reproduce_command(args),
        "```",
        "",
        this_run(),
        "",
    ]
    return "\n".join(parts)


def this_run() -> str:
    """How this run was started: its arguments, its user and the grove it ran."""
    argv = shlex.join(["python", "bench/speed.py", *sys.argv[1:]])
    extra = ""
    if os.environ.get("PYTHONPATH"):
        extra = f" with PYTHONPATH={os.environ['PYTHONPATH']}"
    return fill(f"This run: `{argv}` as user {getpass.getuser()}{extra}.")


def summary_rows(rows: Sequence[Row]) -> list[str]:
    out = []
    for row in rows:
        if row.ratio is None:
            result = f"{row.measured}, {verdict(row)}"
        else:
            result = f"{row.ratio:.2f}x ({row.short or row.measured}), {verdict(row)}"
        command = SUMMARY_COMMAND + (" (not as root)" if "real app" in row.key else "")
        out.append(f"| {row.key} | {result} | {row.target} | {command} |")
    return out


def update_summary(doc: str, rows: Sequence[Row]) -> str:
    """The summary table at the top with one row per target of this script: rows it wrote
    before are replaced in place (by their first cell), new ones appended to the table;
    rows this run did not measure are left as they are."""
    lines = doc.splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith("| what |")), None)
    if start is None:
        return doc
    end = start
    while end + 1 < len(lines) and lines[end + 1].startswith("|"):
        end += 1
    new = dict(zip((r.key for r in rows), summary_rows(rows), strict=True))
    for i in range(start + 2, end + 1):
        key = lines[i].split(" | ")[0].removeprefix("| ")
        if key in new:
            lines[i] = new.pop(key)
    lines[end + 1 : end + 1] = list(new.values())
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- main


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--repeat", type=int, default=DEFAULT_REPEAT, help="timed rounds")
    parser.add_argument("--warmup", type=int, default=DEFAULT_WARMUP, help="untimed rounds")
    parser.add_argument("--files", type=int, default=DEFAULT_FILES, help="tracked files")
    parser.add_argument(
        "--rows", type=int, default=handoff.DEFAULT_ROWS, help="orders the real app's seed loads"
    )
    parser.add_argument("--grove", help="grove executable (default: the one in this venv)")
    parser.add_argument("--pg-bin", help="PostgreSQL's bin folder (default: found like grove)")
    parser.add_argument("--skip-real-app", action="store_true", help="only the synthetic fixture")
    parser.add_argument("--write", action="store_true", help=f"update {DOC.name}")
    parser.add_argument("--keep", action="store_true", help="keep the fixtures")
    args = parser.parse_args(argv)
    if args.repeat < 1 or args.warmup < 0 or args.files < 1 or args.rows < 2000:
        parser.error("--repeat, --files must be >= 1, --warmup >= 0, --rows >= 2000")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if not args.skip_real_app and hasattr(os, "geteuid") and os.geteuid() == 0:
        sys.exit("PostgreSQL refuses to run as root: run as an ordinary user, or --skip-real-app")
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)  # an installed grove has its .pyc files
    grove = find_grove(args.grove)
    load = handoff.load_now()
    tmp = Path(tempfile.mkdtemp(prefix="grove-bench-speed-")).resolve()
    try:
        with handoff.terminate_cleanly():
            syn_tmp = tmp / "synthetic"
            syn_tmp.mkdir()
            syn = synthetic(args, grove, syn_tmp)
            real = None
            if not args.skip_real_app:
                real_tmp = tmp / "real"
                real_tmp.mkdir()
                real = real_app(args, grove, real_tmp)
            text = section(args, syn, real, machine_lines(grove, syn["env"], load, real))
            print(text)
            if args.write:
                write_section(SECTION, text)
                DOC.write_text(
                    update_summary(DOC.read_text(encoding="utf-8"), rows_for(syn, real)),
                    encoding="utf-8",
                )
                log(f"updated {DOC.relative_to(ROOT)}")
            for row in rows_for(syn, real):
                log(
                    f"{row.what}: {row.ratio if row.ratio is not None else row.measured} "
                    f"({row.target}): {'met' if row.met else 'NOT met'}"
                )
        return 0
    finally:
        if args.keep:
            log(f"fixtures kept in {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
