"""Several agents run `grove create` at the same moment: each gets its own slot."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from conftest import git, write_config


def test_eight_creates_at_once_get_slots_one_to_eight(repo: Path) -> None:
    write_config(repo, "[grove]\nslots = 9\n")
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "grove", "create", "--json"],
            cwd=repo,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=dict(os.environ),
        )
        for _ in range(8)
    ]
    results = [p.communicate(timeout=180) for p in procs]
    codes = [p.returncode for p in procs]
    assert codes == [0] * 8, [err for _, err in results]
    import json

    slots = sorted(json.loads(out)["slot"] for out, _ in results)
    assert slots == list(range(1, 9))
    listing = git(repo, "worktree", "list", "--porcelain")
    assert listing.count("worktree ") == 9
    assert "prunable" not in listing
    assert git(repo, "branch", "--format=%(refname:short)").split() == ["main"]
    for n in range(1, 9):
        assert (repo.parent / f"myproject-wt{n}" / ".env").is_symlink()
    assert not list((repo / ".git" / "grove").glob("*.owner"))


def test_a_held_lock_times_out_naming_the_holder(repo: Path, grove, monkeypatch) -> None:
    from grove import fsio
    from grove.lifecycle import locks

    monkeypatch.setattr(locks, "GROVE_LOCK_TIMEOUT", 0.2)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from pathlib import Path; from grove import fsio\n"
            "with fsio.exclusive_lock(Path(sys.argv[1]), 5, 'test holder'):\n"
            "    print('held', flush=True); time.sleep(30)",
            str(repo / ".git" / "grove" / "lock"),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "held"
        result = grove("create", "--json")
        assert result.code == 1
        error = result.json["error"]
        assert error["code"] == "lock-timeout"
        assert f"pid {holder.pid} (test holder)" in error["message"]
        assert not (repo.parent / "myproject-wt1").exists()
    finally:
        holder.kill()
        holder.wait()
    assert fsio is not None
