"""A seeded, time-bounded storm: agents take, work and release while a careless neighbour
removes, resets, switches, refreshes and creates, all as real processes at once. After it,
the invariants hold: no slot handed to two tasks at once, no task's file lost, ports
distinct, git and grove agree, and nothing crashed."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import textwrap
from pathlib import Path

import psutil

from conftest import git, grove_process, write_config
from grove.database.binaries import find_bin
from pgutil import postgres_under, require_unprivileged, stop_all_clusters

SEED = 1207  # fixed, so a failure replays the same mix of commands
AGENTS = 3
ROUNDS = 5
DEADLINE = 30.0  # seconds each worker may run; the storm stops by itself

WORKER = textwrap.dedent(
    """
    import json, os, random, subprocess, sys, time
    role, seed, repo, rounds, deadline, log = sys.argv[1:7]
    rng = random.Random(int(seed))
    stop_at = time.monotonic() + float(deadline)
    me = os.getpid()

    def grove(*args):
        proc = subprocess.run([sys.executable, "-m", "grove", *args, "--json"], cwd=repo,
                              capture_output=True, text=True)
        try:
            body = json.loads(proc.stdout) if proc.stdout.strip() else {}
        except ValueError:
            body = {"unparsed": proc.stdout[-500:]}
        return proc.returncode, body

    def note(kind, **fields):
        with open(log, "a") as handle:
            handle.write(json.dumps({"role": role, "kind": kind, **fields}) + "\\n")

    def git(path, *args):
        return subprocess.run(["git", "-C", path, *args], capture_output=True, text=True)

    for k in range(int(rounds) if role.startswith("agent") else 10**6):
        if time.monotonic() > stop_at:
            break
        if role.startswith("agent"):
            branch = f"{role}-{k}"
            code, body = grove("take", "--branch", branch, "--label", role, "--pid", str(me))
            note("call", args=["take"], code=code, error=body.get("error", {}).get("code"))
            if code != 0:
                time.sleep(0.2)
                continue
            path, n = body["path"], body["slot"]
            marker = os.path.join(path, f"{role}.work")
            with open(marker, "w") as handle:
                handle.write(f"{role} {k}")
            others = [f for f in os.listdir(path) if f.endswith(".work") and f != f"{role}.work"]
            if others:
                note("violation", what="slot handed to two tasks", slot=n, others=others)
            time.sleep(rng.uniform(0, 0.3))
            if not os.path.exists(marker):
                note("violation", what="a task's file was lost", slot=n)
                continue
            head = git(path, "branch", "--show-current").stdout.strip()
            if head != branch:
                note("violation", what="the slot moved under its task", slot=n, head=head)
            git(path, "add", f"{role}.work")
            git(path, "commit", "-q", "-m", f"{role} work {k}")
            code, body = grove("release", str(n), "--label", role)
            note("call", args=["release"], code=code, error=body.get("error", {}).get("code"))
            if code != 0:
                note("violation", what="the holder could not release", slot=n, body=body)
        else:
            n = str(rng.randrange(1, 4))
            choice = rng.choice([
                ("remove", n), ("release", n, "--reset"), ("switch", n, f"person-{k}"),
                ("refresh", "--all"), ("create",), ("release", "--stale"), ("list",),
                *[tuple(c.replace("N", n).split()) for c in json.loads(os.environ["EXTRA"])],
            ])
            code, body = grove(*choice)
            note("call", args=list(choice), code=code, error=body.get("error", {}).get("code"))
            time.sleep(rng.uniform(0, 0.1))
    """
)


def run_storm(repo: Path, tmp_path: Path, extra: list[str]) -> list[dict[str, object]]:
    """Start the workers, wait for them, check what they saw; returns the final slots."""
    assert grove_process("create", cwd=repo).code == 0
    log = tmp_path / "storm.jsonl"
    rng = random.Random(SEED)
    roles = [f"agent{i}" for i in range(AGENTS)] + ["neighbour"]
    workers = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                WORKER,
                role,
                str(rng.randrange(1 << 30)),
                str(repo),
                str(ROUNDS),
                str(DEADLINE),
                str(log),
            ],
            env={**os.environ, "EXTRA": json.dumps(extra)},
        )
        for role in roles
    ]
    for worker in workers:
        worker.wait(timeout=DEADLINE + 180)
    events = [json.loads(line) for line in log.read_text().splitlines()]
    violations = [e for e in events if e["kind"] == "violation"]
    assert violations == []
    calls = [e for e in events if e["kind"] == "call"]
    assert [c for c in calls if c["code"] not in (0, 1, 2)] == []  # 3 would be a crash
    taken = [c for c in calls if c["args"] == ["take"] and c["code"] == 0]
    assert len(taken) >= AGENTS, "the storm must actually hand out slots"

    # Afterwards, git and grove agree and every slot is whole.
    listed = grove_process("list", "--json", cwd=repo)
    assert listed.code == 0, listed.out + listed.err
    slots: list[dict[str, object]] = listed.json["slots"]
    registered = {
        Path(line.removeprefix("worktree ")).name
        for line in git(repo, "worktree", "list", "--porcelain").splitlines()
        if line.startswith("worktree ")
    }
    assert {Path(str(s["path"])).name for s in slots} == registered
    ports = [port["port"] for s in slots for port in s["ports"].values()]  # type: ignore[attr-defined]
    assert len(ports) == len(set(ports))
    assert all(s["lease"] is None for s in slots), "every agent released what it took"
    leftovers = [
        p.name
        for p in repo.parent.iterdir()
        if p.name.startswith("myproject-wt") and p.name not in registered
    ]
    assert leftovers == []
    assert not list((repo / ".git" / "grove").rglob("*.grove-tmp"))
    return slots


def test_a_storm_of_mixed_commands_keeps_every_invariant(repo: Path, tmp_path: Path) -> None:
    write_config(repo, "[grove]\nslots = 4\n[setup]\nrun = ['true']\n")
    run_storm(repo, tmp_path, [])


def test_a_storm_with_databases_leaves_no_stray_postgres(repo: Path, tmp_path: Path) -> None:
    require_unprivileged()
    bin_dir = find_bin(None, repo)
    write_config(
        repo,
        "[grove]\nslots = 4\n[setup]\nrun = ['true']\n"
        "[database]\nseed = ['psql -q -c \"CREATE TABLE t (id int)\"']\n",
    )
    try:
        slots = run_storm(repo, tmp_path, ["db reset N", "db start N"])
        live = {int(str(s["slot"])) for s in slots}
        pg = repo / ".git" / "grove" / "pg"
        for pid in postgres_under(pg):
            folder = Path(psutil.Process(pid).cwd()).parent.name
            assert folder.startswith("slot-"), f"postgres {pid} serves {folder}"
            assert int(folder.removeprefix("slot-")) in live, f"stray postgres for {folder}"
    finally:
        stop_all_clusters(repo.parent.parent, bin_dir)
