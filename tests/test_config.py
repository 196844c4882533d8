"""A bad grove.toml exits 2 naming the file and key, before anything is written."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import git, tree_snapshot, write_config


def test_zero_config_uses_the_seed_table(bare_repo: Path, grove) -> None:
    result = grove("create", "--json")
    assert result.code == 0
    assert result.json["ports"] == {
        "PORT": 3001,
        "DB_PORT": 5435,
        "MAILPIT_SMTP_PORT": 1026,
        "MAILPIT_UI_PORT": 8026,
    }


@pytest.mark.parametrize(
    ("toml", "key", "expected"),
    [
        ("[grove]\nslots = 'three'\n", "[grove] slots", "an integer"),
        ("[grove]\nslotz = 3\n", "[grove] slotz", "a known key"),
        ("[network]\nx = 1\n", "[network]", "one of the sections"),
        ("[ports]\nPORT = 65535\n", "[ports] PORT", "within 65535"),
        ("[ports]\nPORT = 70000\n", "[ports] PORT", "from 1 to 65535"),
        ("[ports]\nPORT = 3000\nAPI_PORT = 3001\n", "[ports]", "do not overlap"),
        ("[ports]\nport = 3000\n", "[ports] port", "a port variable"),
        ("[ports]\nPORT = { base = 3000, step = 2 }\n", "[ports] PORT", "base = N"),
        ("[env]\nshared = '.env'\n", "[env] shared", "a list"),
        ("[env]\nshared = ['../secrets/.env']\n", "[env] shared", "inside it"),
        ("[env]\nlocal = '.env'\n", "[env] local", "not also in [env] shared"),
        (
            "[env.derived]\nURL = 'http://localhost:{WEB_PORT}'\n",
            "[env.derived] URL",
            "placeholders",
        ),
        ("[env.derived]\nlower = 'x'\n", "[env.derived] lower", "a key matching"),
        ("[grove]\nnaming = 'wt-{name}'\n", "[grove] naming", "containing {n}"),
        ("[setup]\nrun = 'npm ci'\n", "[setup] run", "a list"),
        ("[grove\nslots = 3\n", "grove.toml", "not valid TOML"),
    ],
)
def test_bad_config_names_file_and_key_and_changes_nothing(
    repo: Path, grove, toml: str, key: str, expected: str
) -> None:
    write_config(repo, toml)
    before = tree_snapshot(repo.parent)
    result = grove("create", "--json")
    assert result.code == 2
    error = result.json["error"]
    assert error["code"] == "config"
    assert "grove.toml" in error["message"]
    assert key in error["message"]
    assert expected in error["message"]
    assert tree_snapshot(repo.parent) == before
    assert git(repo, "worktree", "list", "--porcelain").count("worktree ") == 1


def test_bad_config_text_error_goes_to_stderr(repo: Path, grove) -> None:
    write_config(repo, "[grove]\nslots = 0\n")
    result = grove("list")
    assert result.code == 2
    assert result.out == ""
    assert "grove.toml: [grove] slots: expected an integer from 1 to 100" in result.err


def test_stride_and_per_variable_tables(repo: Path, grove) -> None:
    write_config(
        repo, "[ports]\nstride = 10\nWEB = 4000\nAPI = 4001\nDB = { base = 6000, stride = 1 }\n"
    )
    result = grove("create", "2", "--json")
    assert result.code == 0, result.out
    assert result.json["ports"] == {"WEB": 4020, "API": 4021, "DB": 6002}


def test_outside_a_repository_exits_2_with_one_line(tmp_path: Path, grove) -> None:
    result = grove("list", cwd=tmp_path)
    assert result.code == 2
    assert result.err.startswith("grove: error: not inside a git repository")
    assert grove("list", "--json", cwd=tmp_path).json["error"]["code"] == "not-a-repository"


def test_unknown_argument_is_a_usage_error(repo: Path, grove) -> None:
    result = grove("create", "--bogus", "--json")
    assert result.code == 2
    assert result.json["error"]["code"] == "usage"
