"""Tree copies work with GNU cp, with BSD cp (macOS: no --reflink) and with no cp at all;
a copy that cannot be made is a clear error, never a crash."""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

import pytest

from grove import fsio
from grove.errors import GroveError

REAL_CP = shutil.which("cp")


def make_tree(root: Path) -> Path:
    source = root / "node_modules"
    (source / "pkg" / "bin").mkdir(parents=True)
    (source / "pkg" / "index.js").write_text("module.exports = 1\n")
    tool = source / "pkg" / "bin" / "tool"
    tool.write_text("#!/bin/sh\n")
    tool.chmod(0o755)
    (source / ".bin").mkdir()
    (source / ".bin" / "tool").symlink_to("../pkg/bin/tool")
    return source


def assert_same_tree(source: Path, copy: Path) -> None:
    assert (copy / "pkg" / "index.js").read_text() == "module.exports = 1\n"
    assert stat.S_IMODE((copy / "pkg" / "bin" / "tool").stat().st_mode) == 0o755
    link = copy / ".bin" / "tool"
    assert link.is_symlink()
    assert os.readlink(link) == "../pkg/bin/tool"
    assert not (copy / "pkg" / "index.js").samefile(source / "pkg" / "index.js")


def fake_cp(folder: Path, script: str) -> None:
    folder.mkdir(exist_ok=True)
    cp = folder / "cp"
    cp.write_text(script)
    cp.chmod(0o755)


def test_gnu_cp_copies_with_reflink_auto(tmp_path: Path) -> None:
    source = make_tree(tmp_path)
    assert fsio.copy_tree(source, tmp_path / "slot" / "node_modules") == "cp --reflink=auto"
    assert_same_tree(source, tmp_path / "slot" / "node_modules")


def test_bsd_cp_without_reflink_falls_back(tmp_path: Path, monkeypatch) -> None:
    # BSD cp: an unknown long option is a usage error (exit 64); -c clones on APFS.
    fake_cp(
        tmp_path / "bin",
        "#!/bin/sh\n"
        'for a in "$@"; do case "$a" in --*) echo "cp: illegal option -- -" >&2; exit 64;; esac;'
        " done\n"
        'if [ "$1" = "-c" ]; then shift; fi\n'
        f'exec {REAL_CP} "$@"\n',
    )
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    source = make_tree(tmp_path)
    assert fsio.copy_tree(source, tmp_path / "slot" / "node_modules") == "cp -c"
    assert_same_tree(source, tmp_path / "slot" / "node_modules")


def test_without_any_cp_python_copies(tmp_path: Path, monkeypatch) -> None:
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    source = make_tree(tmp_path)
    assert fsio.copy_tree(source, tmp_path / "slot" / "node_modules") == "copy"
    assert_same_tree(source, tmp_path / "slot" / "node_modules")


def test_a_copy_that_fails_everywhere_is_a_clear_error(tmp_path: Path, monkeypatch) -> None:
    fake_cp(tmp_path / "bin", "#!/bin/sh\necho 'cp: No space left on device' >&2\nexit 1\n")
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    missing = tmp_path / "gone"  # python's copy fails too: there is nothing to copy
    with pytest.raises(GroveError) as caught:
        fsio.copy_tree(missing, tmp_path / "slot" / "node_modules")
    assert str(missing) in caught.value.message
    assert "No space left on device" in caught.value.hint
    assert not (tmp_path / "slot" / ".node_modules.grove-tmp").exists()
