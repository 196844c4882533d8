"""Exit codes follow the README everywhere (issue 15, deliverable 7): 1 for a run-time
failure or a refusal (the arguments are fine, the state says no), 2 for bad usage or a bad
grove.toml. Each case here runs for real and checks the code and the error's kind."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import git, write_config

# (description, setup, argv, exit code, error code)
REFUSALS = [
    ("switch to a branch held elsewhere", "two", ("switch", "2", "held"), 1, "refused"),
    ("switch main", "one", ("switch", "0", "x"), 1, "refused"),
    ("switch to the branch it is on", "two", ("switch", "1", "held"), 1, "refused"),
    ("release a free slot", "one", ("release", "1"), 1, "refused"),
    ("release --reset of main", "one", ("release", "0", "--reset"), 1, "refused"),
    ("remove main", "one", ("remove", "0"), 1, "refused"),
    ("create main", "one", ("create", "0"), 1, "refused"),
    ("remove a dirty slot", "dirty", ("remove", "1"), 1, "refused"),
    ("db psql of a stopped database", "db", ("db", "psql", "1"), 1, "refused"),
    ("unapproved shared file", "tampered", ("refresh", "1"), 1, "unapproved"),
    ("no free slot", "full", ("take",), 1, "no-free-slot"),
    # usage and config: the arguments or the file are wrong
    ("a slot that does not exist", "one", ("peek", "7"), 2, "usage"),
    ("an unknown option", "one", ("list", "--nope"), 2, "usage"),
    ("slot beyond the limit", "one", ("create", "9"), 2, "usage"),
    ("a bad branch name", "one", ("create", "--branch", "a..b"), 2, "usage"),
    ("an unknown service", "one", ("up", "1", "nosuch"), 2, "usage"),
    ("db without [database]", "one", ("db", "status"), 2, "config"),
    ("a bad grove.toml", "badconfig", ("list",), 2, "config"),
]


def prepare(repo: Path, grove, setup: str) -> None:  # type: ignore[no-untyped-def]
    if setup == "full":
        write_config(repo, "[grove]\nslots = 2\n")
    if setup == "badconfig":
        (repo / "grove.toml").write_text("[grove]\nslots = 'many'\n")
        return
    assert grove("create").code == 0
    if setup == "db":
        # Configured after the slot exists, so no database was ever made or started (and
        # psql never runs), also where PostgreSQL can run.
        write_config(repo, "[database]\n")
    if setup == "two":
        assert grove("create", "--branch", "held").code == 0
        git(repo.parent / "myproject-wt1", "switch", "-q", "-c", "other")
        git(repo.parent / "myproject-wt1", "switch", "-q", "--detach")
        git(repo.parent / "myproject-wt2", "switch", "-q", "--detach")
        git(repo.parent / "myproject-wt1", "switch", "-q", "held")
    if setup == "dirty":
        (repo.parent / "myproject-wt1" / "work.txt").write_text("unsaved")
    if setup == "tampered":
        with (repo.parent / "myproject-wt1" / ".env").open("a") as handle:
            handle.write("NEW=1\n")
    if setup == "full":
        assert grove("take", "--label", "a").code == 0


@pytest.mark.parametrize(
    ("setup", "argv", "code", "kind"),
    [case[1:] for case in REFUSALS],
    ids=[case[0] for case in REFUSALS],
)
def test_exit_code(
    repo: Path, grove, setup: str, argv: tuple[str, ...], code: int, kind: str
) -> None:
    prepare(repo, grove, setup)
    result = grove(*argv, "--json")
    assert result.code == code, result.out + result.err
    assert result.json["error"]["code"] == kind
    text = grove(*argv)
    assert text.code == code
    assert text.err.startswith("grove: error: ")


def test_db_status_without_a_grove_toml_names_no_file_that_is_not_there(
    bare_repo: Path, grove
) -> None:
    result = grove("db", "status", "--json")
    assert result.code == 2
    message = result.json["error"]["message"]
    assert "has no grove.toml" in message
    assert "grove init" in result.json["error"]["hint"]


def test_refresh_that_only_runs_commands_does_not_say_nothing_to_change(repo: Path, grove) -> None:
    write_config(repo, '[refresh]\nrun = ["true"]\n')
    grove("create")
    grove("refresh", "1")
    again = grove("refresh", "1")
    assert again.code == 0
    assert "nothing to change" not in again.out
    assert again.out.splitlines()[0] == "no file to change in slot 1"
    assert "slot 1: ran true" in again.out
