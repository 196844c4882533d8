"""`grove env`'s answer cache (state/envcache): an answer is reused only while everything it
was computed from is unchanged, and is then exactly what computing it again prints.

Each change below is made to a real repository with real slots; after it, the answer must
equal a fresh computation (GROVE_NO_CACHE=1). The settling time is switched off so that
files written by the test a moment ago may be cached at all."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from conftest import git, imported_by, write_config
from grove import arguments
from grove.state import envcache

QUESTION = ("env", "1", "--format", "json")


@pytest.fixture
def slots(repo: Path, grove: Any) -> Path:
    write_config(repo, "[grove]\nslots = 3\n[env.derived]\nAPP_URL = 'http://localhost:{PORT}'\n")
    for _ in range(2):
        assert grove("create", "--json").code == 0
    return repo


@pytest.fixture
def settled(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every file counts as settled, however new."""
    monkeypatch.setattr(envcache, "SETTLED_NS", -(10**18))


@pytest.fixture
def ask(grove: Any, monkeypatch: pytest.MonkeyPatch) -> Callable[..., tuple[Any, bool]]:
    """ask(*args, cwd=...) -> (the answer, whether it came from the cache). An answer from the
    cache never reaches the argument parser, so a parser that fails tells them apart."""

    def call(*args: str, cwd: Path | None = None) -> tuple[Any, bool]:
        real_parse = arguments.parse
        parsed: list[bool] = []

        def parse(argv: list[str]) -> Any:
            parsed.append(True)
            return real_parse(argv)

        with monkeypatch.context() as patch:
            patch.setattr(arguments, "parse", parse)
            answer = grove(*(args or QUESTION), cwd=cwd)
        return answer, not parsed

    return call


def fresh(grove: Any, monkeypatch: pytest.MonkeyPatch, *args: str, cwd: Path | None = None) -> Any:
    with monkeypatch.context() as patch:
        patch.setenv(envcache.OFF, "1")
        return grove(*(args or QUESTION), cwd=cwd)


def entries(main_dir: Path) -> list[Path]:
    folder = main_dir / ".git" / "grove" / envcache.FOLDER
    return sorted(folder.iterdir()) if folder.is_dir() else []


@pytest.mark.usefixtures("settled")
def test_a_second_identical_call_is_answered_from_the_cache(slots: Path, ask: Any) -> None:
    first, cached = ask()
    assert first.code == 0 and not cached
    assert len(entries(slots)) == 1
    second, cached = ask()
    assert cached
    assert (second.code, second.out, second.err) == (first.code, first.out, first.err)
    assert second.json["ports"] == first.json["ports"]


@pytest.mark.usefixtures("settled")
def test_the_text_formats_keep_their_note_on_stderr(slots: Path, ask: Any) -> None:
    first, _ = ask("env", "1")
    assert "left out" in first.err and "API_KEY" in first.err
    second, cached = ask("env", "1")
    assert cached
    assert (second.out, second.err) == (first.out, first.err)


def _append(path: Path, text: str) -> None:
    with path.open("a") as handle:
        handle.write(text)


def _rewrite_in_place_keeping_mtime(path: Path) -> None:
    """Same size, same mtime, other bytes: only the ctime tells."""
    before = path.stat()
    data = path.read_bytes()
    path.write_bytes(data.replace(b"on", b"no"))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert path.stat().st_size == before.st_size


def _replace_link_with_file(slot: Path) -> None:
    (slot / ".env").unlink()
    (slot / ".env").write_text("FEATURE_X=replaced\n")


def _config_change(main_dir: Path) -> None:
    text = (main_dir / "grove.toml").read_text()
    (main_dir / "grove.toml").write_text(text.replace("localhost", "127.0.0.1"))


CHANGES: dict[str, Callable[[Path, Path], None]] = {
    "a key added to the shared file": lambda m, s: _append(m / ".env", "NEW_KEY=1\n"),
    "a user line in the slot's local file": lambda m, s: _append(s / ".env.local", "MINE=1\n"),
    "the shared file rewritten, same size and mtime": lambda m, s: _rewrite_in_place_keeping_mtime(
        m / ".env"
    ),
    "the slot's link replaced by a file": lambda m, s: _replace_link_with_file(s),
    "grove.toml": lambda m, s: _config_change(m),
    "the local file removed": lambda m, s: (s / ".env.local").unlink(),
}


@pytest.mark.usefixtures("settled")
@pytest.mark.parametrize("change", sorted(CHANGES))
def test_a_change_to_any_input_is_seen(
    slots: Path, ask: Any, grove: Any, monkeypatch: pytest.MonkeyPatch, change: str
) -> None:
    slot = slots.parent / "myproject-wt1"
    revealed = ("env", "1", "--reveal", "--format", "json")
    before = [fresh(grove, monkeypatch, *q).out for q in (revealed, QUESTION)]
    for args in (QUESTION, ("env", "1"), ("env", "1", "--format", "shell")):
        ask(*args)
        assert ask(*args)[1], "the unchanged answer comes from the cache"
    CHANGES[change](slots, slot)
    for args in (QUESTION, ("env", "1"), ("env", "1", "--format", "shell")):
        after, cached = ask(*args)
        expected = fresh(grove, monkeypatch, *args)
        assert not cached, f"{change}: a stale answer for {args}"
        assert (after.code, after.out, after.err) == (expected.code, expected.out, expected.err)
    # The change mattered: to a value (masking can hide that), or to what is masked (a
    # changed template makes the block's value the user's own until `grove refresh`).
    assert [fresh(grove, monkeypatch, *q).out for q in (revealed, QUESTION)] != before


