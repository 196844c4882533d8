"""Every bad grove.toml is refused at load, exit 2, before anything is written, and every
flag a command would ignore is a usage error."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import git, make_repo, slot_ports, tree_snapshot, write_config
from grove import config
from grove.errors import ConfigError


def worktree_count(main_dir: Path) -> int:
    return git(main_dir, "worktree", "list", "--porcelain").count("worktree ")


def assert_refused_everywhere(repo: Path, grove, key: str, expected: str) -> None:
    """create, refresh and take all exit 2 naming the file and key; nothing on disk moves
    (main, git's folder inside it, and the sibling folders where slots would go)."""
    before = tree_snapshot(repo.parent)
    for argv in (["create"], ["refresh"], ["take"]):
        result = grove(*argv, "--json")
        assert result.code == 2, (argv, result.out)
        error = result.json["error"]
        assert error["code"] == "config", error
        assert "grove.toml" in error["message"]
        assert key in error["message"], error["message"]
        assert expected in error["message"], error["message"]
    assert tree_snapshot(repo.parent) == before
    assert worktree_count(repo) == 1


@pytest.mark.parametrize(
    ("toml", "key", "expected"),
    [
        # [env] shared and local: never git's folder, grove.toml, or a file git tracks
        ('[env]\nshared = [".git"]\n', "[env] shared", ".git folder"),
        ('[env]\nshared = [".git/config"]\n', "[env] shared", ".git folder"),
        ('[env]\nlocal = ".git/info/exclude"\n', "[env] local", ".git folder"),
        ('[env]\nlocal = "grove.toml"\n', "[env] local", "other than grove.toml"),
        ('[env]\nshared = ["grove.toml"]\n', "[env] shared", "other than grove.toml"),
        ('[env]\nlocal = "README.md"\n', "[env] local", "git does not track"),
        ('[env]\nlocal = [".env.local", ".gitignore"]\n', "[env] local", "git does not track"),
        ('[env]\nshared = ["README.md"]\n', "[env] shared", "git does not track"),
        # [grove] naming: it has to parse back to the slot number
        ('[grove]\nnaming = "{name}-wt{n:02d}"\n', "[grove] naming", "format specs"),
        ('[grove]\nnaming = "{name!r}-wt{n}"\n', "[grove] naming", "conversions"),
        ('[grove]\nnaming = "{name-wt{n}"\n', "[grove] naming", "unexpected '{'"),
        ('[grove]\nnaming = "wt{n"\n', "[grove] naming", "expected '}'"),
        ('[grove]\nnaming = "wt{n}}}{"\n', "[grove] naming", "Single '{'"),
        ('[grove]\nnaming = "wt{{{n}}}"\n', "[grove] naming", "no other braces"),
        ('[grove]\nnaming = "wt{n}-{n}"\n', "[grove] naming", "{n} once"),
        ('[grove]\nnaming = "wt{}{n}"\n', "[grove] naming", "{n} once"),
        ('[grove]\nnaming = "{name}/wt{n}"\n', "[grove] naming", "without '/'"),
        # a NUL byte, wherever it is
        ('[grove]\nnaming = "wt{n}\\u0000"\n', "[grove] naming", "NUL"),
        ('[env]\nshared = [".env\\u0000x"]\n', "[env] shared", "NUL"),
        ('[env.derived]\nAPP = "a\\u0000b"\n', "[env.derived] APP", "NUL"),
        ('[setup]\nrun = ["npm ci\\u0000"]\n', "[setup] run", "NUL"),
        ('[env.derived]\n"A\\u0000" = "x"\n', "[env.derived] A", "NUL"),
        # [ports]
        ("[ports]\nstride = 10\n", "[ports]", "at least one port variable"),
        # derived values and rewrite hosts must be writable to a dotenv file
        ('[env.derived]\nAPP = "a\\nb"\n', "[env.derived] APP", "a newline"),
        ('[env.derived]\nAPP = "$HOME/x"\n', "[env.derived] APP", "a dollar sign"),
        ("[env.derived]\nAPP = 'say \"hi\"'\n", "[env.derived] APP", "a double quote"),
        ("[env.derived]\nAPP = 'C:\\\\x'\n", "[env.derived] APP", "a backslash"),
        (
            '[env.rewrite]\nAPI_URL = { port = "PORT", host = "wt{n}`x" }\n',
            "[env.rewrite] API_URL.host",
            "a backtick",
        ),
        ('[env.derived]\nAPP = "{n"\n', "[env.derived] APP", "balanced braces"),
        # [grove] step_timeout
        ("[grove]\nstep_timeout = 0\n", "[grove] step_timeout", "above 0"),
        ("[grove]\nstep_timeout = -5\n", "[grove] step_timeout", "above 0"),
        ('[grove]\nstep_timeout = "x"\n', "[grove] step_timeout", "a number of seconds"),
        ("[grove]\nstep_timeout = true\n", "[grove] step_timeout", "a number of seconds"),
        ("[grove]\nstep_timeout = 86401\n", "[grove] step_timeout", "at most 86400"),
        ("[grove]\nstep_timeout = nan\n", "[grove] step_timeout", "a number of seconds"),
        ("[grove]\nstep_timeout = inf\n", "[grove] step_timeout", "a number of seconds"),
    ],
)
def test_bad_config_is_refused_before_anything_is_written(
    repo: Path, grove, toml: str, key: str, expected: str
) -> None:
    write_config(repo, toml)
    assert_refused_everywhere(repo, grove, key, expected)


@pytest.mark.parametrize("setting", ['shared = ["node_modules"]', 'local = "node_modules"'])
def test_an_env_file_that_is_a_folder_in_main_is_refused(repo: Path, grove, setting: str) -> None:
    (repo / "node_modules" / "pkg").mkdir(parents=True)  # ignored, so untracked
    (repo / "node_modules" / "pkg" / "index.js").write_text("\n")
    write_config(repo, f"[env]\n{setting}\n")
    key = "[env] shared" if setting.startswith("shared") else "[env] local"
    assert_refused_everywhere(repo, grove, key, "not a folder")


def test_a_derived_value_unsafe_only_with_the_folder_name_is_refused_at_load(
    tmp_path: Path, grove, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The template text is fine; {name} brings the `$` in. Before, this was refused only
    # after `git worktree add` had run.
    main_dir = make_repo(tmp_path / "work", name="my$project")
    monkeypatch.chdir(main_dir)
    write_config(main_dir, '[env.derived]\nCOMPOSE_PROJECT_NAME = "{name}-wt{n}"\n')
    assert_refused_everywhere(main_dir, grove, "[env.derived] COMPOSE_PROJECT_NAME", "dollar")


def test_step_timeout_loads_into_the_config(repo: Path, grove) -> None:
    assert config.load(repo).step_timeout == 1800.0
    write_config(repo, "[grove]\nstep_timeout = 5\n")
    loaded = config.load(repo)
    assert loaded.step_timeout == 5.0
    assert isinstance(loaded.step_timeout, float)
    write_config(repo, "[grove]\nstep_timeout = 2.5\n")
    assert config.load(repo).step_timeout == 2.5
    assert grove("create", "--json").code == 0


@pytest.mark.parametrize(
    "toml",
    [
        '[grove]\nnaming = "{name}.wt{n}"\n',
        '[grove]\nnaming = "wt-{n}-{name}"\n',
        '[env]\nshared = [".env", "apps/web/.env"]\nlocal = ".env.local"\n',
        '[env.derived]\nAPP_URL = "http://wt{n}.localhost:{PORT}/?a=1&b={{x}}"\n',
        '[env.rewrite]\nAPI_URL = { port = "PORT", host = "wt{n}.localhost" }\n',
        "[ports]\nstride = 10\nWEB = 4000\n",
    ],
)
def test_good_configs_still_load_and_create(repo: Path, grove, toml: str) -> None:
    (repo / "apps" / "web").mkdir(parents=True)
    (repo / "apps" / "web" / "package.json").write_text("{}\n")
    write_config(repo, toml)
    result = grove("create", "--json")
    assert result.code == 0, result.out
    assert worktree_count(repo) == 2


def test_the_tracked_check_is_left_to_the_caller(repo: Path) -> None:
    # config.py runs no git: without `tracked`, only the folder checks apply.
    write_config(repo, '[env]\nlocal = "README.md"\n')
    assert config.load(repo).local == "README.md"
    with pytest.raises(ConfigError) as refused:
        config.load(repo, lambda names: {"README.md"} & set(names))
    assert "[env] local" in refused.value.message


@pytest.mark.parametrize(
    ("argv", "flag"),
    [
        (["release", "1", "--from", "HEAD"], "--from"),
        (["release", "--stale", "--reset"], "--stale"),
        (["release", "--stale", "--force"], "--force"),
        (["release", "--stale", "--label", "agent-a"], "--label"),
        (["release", "--stale", "--pid", "123"], "--pid"),
        (["take", "--here", "--branch", "task"], "--branch"),
        (["take", "--here", "--from", "HEAD"], "--from"),
        (["refresh", "--all", "1"], "--all"),
        (["validate", "--all", "1"], "--all"),
        (["db", "status", "--all", "1"], "--all"),
        (["db", "start", "--all", "1"], "--all"),
        (["db", "stop", "--all", "1"], "--all"),
        (["env", "--file", ".env"], "--file"),
        (["env", "1", "--file", ".env"], "--file"),
        (["env", "approve", "--file", ".env"], "--file"),
        (["env", "approve", "--reveal"], "--reveal"),
        (["env", "edit", "--reveal"], "--reveal"),
        (["env", "approve", "--format", "json"], "--format"),
        (["env", "edit", "--format", "dotenv"], "--format"),
    ],
)
def test_a_flag_the_command_would_ignore_is_refused(
    repo: Path, grove, argv: list[str], flag: str
) -> None:
    grove("create")
    before = tree_snapshot(repo.parent)
    result = grove(*argv, "--json")
    assert result.code == 2, result.out
    error = result.json["error"]
    assert error["code"] == "usage"
    assert flag in error["message"]
    assert tree_snapshot(repo.parent) == before


def test_flags_that_do_apply_are_still_accepted(repo: Path, grove) -> None:
    grove("create")
    port = slot_ports(repo, 1)["PORT"]
    assert grove("env", "1", "--format", "json").json["ports"]["PORT"] == port
    assert grove("env", "1", "--format", "dotenv").code == 0
    assert grove("refresh", "1", "--json").code == 0
    assert grove("refresh", "--all", "--json").code == 0
    assert grove("validate", "1", "--json").code == 0
    assert grove("take", "--json").code == 0
    assert grove("release", "1", "--reset", "--from", "HEAD", "--json").code == 0
