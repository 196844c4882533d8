"""list and peek show what each slot is doing and never touch a slot's index."""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

from conftest import commit_all, git, write_config
from pgutil import free_port_base


def _stale_index(slot: Path) -> tuple[int, int]:
    """Make the index stat-dirty: plain `git status` would rewrite it; we must not."""
    readme = slot / "README.md"
    later = time.time() + 5
    os.utime(readme, (later, later))
    index = Path(git(slot, "rev-parse", "--git-path", "index").strip())
    index = index if index.is_absolute() else slot / index
    st = index.stat()
    return st.st_mtime_ns, st.st_ino


def test_list_and_peek_never_rewrite_a_slots_index(repo: Path, grove) -> None:
    grove("create")
    slot = repo.parent / "myproject-wt1"
    before = _stale_index(slot)
    assert grove("list", "--json").code == 0
    assert grove("peek", "1", "--json").code == 0
    index = Path(git(slot, "rev-parse", "--git-path", "index").strip())
    index = index if index.is_absolute() else slot / index
    assert (index.stat().st_mtime_ns, index.stat().st_ino) == before
    # the control: plain git status does rewrite it, so the check above can fail
    git(slot, "status", "--porcelain")
    assert (index.stat().st_mtime_ns, index.stat().st_ino) != before


def test_list_shows_branch_dirty_ahead_ports_and_env(repo: Path, grove, tmp_path: Path) -> None:
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", str(remote))
    git(repo, "remote", "add", "origin", str(remote))
    git(repo, "push", "-q", "-u", "origin", "main")
    base = free_port_base(60)
    write_config(repo, f"[ports]\nPORT = {base}\nAPI_PORT = {base + 50}\n")
    git(repo, "push", "-q")
    grove("create", "--branch", "feature")
    slot = repo.parent / "myproject-wt1"
    git(slot, "branch", "-q", "--set-upstream-to", "origin/main")
    (slot / "work.txt").write_text("x")
    commit_all(slot, "ahead by one")
    (slot / "README.md").write_text("edited\n")
    (slot / ".env").unlink()
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", base + 51))
    listener.listen()
    try:
        rows = grove("list", "--json").json["slots"]
    finally:
        listener.close()
    main_row, row = rows
    assert main_row["branch"] == "main"
    assert main_row["dirty"] is False
    assert row["branch"] == "feature"
    assert row["dirty"] is True
    assert row["changes"] == 1
    assert (row["ahead"], row["behind"]) == (1, 0)
    assert row["ports"] == {
        "PORT": {"port": base + 1, "listening": False},
        "API_PORT": {"port": base + 51, "listening": True},
    }
    assert row["env"]["ok"] is False
    assert any(".env is missing" in p for p in row["env"]["problems"])
    assert main_row["env"]["ok"] is True


def test_list_text_is_one_aligned_row_per_slot(repo: Path, grove) -> None:
    grove("create")
    out = grove("list").out.splitlines()
    assert out[0].split() == [
        "slot",
        "branch",
        "state",
        "+/-",
        "ports",
        "env",
        "held",
        "by",
        "path",
    ]
    assert out[1].split()[0] == ">main"
    assert out[2].split()[0] == "wt1"
    assert out[1].index(str(repo)) == out[2].index(str(repo.parent / "myproject-wt1"))


def test_peek_shows_branch_commits_diffstat_untracked(repo: Path, grove) -> None:
    grove("create", "--branch", "agent-task")
    slot = repo.parent / "myproject-wt1"
    (slot / "a.txt").write_text("a\n")
    commit_all(slot, "add a")
    (slot / "README.md").write_text("# demo\nmore\n")
    (slot / "new1.txt").write_text("")
    (slot / "new2.txt").write_text("")
    peek = grove("peek", "1", "--json").json
    assert peek["branch"] == "agent-task"
    assert [c["subject"] for c in peek["commits"]][:2] == ["add a", "grove config"]
    assert "README.md" in peek["diff_stat"]
    assert "1 insertion" in peek["diff_stat"]
    assert peek["untracked"] == 2
    assert peek["modified"] == 1
    text = grove("peek", "1").out
    assert "slot 1: agent-task" in text
    assert "add a" in text


def test_peek_a_missing_slot_is_a_usage_error(repo: Path, grove) -> None:
    result = grove("peek", "2", "--json")
    assert result.code == 2
    assert "slot 2 does not exist" in result.json["error"]["message"]


def test_tables_print_square_brackets_literally(repo: Path, grove) -> None:
    write_config(repo, f"[ports]\nPORT = {free_port_base(3)}\n")
    grove("create")
    (repo.parent / "myproject-wt1" / ".env.local").write_text("MINE=1\n")
    out = grove("validate", "1").out
    assert "env.block-missing" in out
    from grove import output

    assert "[env] protect" in output.table(["a"], [["set [env] protect = true"]])
