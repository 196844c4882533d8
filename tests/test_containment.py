"""Hostile content stays inside its slot (issue 13, first deliverable).

An agent in a slot can turn any folder into a symlink to anywhere. Every path grove
writes, links, copies or deletes in a slot (or in main) is walked one component at a time
without following a link, so a planted link is refused, never followed. Each story here
broke before: grove wrote or deleted outside the repository.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from conftest import commit_all, write_config
from grove import fsio
from grove.errors import UnsafePath


@pytest.fixture
def web_repo(repo: Path) -> Path:
    """A repository with a tracked package folder apps/web, like a monorepo's."""
    (repo / "apps" / "web").mkdir(parents=True)
    (repo / "apps" / "web" / "package.json").write_text("{}\n")
    (repo / ".gitignore").write_text(".env\n.env.local\nnode_modules/\n.grove-out\n")
    commit_all(repo, "apps/web")
    return repo


def plant_link(slot: Path, relative: str, outside: Path) -> None:
    """What a hostile agent does: a folder of the slot becomes a link to somewhere else."""
    target = slot / relative
    if target.is_dir() and not target.is_symlink():
        for child in target.iterdir():
            child.unlink()
        target.rmdir()
    target.parent.mkdir(parents=True, exist_ok=True)
    target.symlink_to(outside, target_is_directory=True)


def test_refresh_never_writes_a_local_file_through_a_linked_folder(
    web_repo: Path, grove, tmp_path: Path
) -> None:
    write_config(web_repo, '[env]\nlocal = [".env.local", "apps/web/.env.local"]\n')
    assert grove("create").code == 0
    slot = web_repo.parent / "myproject-wt1"
    assert (slot / "apps" / "web" / ".env.local").is_file()
    outside = tmp_path / "outside"
    outside.mkdir()
    plant_link(slot, "apps/web", outside)
    result = grove("refresh", "1", "--json")
    assert result.code == 1, result.out
    error = result.json["error"]
    assert error["code"] == "unsafe-path"
    assert error["component"] == "apps/web"
    assert list(outside.iterdir()) == []  # nothing was written outside the repository


def test_a_shared_link_is_never_made_through_a_linked_folder(
    web_repo: Path, grove, tmp_path: Path
) -> None:
    write_config(web_repo, '[env]\nshared = [".env", "apps/web/.env"]\n')
    (web_repo / "apps" / "web" / ".env").write_text("WEB_FLAG=on\n")
    assert grove("create").code == 0
    slot = web_repo.parent / "myproject-wt1"
    assert (slot / "apps" / "web" / ".env").is_symlink()
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / ".env").write_text("MINE=1\n")  # a regular file link_shared would move aside
    plant_link(slot, "apps/web", outside)
    result = grove("refresh", "1", "--json")
    assert result.code == 1, result.out
    assert result.json["error"]["code"] == "unsafe-path"
    assert sorted(p.name for p in outside.iterdir()) == [".env"]
    assert not (outside / ".env").is_symlink()
    assert (outside / ".env").read_text() == "MINE=1\n"


def test_a_setup_copy_never_lands_outside_the_slot(web_repo: Path, grove, tmp_path: Path) -> None:
    (web_repo / "apps" / "web" / "node_modules" / "pkg").mkdir(parents=True)
    (web_repo / "apps" / "web" / "node_modules" / "pkg" / "index.js").write_text("1;\n")
    write_config(web_repo, '[setup]\ncopy = ["apps/web/node_modules"]\n')
    assert grove("create").code == 0
    slot = web_repo.parent / "myproject-wt1"
    assert (slot / "apps" / "web" / "node_modules" / "pkg" / "index.js").is_file()
    # The slot is made again; this time its apps/web leads outside before the copy runs.
    outside = tmp_path / "outside"
    outside.mkdir()
    fsio.remove_inside(slot, "apps/web/node_modules")
    plant_link(slot, "apps/web", outside)
    (web_repo / ".git" / "grove" / "slots" / "1.json").unlink()  # setup runs again
    result = grove("refresh", "1", "--json")
    assert result.code == 1, result.out
    assert list(outside.iterdir()) == []


