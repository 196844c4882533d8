"""Evergreen handoff: sync only what changed, .worktreeinclude, release --reset, and never
deleting ignored files grove cannot recreate."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import commit_all, git, slot_ports, write_config

INSTALL = 'echo installed >> "$INSTALL_LOG"'


def _lockfile_repo(repo: Path, grove, tmp_path: Path, monkeypatch) -> Path:
    log = tmp_path / "installs.log"
    monkeypatch.setenv("INSTALL_LOG", str(log))
    (repo / "package-lock.json").write_text('{"lockfileVersion": 3, "v": 1}\n')
    write_config(repo, f"[setup]\nrun = ['{INSTALL}']\n")
    grove("create")
    assert log.read_text().splitlines() == ["installed"]
    return log


def test_an_unchanged_lockfile_spawns_no_install(repo: Path, grove, tmp_path, monkeypatch) -> None:
    log = _lockfile_repo(repo, grove, tmp_path, monkeypatch)
    taken = grove("take", "--branch", "task-1", "--json").json
    assert taken["synced"] == {
        "ran": [],
        "skipped": ["install: lockfiles and [setup] inputs unchanged"],
    }
    grove("release", "1")
    refreshed = grove("refresh", "1", "--json").json
    assert refreshed["ran"] == []
    assert log.read_text().splitlines() == ["installed"]  # nothing else ran the install


def test_a_changed_lockfile_reruns_the_install(repo: Path, grove, tmp_path, monkeypatch) -> None:
    log = _lockfile_repo(repo, grove, tmp_path, monkeypatch)
    git(repo, "switch", "-q", "-c", "bump")
    (repo / "package-lock.json").write_text('{"lockfileVersion": 3, "v": 2}\n')
    commit_all(repo, "bump a dependency")
    git(repo, "switch", "-q", "main")
    taken = grove("take", "--branch", "bump", "--json").json
    assert taken["synced"]["ran"] == [INSTALL]
    assert log.read_text().splitlines() == ["installed", "installed"]
    grove("release", "1")
    switched = grove("switch", "1", "bump-2", "--from", "bump", "--json").json
    assert switched["ran"] == []  # same lockfile as the one just installed
    assert switched["skipped"] == ["install: lockfiles and [setup] inputs unchanged"]


def test_setup_inputs_count_too(repo: Path, grove, tmp_path, monkeypatch) -> None:
    log = tmp_path / "installs.log"
    monkeypatch.setenv("INSTALL_LOG", str(log))
    write_config(repo, f"[setup]\nrun = ['{INSTALL}']\ninputs = ['tools/*.cfg']\n")
    grove("create")
    slot = repo.parent / "myproject-wt1"
    (slot / "tools").mkdir()
    (slot / "tools" / "a.cfg").write_text("x")
    grove("refresh", "1")
    assert log.read_text().splitlines() == ["installed", "installed"]
    grove("refresh", "1")
    assert len(log.read_text().splitlines()) == 2


def test_worktreeinclude_is_the_copy_list_without_setup_copy(repo: Path, grove) -> None:
    (repo / ".gitignore").write_text(".env\n.env.local\nnode_modules/\n.secrets.json\ndist/\n")
    (repo / ".worktreeinclude").write_text("node_modules/\n.secrets.json\n.env.local\n")
    commit_all(repo, "include list")
    (repo / "node_modules" / "pkg").mkdir(parents=True)
    (repo / "node_modules" / "pkg" / "index.js").write_text("1")
    (repo / ".secrets.json").write_text("{}")
    (repo / "dist").mkdir()
    (repo / "dist" / "out.js").write_text("built")
    created = grove("create", "--json").json
    assert sorted(created["setup"]["ran"]) == [".secrets.json", "node_modules"]
    slot = repo.parent / "myproject-wt1"
    assert (slot / "node_modules" / "pkg" / "index.js").read_text() == "1"
    assert not (slot / "dist").exists()
    # grove's own local file is never copied from main: each slot has its own block
    assert f"PORT={slot_ports(repo, 1)['PORT']}" in (slot / ".env.local").read_text()


def test_setup_copy_wins_over_worktreeinclude(repo: Path, grove) -> None:
    (repo / ".worktreeinclude").write_text("node_modules/\n")
    (repo / "node_modules").mkdir()
    write_config(repo, "[setup]\ncopy = []\n")
    assert grove("create", "--json").json["setup"]["ran"] == []


def test_release_reset_returns_a_clean_warm_start(repo: Path, grove) -> None:
    write_config(
        repo, '[setup]\ncopy = ["node_modules"]\n[reset]\ndisposable = [".next", "dist/"]\n'
    )
    (repo / ".gitignore").write_text(".env\n.env.local\nnode_modules/\n.next/\ndist/\n")
    commit_all(repo, "ignores")
    (repo / "node_modules").mkdir()
    (repo / "node_modules" / "dep.js").write_text("warm")
    grove("create")
    grove("take", "--branch", "task", "--label", "agent")
    slot = repo.parent / "myproject-wt1"
    (slot / "work.txt").write_text("w")
    commit_all(slot, "task work")
    (slot / ".next").mkdir()
    (slot / ".next" / "cache").write_text("c")
    (slot / "dist").mkdir()
    result = grove("release", "1", "--reset", "--label", "agent", "--json")
    assert result.code == 0, result.out
    data = result.json
    assert data["released"][0]["label"] == "agent"
    assert sorted(data["reset"]["removed"]) == [".next", "dist"]
    assert git(slot, "rev-parse", "HEAD").strip() == git(repo, "rev-parse", "HEAD").strip()
    assert git(slot, "branch", "--show-current").strip() == ""
    assert (slot / "node_modules" / "dep.js").read_text() == "warm"  # kept warm
    assert git(repo, "log", "-1", "--format=%s", "task").strip() == "task work"  # branch kept
    assert grove("list", "--json").json["slots"][1]["held"] is False


def test_release_reset_refuses_uncommitted_work_unless_forced(repo: Path, grove) -> None:
    grove("create")
    grove("take", "--label", "a")
    slot = repo.parent / "myproject-wt1"
    (slot / "README.md").write_text("edited\n")
    (slot / "notes.txt").write_text("n")
    refused = grove("release", "1", "--reset", "--label", "a", "--json")
    assert refused.code == 1
    assert refused.json["error"]["untracked"] == ["notes.txt"]
    assert (slot / "notes.txt").exists()
    assert grove("list", "--json").json["slots"][1]["held"] is True
    forced = grove("release", "1", "--reset", "--force", "--json").json
    assert sorted(forced["reset"]["discarded"]) == ["README.md", "notes.txt"]
    assert not (slot / "notes.txt").exists()
    assert git(slot, "status", "--porcelain") == ""


def test_remove_refuses_ignored_files_grove_cannot_recreate(repo: Path, grove) -> None:
    (repo / ".gitignore").write_text(".env\n.env.local\n*.local.json\nnode_modules/\ndist/\n")
    commit_all(repo, "ignores")
    write_config(repo, '[setup]\ncopy = ["node_modules"]\n[reset]\ndisposable = ["dist"]\n')
    grove("create")
    slot = repo.parent / "myproject-wt1"
    (slot / "node_modules").mkdir(exist_ok=True)
    (slot / "node_modules" / "dep.js").write_text("d")
    (slot / "dist").mkdir()
    (slot / "dist" / "out.js").write_text("o")
    (slot / "settings.local.json").write_text('{"token": "mine"}')
    refused = grove("remove", "1", "--json")
    assert refused.code == 1
    error = refused.json["error"]
    assert error["ignored_unrecreatable"] == ["settings.local.json"]
    assert "settings.local.json" in error["message"]
    assert slot.exists()
    (slot / "settings.local.json").unlink()
    removed = grove("remove", "1", "--json")
    assert removed.code == 0, removed.out
    assert set(removed.json["deleted_ignored"]) >= {".env.local", "dist/", "node_modules/"}
    assert json.loads(removed.out)["forced"] is False
