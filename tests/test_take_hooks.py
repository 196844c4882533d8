"""Leases and Claude Code's worktree hooks: a new task gets a warm slot; giving it back keeps it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from conftest import git, write_config


def hook(event: str, payload: dict, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "grove", "agents", "hook", event],
        input=json.dumps(payload),
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
    )


def test_worktree_create_hook_with_the_documented_payload(repo: Path, grove, tmp_path) -> None:
    grove("create")  # a warm free slot exists
    payload = {
        "session_id": "abc123",
        "transcript_path": str(tmp_path / "t.jsonl"),
        "cwd": str(repo),
        "hook_event_name": "WorktreeCreate",
        "worktree_name": "feat-auth",
        "source_ref": "main",
        "base_path": str(repo / ".claude" / "worktrees"),
    }
    result = hook("worktree-create", payload, tmp_path)  # run from elsewhere: cwd comes from JSON
    assert result.returncode == 0, result.stderr
    path = Path(result.stdout.strip().splitlines()[-1])
    assert path.is_absolute()
    assert path == (repo.parent / "myproject-wt1").resolve()
    assert git(path, "branch", "--show-current").strip() == "feat-auth"
    lease = grove("list", "--json").json["slots"][1]["lease"]
    assert (lease["label"], lease["session"], lease["pid"]) == ("claude: feat-auth", "abc123", None)


def test_worktree_create_hook_with_the_name_variant_creates_a_slot(repo: Path, grove) -> None:
    payload = {
        "session_id": "s",
        "cwd": str(repo),
        "hook_event_name": "WorktreeCreate",
        "name": "fix/login bug",
    }
    first = hook("worktree-create", payload, repo)
    assert first.returncode == 0, first.stderr
    slot = Path(first.stdout.strip().splitlines()[-1])
    assert slot.name == "myproject-wt1"
    assert git(slot, "branch", "--show-current").strip() == "fix/login-bug"
    assert (slot / ".env").is_symlink()
    second = hook("worktree-create", {**payload, "name": "other"}, repo)
    assert Path(second.stdout.strip().splitlines()[-1]).name == "myproject-wt2"
    full = hook("worktree-create", {**payload, "name": "third"}, repo)
    assert full.returncode == 1
    assert "no free slot" in full.stderr


def test_worktree_remove_hook_releases_without_deleting(repo: Path, grove) -> None:
    payload = {"cwd": str(repo), "hook_event_name": "WorktreeCreate", "name": "t1"}
    slot = Path(hook("worktree-create", payload, repo).stdout.strip().splitlines()[-1])
    removed = hook(
        "worktree-remove",
        {"cwd": str(repo), "hook_event_name": "WorktreeRemove", "worktree_path": str(slot)},
        repo,
    )
    assert removed.returncode == 0, removed.stderr
    assert slot.is_dir()
    assert grove("list", "--json").json["slots"][1]["held"] is False


def test_bad_hook_input_fails_so_claude_aborts(repo: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "grove", "agents", "hook", "worktree-create"],
        input="not json",
        cwd=repo,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert "hook input is not JSON" in result.stderr


def test_take_skips_held_and_dirty_slots_and_release_frees(repo: Path, grove) -> None:
    write_config(repo, "[grove]\nslots = 4\n")
    for _ in range(3):
        grove("create")
    first = grove("take", "--branch", "t1", "--label", "agent a", "--json").json
    assert (first["slot"], first["created"], first["branch"]) == (1, False, "t1")
    (repo.parent / "myproject-wt2" / "scratch.txt").write_text("someone's work")
    second = grove("take", "--label", "agent b", "--json").json
    assert second["slot"] == 3  # 1 is held, 2 has uncommitted work
    assert second["branch"] is None
    assert grove("take", "--json").json["error"]["code"] == "no-free-slot"
    released = grove("release", "1", "--label", "agent a", "--json")
    assert released.json["released"][0]["label"] == "agent a"
    assert grove("take", "--json").json["slot"] == 1
    text = grove("list").out
    assert "agent b (no pid" in text


def test_a_lease_whose_pid_is_gone_is_stale(repo: Path, grove) -> None:
    grove("create")
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    pid = int(dead.stdout)
    grove("take", "--pid", str(pid), "--label", "gone")
    found = grove("validate", "--json").json["findings"]
    assert [(f["slot"], f["check"]) for f in found] == [(1, "git.stale-lease")]
    assert grove("release", "1", "--stale", "--json").json["released"][0]["pid"] == pid
    grove("take", "--pid", str(os.getpid()), "--label", "alive")
    refused = grove("release", "1", "--stale", "--json")
    assert refused.code == 1
    assert "not stale" in refused.json["error"]["message"]


def test_eight_takes_at_once_with_four_free_slots_give_four_distinct(repo: Path, grove) -> None:
    write_config(repo, "[grove]\nslots = 5\n")
    for _ in range(4):
        grove("create")
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "grove", "take", "--label", f"agent {i}", "--json"],
            cwd=repo,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(8)
    ]
    outcomes = [(p.wait(timeout=180), json.loads(p.communicate()[0])) for p in procs]
    slots = sorted(out["slot"] for code, out in outcomes if code == 0)
    assert slots == [1, 2, 3, 4]
    refusals = [out["error"] for code, out in outcomes if code != 0]
    assert len(refusals) == 4
    assert {(r["code"], r["message"].startswith("no free slot")) for r in refusals} == {
        ("no-free-slot", True)
    }
    assert git(repo, "worktree", "list", "--porcelain").count("worktree ") == 5


def test_worktree_create_hook_answers_while_stdin_stays_open(repo: Path) -> None:
    """Some Claude Code builds keep the hook's stdin open: the hook must answer after one
    JSON object, not wait for end of input."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "grove", "agents", "hook", "worktree-create"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=repo,
        text=True,
    )
    assert proc.stdin is not None
    payload = {"cwd": str(repo), "hook_event_name": "WorktreeCreate", "worktree_name": "open"}
    # Sent in two writes, the object split in its middle; stdin is never closed.
    text = json.dumps(payload)
    proc.stdin.write(text[:20])
    proc.stdin.flush()
    proc.stdin.write(text[20:] + "\n")
    proc.stdin.flush()
    try:
        proc.wait(timeout=60)  # would time out if the hook waited for end of input
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, proc.stderr.read() if proc.stderr else ""
    assert proc.stdout is not None
    path = Path(proc.stdout.read().strip().splitlines()[-1])
    assert path == repo.parent / "myproject-wt1"
    assert git(path, "branch", "--show-current").strip() == "open"
    proc.stdin.close()