def test_a_setup_copy_never_reads_main_through_a_link(
    web_repo: Path, grove, tmp_path: Path
) -> None:
    """main is a worktree agents write in too: its apps/web led to a folder outside."""
    secret_place = tmp_path / "elsewhere"
    (secret_place / "node_modules").mkdir(parents=True)
    (secret_place / "node_modules" / "id_rsa").write_text("not for the slot\n")
    write_config(web_repo, '[setup]\ncopy = ["apps/web/node_modules"]\n')
    plant_link(web_repo, "apps/web", secret_place)
    result = grove("create", "--json")
    assert result.code == 1, result.out
    assert result.json["error"]["code"] == "unsafe-path"
    assert not (web_repo.parent / "myproject-wt1" / "apps" / "web" / "node_modules").exists()


def test_reset_keeps_a_linked_disposable_folder_and_says_so(
    web_repo: Path, grove, tmp_path: Path
) -> None:
    """.grove-out is ignored, so git shows no change when the agent links it elsewhere."""
    write_config(web_repo, '[reset]\ndisposable = [".grove-out/.next", ".grove-out/cache"]\n')
    assert grove("create").code == 0
    slot = web_repo.parent / "myproject-wt1"
    outside = tmp_path / "precious"
    (outside / ".next").mkdir(parents=True)
    (outside / ".next" / "keep.txt").write_text("not grove's")
    plant_link(slot, ".grove-out", outside)
    result = grove("release", "1", "--reset", "--json")
    assert result.code == 0, result.out
    reset = result.json["reset"]
    assert reset["removed"] == []
    assert reset["kept"] == [
        {"path": ".grove-out/.next", "reason": ".grove-out is a link"},
        {"path": ".grove-out/cache", "reason": ".grove-out is a link"},
    ]
    assert (outside / ".next" / "keep.txt").read_text() == "not grove's"
    text = grove("release", "1", "--reset")
    assert "kept .grove-out/.next: .grove-out is a link, not followed" in text.out


def test_the_local_file_is_private_and_a_loose_one_is_tightened(repo: Path, grove) -> None:
    """It carries credentials (a database password, rewritten URLs): 0600, whatever the
    umask, and an existing 0644 one is made 0600 on the next refresh."""
    old = os.umask(0o022)
    try:
        assert grove("create").code == 0
        local = repo.parent / "myproject-wt1" / ".env.local"
        assert stat.S_IMODE(local.stat().st_mode) == 0o600
        local.chmod(0o644)
        result = grove("refresh", "1", "--json")
        assert result.code == 0, result.out
        assert stat.S_IMODE(local.stat().st_mode) == 0o600
        assert "restricted" in result.out
    finally:
        os.umask(old)


# fsio on its own: each writer with a link planted at each place on the way.


@pytest.fixture
def tree(tmp_path: Path) -> tuple[Path, Path]:
    root = tmp_path / "slot"
    (root / "a" / "b").mkdir(parents=True)
    outside = tmp_path / "outside"
    (outside / "b").mkdir(parents=True)
    (outside / "b" / "file").write_text("outside\n")
    return root, outside


@pytest.mark.parametrize("linked", ["a", "a/b"])
def test_no_writer_follows_a_link_on_the_way(tree: tuple[Path, Path], linked: str) -> None:
    root, outside = tree
    victim = outside if linked == "a" else outside / "b"
    target = root / linked
    target.rmdir() if linked == "a/b" else __import__("shutil").rmtree(target)
    target.symlink_to(victim if linked == "a/b" else outside)
    before = sorted(str(p.relative_to(outside)) for p in outside.rglob("*"))
    clean = root.parent / "clean"
    (clean / "a" / "b").mkdir(parents=True)
    (clean / "a" / "b" / "file").write_text("clean\n")
    for action in (
        lambda: fsio.write_inside(root, "a/b/file", "x", 0o600),
        lambda: fsio.write_inside(root, "a/b/new/file", "x", 0o600, make_parents=True),
        lambda: fsio.link_inside(root, "a/b/file", "/etc/passwd"),
        lambda: fsio.remove_inside(root, "a/b/file"),
        lambda: fsio.move_aside_inside(root, "a/b/file"),
        lambda: fsio.read_inside(root, "a/b/file"),
        lambda: fsio.copy_into(clean, "a/b/file", root),
        lambda: fsio.copy_into(root, "a/b/file", root.parent / "copy"),
    ):
        with pytest.raises(UnsafePath):
            action()
    assert sorted(str(p.relative_to(outside)) for p in outside.rglob("*")) == before
    assert (outside / "b" / "file").read_text() == "outside\n"


