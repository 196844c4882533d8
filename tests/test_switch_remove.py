"""switch moves branches through a slot; remove never loses work without --force."""

from __future__ import annotations

from pathlib import Path

from conftest import commit_all, git, slot_ports, write_config


def test_switch_to_a_new_branch_then_an_existing_one(repo: Path, grove) -> None:
    write_config(repo, '[switch]\nrun = ["echo $PORT > switched.txt"]\n')
    git(repo, "branch", "old-topic")
    grove("create")
    slot = repo.parent / "myproject-wt1"
    result = grove("switch", "1", "task-1", "--json").json
    assert (result["branch"], result["created"], result["previous"]) == ("task-1", True, None)
    assert result["ran"] == ["echo $PORT > switched.txt"]
    assert (slot / "switched.txt").read_text() == f"{slot_ports(repo, 1)['PORT']}\n"
    (slot / "switched.txt").unlink()
    assert git(slot, "branch", "--show-current").strip() == "task-1"
    again = grove("switch", "1", "old-topic", "--json").json
    assert (again["branch"], again["created"], again["previous"]) == ("old-topic", False, "task-1")


def test_switch_refuses_a_dirty_slot(repo: Path, grove) -> None:
    grove("create")
    slot = repo.parent / "myproject-wt1"
    (slot / "README.md").write_text("agent work\n")
    result = grove("switch", "1", "other", "--json")
    assert result.code == 1
    assert result.json["error"]["code"] == "refused"
    assert result.json["error"]["files"] == ["README.md"]
    assert (slot / "README.md").read_text() == "agent work\n"
    assert git(slot, "rev-parse", "--abbrev-ref", "HEAD").strip() == "HEAD"


def test_switch_to_a_branch_checked_out_elsewhere_is_refused(repo: Path, grove) -> None:
    grove("create")
    result = grove("switch", "1", "main", "--json")
    assert result.code == 1
    assert "already checked out in slot 0" in result.json["error"]["message"]


def test_remove_a_clean_slot_reports_ignored_content(repo: Path, grove) -> None:
    write_config(repo, '[setup]\ncopy = ["node_modules"]\n')  # grove can recreate it
    grove("create")
    slot = repo.parent / "myproject-wt1"
    (slot / "node_modules").mkdir()
    (slot / "node_modules" / "x.js").write_text("")
    result = grove("remove", "1", "--json")
    assert result.code == 0, result.out
    assert not slot.exists()
    assert set(result.json["deleted_ignored"]) >= {".env.local", "node_modules/"}
    assert git(repo, "worktree", "list", "--porcelain").count("worktree ") == 1
    assert grove("create", "--json").json["slot"] == 1
    text = grove("remove", "1")
    assert text.code == 0
    # Said once, on stdout, not narrated on stderr as well.
    assert (text.out + text.err).count(".env.local") == 1


def _refusal(grove, slot_dir: Path) -> dict:
    result = grove("remove", "1", "--json")
    assert result.code == 1
    assert slot_dir.exists()
    return result.json["error"]


def test_remove_refuses_modified_staged_untracked_locked_and_orphaned(repo: Path, grove) -> None:
    grove("create")
    slot = repo.parent / "myproject-wt1"

    (slot / "README.md").write_text("changed\n")
    assert "modified or staged" in _refusal(grove, slot)["message"]
    git(slot, "add", "README.md")
    assert "modified or staged" in _refusal(grove, slot)["message"]
    git(slot, "reset", "-q", "--hard")

    (slot / "notes.txt").write_text("agent notes")
    error = _refusal(grove, slot)
    assert "untracked" in error["message"]
    assert error["untracked"] == ["notes.txt"]
    (slot / "notes.txt").unlink()

    git(repo, "worktree", "lock", "--reason", "agent busy", str(slot))
    assert "locked (agent busy)" in _refusal(grove, slot)["message"]
    git(repo, "worktree", "unlock", str(slot))

    (slot / "work.txt").write_text("w")
    commit_all(slot, "detached work")
    error = _refusal(grove, slot)
    assert "on no branch" in error["message"]
    assert len(error["commits_on_no_branch"]) == 1


def test_remove_force_discards_and_says_what(repo: Path, grove) -> None:
    grove("create")
    slot = repo.parent / "myproject-wt1"
    (slot / "notes.txt").write_text("agent notes")
    git(repo, "worktree", "lock", str(slot))
    result = grove("remove", "1", "--force", "--json")
    assert result.code == 0, result.out
    assert not slot.exists()
    assert any("untracked" in r for r in result.json["overridden"])
    assert any("locked" in r for r in result.json["overridden"])


def test_main_cannot_be_removed(repo: Path, grove) -> None:
    result = grove("remove", "0", "--force", "--json")
    assert result.code == 1
    assert repo.exists()


def test_commits_kept_by_a_branch_do_not_block_remove(repo: Path, grove) -> None:
    grove("create", "--branch", "kept")
    slot = repo.parent / "myproject-wt1"
    (slot / "w.txt").write_text("w")
    commit_all(slot, "on a branch")
    assert grove("remove", "1", "--json").code == 0
    assert git(repo, "log", "-1", "--format=%s", "kept").strip() == "on a branch"
