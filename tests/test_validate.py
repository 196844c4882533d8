"""validate: each check fires when it should, stays quiet otherwise, and writes nothing."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from conftest import git, tree_snapshot, write_config
from pgutil import free_port_base


def checks(result_json: dict) -> set[tuple[int | None, str, str]]:
    return {(f["slot"], f["check"], f["level"]) for f in result_json["findings"]}


def test_a_fresh_grove_is_clean(repo: Path, grove) -> None:
    grove("create")
    grove("create")
    result = grove("validate", "--json")
    assert result.code == 0
    assert result.json == {
        "ok": True,
        "slots": [0, 1, 2],
        "errors": 0,
        "warnings": 0,
        "findings": [],
    }
    assert grove("validate").out.startswith("ok: 3 slot(s) checked")


def test_shared_file_missing_copied_drifted_or_pointing_outside(
    repo: Path, grove, tmp_path
) -> None:
    for _ in range(3):
        grove("create")
    one, two, _three = (repo.parent / f"myproject-wt{n}" for n in (1, 2, 3))
    (one / ".env").unlink()
    (two / ".env").unlink()
    shutil.copy(repo / ".env", two / ".env")
    result = grove("validate", "--all", "--json")
    assert result.code == 1
    found = checks(result.json)
    assert (1, "env.shared-missing", "error") in found
    assert (2, "env.shared-not-link", "error") in found
    message = next(f["message"] for f in result.json["findings"] if f["slot"] == 2)
    assert "drifted" not in message
    (two / ".env").write_text("API_KEY=stale\n")
    drifted = grove("validate", "2", "--json").json["findings"]
    assert "drifted from main's copy" in drifted[0]["message"]
    assert drifted[0]["hint"] == "`grove refresh 2` keeps it as a backup and links main's"


def test_link_outside_main(repo: Path, grove, tmp_path: Path) -> None:
    grove("create")
    outside = tmp_path / "elsewhere.env"
    outside.write_text("A=1\n")
    link = repo.parent / "myproject-wt1" / ".env"
    link.unlink()
    link.symlink_to(outside)
    assert (1, "env.shared-outside-main", "error") in checks(grove("validate", "1", "--json").json)


def test_local_file_missing_block_missing_stale_or_broken(repo: Path, grove) -> None:
    grove("create")
    local = repo.parent / "myproject-wt1" / ".env.local"
    local.unlink()
    assert checks(grove("validate", "1", "--json").json) == {(1, "env.local-missing", "error")}
    local.write_text("MINE=1\n")
    assert checks(grove("validate", "1", "--json").json) == {(1, "env.block-missing", "error")}
    local.write_text("# >>> grove (slot 1)\nPORT=3001\n")
    assert checks(grove("validate", "1", "--json").json) == {(1, "env.block-broken", "error")}
    local.unlink()
    grove("refresh", "1")
    write_config(repo, f"[ports]\nPORT = {free_port_base(3)}\n")
    stale = grove("validate", "1", "--json").json["findings"]
    assert [(f["check"], f["level"]) for f in stale] == [("env.block-stale", "error")]
    assert "DB_PORT" in stale[0]["message"]
    assert "PORT" in stale[0]["message"]
    grove("refresh", "--all")
    assert grove("validate", "--all", "--json").json["ok"] is True


def test_main_without_a_shared_file_is_a_warning(repo: Path, grove) -> None:
    grove("create")
    (repo / ".env").unlink()
    deleted = grove("validate", "--json")
    assert (None, "env.changed-since-approval", "error") in checks(deleted.json)
    grove("env", "approve")
    result = grove("validate", "--json")
    assert result.code == 0
    assert checks(result.json) == {(0, "env.shared-missing", "warning")}


def _listen(port: int, cwd: Path) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import socket, sys, time\n"
            "s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
            f"s.bind(('127.0.0.1', {port})); s.listen(); print('up', flush=True); time.sleep(60)",
        ],
        cwd=cwd,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "up"
    return proc


def test_a_slots_port_held_by_another_process_is_named(repo: Path, grove, tmp_path: Path) -> None:
    base = free_port_base(3)
    write_config(repo, f"[ports]\nPORT = {base}\n")
    grove("create")
    stranger = _listen(base + 1, tmp_path)
    try:
        result = grove("validate", "1", "--json")
    finally:
        stranger.kill()
        stranger.wait()
    assert result.code == 1
    finding = result.json["findings"][0]
    assert (finding["slot"], finding["check"]) == (1, "ports.held-by-other")
    assert f"pid {stranger.pid}" in finding["message"]
    assert "python" in finding["message"]


def test_a_slots_own_server_on_its_port_is_fine(repo: Path, grove) -> None:
    base = free_port_base(3)
    write_config(repo, f"[ports]\nPORT = {base}\n")
    grove("create")
    assert grove("take", "--label", "task").code == 0  # held: a free slot's would be leftover
    own = _listen(base + 1, repo.parent / "myproject-wt1")
    try:
        result = grove("validate", "1", "--json")
    finally:
        own.kill()
        own.wait()
    assert result.json["findings"] == []


def test_git_layout_problems(repo: Path, grove, tmp_path: Path) -> None:
    write_config(repo, "[grove]\nslots = 5\n")
    for _ in range(3):
        grove("create")
    squatter = repo.parent / "myproject-wt4"
    squatter.mkdir()
    shutil.rmtree(repo.parent / "myproject-wt2")
    git(repo, "worktree", "lock", str(repo.parent / "myproject-wt3"))
    git(repo, "worktree", "add", "-q", "--detach", str(tmp_path / "scratch"))
    found = checks(grove("validate", "--json").json)
    assert (4, "git.unregistered", "error") in found
    assert (2, "git.prunable", "error") in found
    assert (3, "git.locked", "warning") in found
    assert (None, "git.unparsed-name", "warning") in found
    assert not any(slot == 1 for slot, _, _ in found)


def test_validate_changes_no_file_and_takes_no_git_lock(repo: Path, grove, tmp_path: Path) -> None:
    grove("create")
    grove("create")
    one = repo.parent / "myproject-wt1"
    (one / ".env").unlink()
    (one / ".env").write_text("stale copy\n")
    (repo.parent / "myproject-wt2" / ".env.local").unlink()
    later = time.time() + 5
    for slot in (repo, one):
        os.utime(slot / "README.md", (later, later))  # stat-dirty: a status would rewrite index
    before = tree_snapshot(repo.parent)
    result = grove("validate", "--all", "--json")
    assert result.code == 1
    assert tree_snapshot(repo.parent) == before
