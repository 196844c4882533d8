"""git.locate reads `.git` itself for the common layouts instead of starting git. Whatever
it answers must be what `git rev-parse --show-toplevel --git-common-dir` answers, and for
anything unusual it must step aside (answer None) so that git decides."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from conftest import git, make_repo
from grove import git as grove_git
from grove.errors import NotARepository


def git_answer(cwd: Path) -> tuple[Path, Path] | None:
    result = subprocess.run(
        ["git", "rev-parse", "--path-format=absolute", "--show-toplevel", "--git-common-dir"],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
    )
    lines = result.stdout.splitlines()
    if result.returncode != 0 or len(lines) != 2:
        return None
    return Path(lines[0]).resolve(), Path(lines[1]).resolve()


def on_disk(cwd: Path) -> tuple[Path, Path] | None:
    found = grove_git._locate_on_disk(cwd.resolve())
    return None if found is None else (found.toplevel.resolve(), found.common_dir.resolve())


@pytest.fixture
def layouts(tmp_path: Path) -> dict[str, Path]:
    main = make_repo(tmp_path / "work")
    (main / "src" / "deep").mkdir(parents=True)
    git(main, "worktree", "add", "-q", "--detach", str(tmp_path / "work" / "myproject-wt1"))
    wt = tmp_path / "work" / "myproject-wt1"
    (wt / "sub").mkdir()
    separate = tmp_path / "separate"
    separate.mkdir()
    subprocess.run(
        ["git", "init", "-q", "--separate-git-dir", str(tmp_path / "separate.git"), str(separate)],
        check=True,
    )
    return {
        "main": main,
        "main, a subfolder": main / "src" / "deep",
        "a worktree": wt,
        "a worktree, a subfolder": wt / "sub",
        "a separate git dir": separate,
    }


@pytest.mark.parametrize(
    "where",
    ["main", "main, a subfolder", "a worktree", "a worktree, a subfolder", "a separate git dir"],
)
def test_the_common_layouts_are_read_as_git_reads_them(
    layouts: dict[str, Path], where: str
) -> None:
    answer = on_disk(layouts[where])
    assert answer is not None, "read from disk, without git"
    assert answer == git_answer(layouts[where])


def test_inside_the_git_dir_git_decides(layouts: dict[str, Path]) -> None:
    assert on_disk(layouts["main"] / ".git") is None
    assert on_disk(layouts["main"] / ".git" / "refs") is None


def test_a_bare_repository_or_a_moved_work_tree_is_left_to_git(tmp_path: Path) -> None:
    bare = tmp_path / "bare.git"
    subprocess.run(["git", "init", "-q", "--bare", str(bare)], check=True)
    assert on_disk(bare) is None
    moved = make_repo(tmp_path / "moved")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    git(moved, "config", "core.worktree", str(elsewhere))
    assert on_disk(moved) is None
    with_config = make_repo(tmp_path / "wtconfig")
    git(with_config, "config", "extensions.worktreeConfig", "true")
    assert on_disk(with_config) is None


def test_a_stale_worktree_pointer_is_left_to_git(layouts: dict[str, Path]) -> None:
    wt = layouts["a worktree"]
    (wt / ".git").write_text("gitdir: /nonexistent/worktrees/gone\n")
    assert on_disk(wt) is None
    with pytest.raises(NotARepository):
        grove_git.locate(wt.resolve())


def test_outside_any_repository_is_still_an_error(tmp_path: Path) -> None:
    lonely = tmp_path / "lonely"
    lonely.mkdir()
    assert on_disk(lonely) is None or git_answer(lonely) is not None  # tmp may sit in a repo
    if git_answer(lonely) is None:
        with pytest.raises(NotARepository):
            grove_git.locate(lonely.resolve())
