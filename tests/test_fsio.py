"""Tree copies work with GNU cp, with BSD cp (macOS: no --reflink) and with no cp at all;
a copy that cannot be made is a clear error, never a crash."""

from __future__ import annotations

import errno
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


def test_read_regular_refuses_what_is_not_a_regular_file_without_waiting(tmp_path: Path) -> None:
    """A FIFO would block a plain open() until someone writes to it: refused at once."""
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    folder = tmp_path / "folder"
    folder.mkdir()
    for path, kind in ((fifo, "FIFO"), (folder, "folder")):
        with pytest.raises(fsio.NotRegularFile) as caught:
            fsio.read_regular(path, 100)
        assert caught.value.kind == kind
        assert str(path) in str(caught.value)
    with pytest.raises(FileNotFoundError):
        fsio.read_regular(tmp_path / "missing", 100)


def test_read_regular_stops_at_its_limit_and_follows_links_only_when_asked(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.write_bytes(b"x" * 100)
    assert fsio.read_regular(data, 100) == b"x" * 100
    with pytest.raises(fsio.FileTooLarge):
        fsio.read_regular(data, 99)
    link = tmp_path / "link"
    link.symlink_to(data)
    assert fsio.read_regular(link, 100) == b"x" * 100
    with pytest.raises(OSError) as caught:
        fsio.read_regular(link, 100, follow=False)
    assert caught.value.errno == errno.ELOOP
    fifo_link = tmp_path / "to-fifo"
    os.mkfifo(tmp_path / "fifo")
    fifo_link.symlink_to(tmp_path / "fifo")
    with pytest.raises(fsio.NotRegularFile):
        fsio.read_regular(fifo_link, 100)  # followed, and still not waited on


def test_read_inside_refuses_a_fifo_without_waiting(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "planted")
    with pytest.raises(fsio.NotRegularFile):
        fsio.read_inside(tmp_path, "planted")
    (tmp_path / "big").write_bytes(b"y" * 10)
    with pytest.raises(fsio.FileTooLarge):
        fsio.read_inside(tmp_path, "big", limit=9)
    assert fsio.read_inside(tmp_path, "big") == b"y" * 10


def test_read_end_reads_a_tail_and_nothing_from_a_fifo(tmp_path: Path) -> None:
    log = tmp_path / "log"
    log.write_bytes(b"".join(b"line %d\n" % i for i in range(1000)))
    assert fsio.read_end(log, 13) == b"998\nline 999\n"
    assert fsio.read_end(log, 1 << 20) == log.read_bytes()
    os.mkfifo(tmp_path / "fifo")
    assert fsio.read_end(tmp_path / "fifo", 100) == b""
    assert fsio.read_end(tmp_path / "missing", 100) == b""