def test_a_link_at_the_end_is_replaced_or_removed_itself(tree: tuple[Path, Path]) -> None:
    root, outside = tree
    (root / "a" / "b" / "file").symlink_to(outside / "b" / "file")
    with pytest.raises(UnsafePath):
        fsio.write_inside(root, "a/b/file", "x", 0o600)  # never written through
    assert fsio.remove_inside(root, "a/b/file") is True
    assert (outside / "b" / "file").read_text() == "outside\n"
    (root / "a" / "b" / "dir").symlink_to(outside)
    assert fsio.remove_inside(root, "a/b/dir") is True
    assert (outside / "b" / "file").exists()


@pytest.mark.parametrize("relative", ["../x", "/etc/passwd", "a/../../x", ""])
def test_a_path_that_climbs_out_is_refused(tree: tuple[Path, Path], relative: str) -> None:
    root, _ = tree
    with pytest.raises(UnsafePath):
        fsio.write_inside(root, relative, "x", 0o600)


def test_writers_work_on_real_folders(tree: tuple[Path, Path]) -> None:
    root, _ = tree
    fsio.write_inside(root, "a/b/new/deep/file", "hello\n", 0o600, make_parents=True)
    assert (root / "a/b/new/deep/file").read_text() == "hello\n"
    assert stat.S_IMODE((root / "a/b/new/deep/file").stat().st_mode) == 0o600
    assert fsio.read_inside(root, "a/b/new/deep/file") == b"hello\n"
    assert fsio.read_inside(root, "a/b/missing") is None
    assert fsio.read_inside(root, "missing/x") is None
    fsio.link_inside(root, "a/link", "b/new/deep/file")
    assert (root / "a" / "link").read_text() == "hello\n"
    backup = fsio.move_aside_inside(root, "a/b/new/deep/file")
    assert (root / "a/b/new/deep" / backup).read_text() == "hello\n"
    (root.parent / "copy").mkdir()
    assert fsio.copy_into(root, "a/b/new", root.parent / "copy") != "exists"
    assert (root.parent / "copy" / "a/b/new/deep" / backup).read_text() == "hello\n"
    assert fsio.copy_into(root, "a/b/new", root.parent / "copy") == "exists"
    assert fsio.remove_inside(root, "a/b/new") is True
    assert not (root / "a/b/new").exists()
    assert not list(root.rglob("*.grove-tmp"))


def test_agents_install_never_writes_through_a_linked_folder(
    repo: Path, grove, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "settings.json").write_text('{"theirs": true}\n')
    (repo / ".claude").symlink_to(outside)
    result = grove("agents", "install", "--json")
    assert result.code == 1, result.out
    assert result.json["error"]["code"] == "unsafe-path"
    assert sorted(p.name for p in outside.iterdir()) == ["settings.json"]
    assert (outside / "settings.json").read_text() == '{"theirs": true}\n'


def test_chmod_never_follows_a_link(tree: tuple[Path, Path]) -> None:
    root, outside = tree
    (root / "a" / "link").symlink_to(outside / "b" / "file")
    before = (outside / "b" / "file").stat().st_mode
    with pytest.raises(UnsafePath):
        fsio.chmod_inside(root, "a/link", 0o400)
    assert (outside / "b" / "file").stat().st_mode == before
    (root / "a" / "own").write_text("x")
    fsio.chmod_inside(root, "a/own", 0o400)
    assert stat.S_IMODE((root / "a" / "own").stat().st_mode) == 0o400


def test_the_agents_manifest_is_private(repo: Path, grove) -> None:
    """It keeps the earlier text of the files install edits, which may hold values."""
    assert grove("agents", "install", "claude").code == 0
    manifest = repo / ".git" / "grove" / "agents.json"
    assert stat.S_IMODE(manifest.stat().st_mode) == 0o600
