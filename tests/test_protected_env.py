"""The environment grove builds for its own processes starts from the user's: an env file
never sets PATH, the dynamic linker's variables, NODE_OPTIONS and the rest of the protected
list (issue 13, deliverable 4). A shared file that tries is a validate error."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from conftest import grove_process
from grove import slotenv
from grove.slots import open_grove

# One of each family the issue names, and its siblings.
HOSTILE = {
    "PATH": "/agent/bin",
    "HOME": "/agent/home",
    "SHELL": "/agent/sh",
    "USER": "agent",
    "LD_PRELOAD": "/agent/evil.so",
    "LD_LIBRARY_PATH": "/agent/lib",
    "DYLD_INSERT_LIBRARIES": "/agent/evil.dylib",
    "NODE_OPTIONS": "--require=/agent/evil.js",
    "PYTHONPATH": "/agent/py",
    "PYTHONHOME": "/agent/pyhome",
    "PYTHONSTARTUP": "/agent/startup.py",
    "BASH_ENV": "/agent/bashrc",
    "ENV": "/agent/shrc",
    "PERL5OPT": "-Mevil",
    "RUBYOPT": "-revil",
    "GIT_DIR": "/agent/git",
    "GIT_SSH_COMMAND": "/agent/ssh",
    "IFS": "x",
    "PS4": "$(/agent/run)",
    "PROMPT_COMMAND": "/agent/run",
    "npm_config_script_shell": "/agent/sh",
}


def _write_hostile_env(repo: Path) -> None:
    lines = [f"{key}={json.dumps(value)}" for key, value in HOSTILE.items()]
    (repo / ".env").write_text("\n".join([*lines, "FEATURE_X=on", ""]))


@pytest.fixture
def user_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, str]:
    """The user's own values of the protected names (PYTHONPATH may be how the test's grove
    is found), with HOME and SHELL pinned."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SHELL", "/bin/sh")
    return {key: os.environ[key] for key in HOSTILE if key in os.environ}


def test_shared_values_never_replace_protected_variables(
    repo: Path, grove, user_env: dict[str, str]
) -> None:
    _write_hostile_env(repo)
    assert grove("create").code == 0
    env = slotenv.process_env(open_grove(), 1)
    for key in HOSTILE:
        assert env.get(key) == user_env.get(key), key
    assert env["FEATURE_X"] == "on"  # everything else still reaches the slot's processes


def test_a_local_file_cannot_set_them_either(repo: Path, grove, user_env: dict[str, str]) -> None:
    grove("create")
    local = repo.parent / "myproject-wt1" / ".env.local"
    local.write_text(local.read_text() + "NODE_OPTIONS=--require=/agent/evil.js\nMINE=1\n")
    env = slotenv.process_env(open_grove(), 1)
    assert "NODE_OPTIONS" not in env
    assert env["MINE"] == "1"


def test_exec_runs_with_the_users_path_and_no_injected_loader(
    repo: Path, grove, user_env: dict[str, str]
) -> None:
    _write_hostile_env(repo)
    grove("create")
    script = "import json, os; print(json.dumps(dict(os.environ)))"
    result = grove_process("exec", "1", "--", sys.executable, "-c", script, cwd=repo)
    assert result.code == 0, result.err
    seen = json.loads(result.out)
    for key in HOSTILE:
        assert seen.get(key) == user_env.get(key), key
    assert seen["FEATURE_X"] == "on"


def test_a_name_is_protected_in_any_case_and_by_family() -> None:
    for key in ("PATH", "LD_AUDIT", "DYLD_LIBRARY_PATH", "GIT_CONFIG_GLOBAL", "NPM_CONFIG_X"):
        assert slotenv.is_protected(key), key
    for key in ("npm_config_userconfig", "Path"):
        assert slotenv.is_protected(key), key
    for key in ("PORT", "DATABASE_URL", "NODE_ENV", "PATHNAME", "GITHUB_TOKEN", "HOMEPAGE_URL"):
        assert not slotenv.is_protected(key), key


def test_validate_errors_on_a_shared_file_that_sets_one(repo: Path, grove) -> None:
    grove("create")
    with (repo / ".env").open("a") as handle:
        handle.write("LD_PRELOAD=/agent/evil.so\nPATH=/agent/bin\n")
    grove("env", "approve")  # approved or not, it is an error
    result = grove("validate", "--json")
    assert result.code == 1
    findings = [f for f in result.json["findings"] if f["check"] == "env.protected-variable"]
    assert [(f["slot"], f["level"]) for f in findings] == [(None, "error")]
    assert findings[0]["message"].startswith(".env sets LD_PRELOAD, PATH:")
    assert "/agent" not in result.out


def test_validate_warns_on_a_local_file_that_sets_one(repo: Path, grove) -> None:
    grove("create")
    local = repo.parent / "myproject-wt1" / ".env.local"
    local.write_text(local.read_text() + "PYTHONPATH=/agent/py\n")
    findings = grove("validate", "--all", "--json").json["findings"]
    found = [
        (f["slot"], f["level"], f["message"].split(":")[0])
        for f in findings
        if f["check"] == "env.protected-variable"
    ]
    assert found == [(1, "warning", "myproject-wt1/.env.local sets PYTHONPATH")]