@pytest.mark.usefixtures("settled")
def test_a_removed_slot_is_an_error_again(slots: Path, ask: Any) -> None:
    assert ask()[0].code == 0 and ask()[1]
    git(slots, "worktree", "remove", "--force", str(slots.parent / "myproject-wt1"))
    answer, cached = ask()
    assert not cached
    assert answer.code == 2 and "slot 1" in answer.err


@pytest.mark.usefixtures("settled")
def test_the_slot_of_the_current_folder_is_part_of_the_question(slots: Path, ask: Any) -> None:
    one, two = slots.parent / "myproject-wt1", slots.parent / "myproject-wt2"
    first, _ = ask("env", "--format", "json", cwd=one)
    ask("env", "--format", "json", cwd=one)
    other, cached = ask("env", "--format", "json", cwd=two)
    assert not cached
    assert (first.json["slot"], other.json["slot"]) == (1, 2)
    again, cached = ask("env", "--format", "json", cwd=two)
    assert cached and again.json["slot"] == 2


@pytest.mark.usefixtures("settled")
def test_revealed_values_are_never_written(slots: Path, ask: Any) -> None:
    answer, _ = ask("env", "1", "--reveal", "--format", "json")
    assert answer.json["env"]["API_KEY"] == "sk_test_devkey1234567890"
    assert not ask("env", "1", "--reveal", "--format", "json")[1]
    ask()  # a masked answer is kept
    assert entries(slots)
    for entry in entries(slots):
        assert b"sk_test_devkey" not in entry.read_bytes()
        assert entry.stat().st_mode & 0o777 == 0o600


def test_files_changed_a_moment_ago_are_not_cached(slots: Path, ask: Any) -> None:
    """With the real settling time: the fixture's files are seconds old at most."""
    ask()
    answer, cached = ask()
    assert answer.code == 0 and not cached
    assert entries(slots) == []


@pytest.mark.usefixtures("settled")
def test_no_cache_means_no_lookup_and_no_entry(
    slots: Path, grove: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert fresh(grove, monkeypatch).code == 0
    assert entries(slots) == []


@pytest.mark.usefixtures("settled")
def test_a_damaged_or_planted_entry_is_not_believed(slots: Path, ask: Any) -> None:
    first, _ = ask()
    (entry,) = entries(slots)
    entry.write_bytes(entry.read_bytes()[:-40])  # cut short
    answer, cached = ask()
    assert not cached and answer.out == first.out
    (entry,) = entries(slots)
    data = entry.read_bytes()
    decoy = slots.parent / "decoy"
    decoy.write_bytes(data.replace(b'"slot": 1', b'"slot": 9'))
    entry.unlink()
    entry.symlink_to(decoy)  # never read through a link
    answer, cached = ask()
    assert not cached and answer.json["slot"] == 1


@pytest.mark.usefixtures("settled")
def test_a_link_planted_as_the_cache_folder_is_not_written_through(
    slots: Path, ask: Any, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (slots / ".git" / "grove" / envcache.FOLDER).symlink_to(outside)
    answer, _ = ask()
    assert answer.code == 0
    assert list(outside.iterdir()) == []


@pytest.mark.usefixtures("settled")
def test_a_cached_answer_loads_almost_nothing(slots: Path, ask: Any) -> None:
    """The point of the cache: an answer from it imports no git runner, config reader or
    argument parser. Measured in a fresh interpreter."""
    ask()
    loaded = imported_by(slots, *QUESTION)
    assert loaded <= {
        "grove",
        "grove.cli",
        "grove.usage",
        "grove.errors",
        "grove.state",
        "grove.state.envcache",
        "grove.dotgit",
        "__future__",
    }, sorted(loaded)


@pytest.mark.usefixtures("settled")
def test_an_entry_with_terminal_controls_is_not_printed(slots: Path, ask: Any) -> None:
    """Any slot can write under .git/grove; an entry that would move the cursor or recolour
    the terminal of whoever asks next is computed again instead."""
    first, _ = ask("env", "1")
    assert ask("env", "1")[1]
    (entry,) = entries(slots)
    data = entry.read_bytes()
    assert b"PORT=" in data
    entry.write_bytes(data.replace(b"PORT=", b"\x1b]0;owned\x07PORT=", 1))
    answer, cached = ask("env", "1")
    assert not cached
    assert "\x1b" not in answer.out and answer.out == first.out
