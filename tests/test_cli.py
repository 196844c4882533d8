"""The CLI shell: `git grove`, help, version, and what a bug looks like."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest


def test_git_grove_runs_as_a_git_subcommand(repo: Path, grove) -> None:
    grove("create")
    scripts = Path(sys.executable).parent
    assert shutil.which("git-grove", path=str(scripts)), "git-grove console script not installed"
    env = {**os.environ, "PATH": f"{scripts}{os.pathsep}{os.environ['PATH']}"}
    slot = repo.parent / "myproject-wt1"
    result = subprocess.run(
        ["git", "grove", "list", "--json"],
        cwd=slot,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert [s["current"] for s in data["slots"]] == [False, True]


def test_no_command_prints_help(repo: Path, grove) -> None:
    result = grove()
    assert result.code == 0
    assert "create" in result.out
    assert "validate" in result.out


def test_an_unexpected_error_exits_3_with_a_log_and_no_traceback(
    repo: Path, grove, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The exception's text never reaches the output or the log: a UnicodeDecodeError
    carries the whole buffer it failed on, secrets included."""
    from grove.commands import list_

    def boom(_grove: object) -> None:
        raise UnicodeDecodeError("utf-8", b"DB_PASSWORD=hunter2\xfc", 19, 20, "invalid")

    monkeypatch.setattr(list_, "run", boom)
    result = grove("list")
    assert result.code == 3
    assert "Traceback" not in result.err
    assert "UnicodeDecodeError" in result.err
    assert "hunter2" not in result.out + result.err
    log = Path(result.err.split("where it happened is in ")[1].strip())
    assert "Traceback" in log.read_text() and "boom" in log.read_text()
    assert "hunter2" not in log.read_text()
    assert log.stat().st_mode & 0o777 == 0o600
    as_json = grove("list", "--json")
    assert as_json.code == 3
    assert "hunter2" not in as_json.out + as_json.err
    assert json.loads(as_json.out)["error"]["code"] == "bug"
