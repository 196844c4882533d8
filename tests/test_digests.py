"""grove.state.digests: a digest is reused only while its files are untouched."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from grove.errors import ConfigError
from grove.state import digests


@pytest.fixture
def files(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    (root / "package-lock.json").write_text('{"lockfileVersion": 3}')
    (root / "seed.sql").write_text("insert into users values (1);\n")
    return root


def counting(root: Path, names: list[str]) -> tuple[list[int], object]:
    calls: list[int] = []

    def compute() -> str:
        calls.append(1)
        return "|".join((root / n).read_text() if (root / n).exists() else "-" for n in names)

    return calls, compute


def test_unchanged_files_are_hashed_once(files: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(digests, "SETTLED_NS", -1)
    names = ["package-lock.json", "seed.sql"]
    calls, compute = counting(files, names)
    first = digests.digest(tmp_path, "k", files, names, compute)  # type: ignore[arg-type]
    second = digests.digest(tmp_path, "k", files, names, compute)  # type: ignore[arg-type]
    assert first == second and len(calls) == 1


def test_a_rewrite_is_seen_even_with_the_same_size_and_mtime(
    files: Path, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setattr(digests, "SETTLED_NS", -1)
    names = ["seed.sql"]
    calls, compute = counting(files, names)
    before = digests.digest(tmp_path, "k", files, names, compute)  # type: ignore[arg-type]
    st = (files / "seed.sql").stat()
    (files / "seed.sql").write_text("insert into users values (2);\n")  # same size
    os.utime(files / "seed.sql", ns=(st.st_atime_ns, st.st_mtime_ns))  # and the old mtime
    after = digests.digest(tmp_path, "k", files, names, compute)  # type: ignore[arg-type]
    assert before != after and len(calls) == 2  # ctime moved: user space cannot set it


def test_a_file_added_or_removed_is_seen(files: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(digests, "SETTLED_NS", -1)
    calls, compute = counting(files, ["seed.sql"])
    digests.digest(tmp_path, "k", files, ["seed.sql"], compute)  # type: ignore[arg-type]
    digests.digest(tmp_path, "k", files, ["seed.sql", "new.sql"], compute)  # type: ignore[arg-type]
    (files / "seed.sql").unlink()
    digests.digest(tmp_path, "k", files, ["seed.sql", "new.sql"], compute)  # type: ignore[arg-type]
    assert len(calls) == 3


def test_a_file_changed_just_now_is_never_trusted(files: Path, tmp_path: Path) -> None:
    """Two changes within one clock tick look alike: a young file is hashed every time."""
    assert time.time_ns() - (files / "seed.sql").stat().st_ctime_ns < digests.SETTLED_NS
    calls, compute = counting(files, ["seed.sql"])
    for _ in range(2):
        digests.digest(tmp_path, "k", files, ["seed.sql"], compute)  # type: ignore[arg-type]
    assert len(calls) == 2
    assert not (tmp_path / digests.FILE).exists()


def test_keys_are_apart_and_a_damaged_cache_only_costs_a_hash(
    files: Path, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setattr(digests, "SETTLED_NS", -1)
    calls, compute = counting(files, ["seed.sql"])
    digests.digest(tmp_path, "a", files, ["seed.sql"], compute)  # type: ignore[arg-type]
    digests.digest(tmp_path, "b", files, ["seed.sql"], compute)  # type: ignore[arg-type]
    assert len(calls) == 2
    (tmp_path / digests.FILE).write_bytes(b"\xff not json")
    assert digests.digest(tmp_path, "a", files, ["seed.sql"], compute) == compute()  # type: ignore[arg-type,operator]


def test_which_env_files_git_tracks_is_asked_again_only_when_the_index_changes(
    repo: Path, monkeypatch
) -> None:
    from conftest import git
    from grove import slots

    monkeypatch.setattr(digests, "SETTLED_NS", -1)
    asked: list[tuple[str, ...]] = []
    real = slots.git.tracked

    def counting(path: Path, names: list[str]) -> set[str]:
        asked.append(tuple(names))
        return real(path, names)

    monkeypatch.setattr(slots.git, "tracked", counting)
    common = repo / ".git"
    assert slots._tracked(common, repo, [".env", "notes.env"]) == set()
    assert slots._tracked(common, repo, [".env", "notes.env"]) == set()
    assert len(asked) == 1
    (repo / "notes.env").write_text("A=1\n")
    git(repo, "add", "notes.env")  # git writes a new index
    assert slots._tracked(common, repo, [".env", "notes.env"]) == {"notes.env"}
    assert len(asked) == 2


def test_grove_toml_is_parsed_again_only_when_it_changes(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """open_grove keeps grove.toml's parsed data beside the file's stats, so a command whose
    config did not change loads no TOML parser; a change is read at once."""
    import subprocess
    import sys

    from conftest import write_config
    from grove.slots import open_grove

    monkeypatch.setattr(digests, "SETTLED_NS", -1)
    write_config(repo, "[grove]\nslots = 4\n")
    assert open_grove(repo).config.slots == 4
    probe = (
        "import sys\nfrom grove.slots import open_grove\n"
        "slots = open_grove().config.slots\n"
        "print(slots, 'tomllib' in sys.modules)\n"
    )
    answer = subprocess.run(
        [sys.executable, "-c", probe], cwd=repo, capture_output=True, text=True, check=True
    )
    assert answer.stdout.split() == ["4", "False"], answer.stderr
    write_config(repo, "[grove]\nslots = 6\n")
    assert open_grove(repo).config.slots == 6
    (repo / "grove.toml").write_text("[grove]\nslots = 6\nstarted = 2026-01-01\n")
    with pytest.raises(ConfigError):  # a date: not cacheable as JSON, parsed and checked
        open_grove(repo)
    (repo / "grove.toml").write_text("[grove\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        open_grove(repo)


def test_sha256_without_openssl_gives_hashlibs_digests() -> None:
    """Step ids (`run:0:<sha256 of the command>`) and cluster password fingerprints are kept
    in state files: the OpenSSL-free sha256 must name them exactly as hashlib did."""
    import hashlib

    for data in (b"", b"npm ci", "pässwörd".encode(), bytes(range(256)) * 40):
        assert digests.sha256(data).hexdigest() == hashlib.sha256(data).hexdigest()
    grown = digests.sha256()
    grown.update(b"npm ")
    grown.update(b"ci")
    assert grown.hexdigest() == hashlib.sha256(b"npm ci").hexdigest()
