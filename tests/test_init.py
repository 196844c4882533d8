"""grove init writes a commented config that loads, and keeps the local file ignored."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from conftest import commit_all, git


@pytest.fixture
def repo(bare_repo: Path) -> Path:
    """init reads the repository as a user has it: no grove.toml yet. The seed's ports it
    proposes are only read here, never bound."""
    return bare_repo


def test_init_writes_a_valid_commented_config_and_ignores_the_local_file(repo: Path, grove) -> None:
    (repo / ".gitignore").write_text("node_modules/\n")
    result = grove("init", "--json")
    assert result.code == 0
    assert result.json["written"] is True
    assert result.json["gitignore_added"] == [".env.local"]
    text = (repo / "grove.toml").read_text()
    assert "# " in text
    data = tomllib.loads(text)
    assert data["grove"] == {"slots": 3, "naming": "{name}-wt{n}"}
    assert {k: v for k, v in data["ports"].items() if k != "stride"} == {
        "PORT": 3000,
        "DB_PORT": 5434,
        "MAILPIT_SMTP_PORT": 1025,
        "MAILPIT_UI_PORT": 8025,
    }
    assert (repo / ".gitignore").read_text() == "node_modules/\n/.env.local\n"
    assert git(repo, "check-ignore", ".env.local").strip() == ".env.local"
    assert grove("create", "--json").json["ports"]["PORT"] == 3001


def test_init_refuses_to_overwrite_without_force(repo: Path, grove) -> None:
    (repo / "grove.toml").write_text("[grove]\nslots = 5\n")
    refused = grove("init", "--json")
    assert refused.code == 1
    assert refused.json["error"]["code"] == "refused"
    assert (repo / "grove.toml").read_text() == "[grove]\nslots = 5\n"
    assert grove("init", "--force").code == 0
    assert "slots = 3" in (repo / "grove.toml").read_text()


def test_init_force_replaces_a_broken_config(repo: Path, grove) -> None:
    (repo / "grove.toml").write_text("[grove\n")
    assert grove("list").code == 2
    assert grove("init", "--force").code == 0
    assert grove("list").code == 0


def test_dry_run_prints_and_writes_nothing(repo: Path, grove) -> None:
    result = grove("init", "--dry-run")
    assert result.code == 0
    assert "[ports]" in result.out
    assert not (repo / "grove.toml").exists()
    assert ".env.local" in (repo / ".gitignore").read_text()  # fixture's own ignore, unchanged


def test_init_leaves_a_tracked_env_file_out_of_shared(repo: Path, grove) -> None:
    (repo / ".gitignore").write_text(".env.local\n")
    commit_all(repo, "commit .env")
    assert git(repo, "ls-files", ".env").strip() == ".env"
    made = grove("init", "--json")
    assert made.code == 0, made.out
    assert any(".env is tracked by git" in note for note in made.json["found"]["notes"])
    listed = grove("list", "--json")
    assert listed.code == 0, listed.out
