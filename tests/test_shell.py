"""grove shell [N]: the user's $SHELL in the slot's folder with the slot's environment and
GROVE_SLOT, refused like exec while the shared files have unapproved changes (issue 14,
deliverable 4)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import grove_process, slot_ports


@pytest.fixture
def slot1(repo: Path, grove) -> Path:
    assert grove("create").code == 0
    return repo.parent / "myproject-wt1"


def recording_shell(tmp_path: Path, code: int = 0) -> tuple[Path, Path]:
    """A stand-in $SHELL that records where it ran and what it saw, then exits with code."""
    record = tmp_path / "shell-saw.json"
    script = tmp_path / "recording-shell"
    script.write_text(
        f"#!{sys.executable}\n"
        "import json, os, sys\n"
        "seen = {'cwd': os.getcwd(), 'argv': sys.argv[1:]}\n"
        "seen.update({k: os.environ.get(k) for k in ('GROVE_SLOT', 'PORT', 'API_KEY')})\n"
        f"open({str(record)!r}, 'w').write(json.dumps(seen))\n"
        f"sys.exit({code})\n"
    )
    script.chmod(0o755)
    return script, record


def test_shell_runs_the_users_shell_in_the_slot_with_its_environment(
    repo: Path, slot1: Path, tmp_path: Path
) -> None:
    shell, record = recording_shell(tmp_path, code=4)
    result = grove_process("shell", "1", cwd=repo, env={"SHELL": str(shell), "PORT": "1"})
    assert result.code == 4, result.err  # the shell's exit code is grove's
    assert result.out == ""
    seen = json.loads(record.read_text())
    assert seen == {
        "cwd": str(slot1),
        "argv": [],
        "GROVE_SLOT": "1",
        "PORT": str(slot_ports(repo, 1)["PORT"]),  # the slot's value wins over the caller's
        "API_KEY": "sk_test_devkey1234567890",
    }


def test_shell_without_a_number_opens_the_slot_you_stand_in(
    repo: Path, slot1: Path, tmp_path: Path
) -> None:
    shell, record = recording_shell(tmp_path)
    (slot1 / "sub").mkdir()
    assert grove_process("shell", cwd=slot1 / "sub", env={"SHELL": str(shell)}).code == 0
    seen = json.loads(record.read_text())
    assert (seen["cwd"], seen["GROVE_SLOT"]) == (str(slot1), "1")


def test_without_shell_set_it_falls_back_to_sh(repo: Path, slot1: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "SHELL"}
    ran = subprocess.run(
        [sys.executable, "-m", "grove", "shell", "1"],
        cwd=repo,
        env=env,
        input='echo "$GROVE_SLOT $PORT $PWD"; exit 6\n',
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert ran.returncode == 6, ran.stderr
    assert ran.stdout.split() == ["1", str(slot_ports(repo, 1)["PORT"]), str(slot1)]


def test_json_is_a_usage_error_for_an_interactive_shell(repo: Path, slot1: Path, grove) -> None:
    result = grove("shell", "1", "--json")
    assert result.code == 2
    error = result.json["error"]
    assert error["code"] == "usage"
    assert "--json" in error["message"]
    assert "grove env" in error["hint"]


def test_shell_refuses_unapproved_shared_file_changes(
    repo: Path, slot1: Path, tmp_path: Path
) -> None:
    shell, record = recording_shell(tmp_path)
    with (slot1 / ".env").open("a") as shared:  # an agent's write through its slot's link
        shared.write("NODE_OPTIONS=--require=/tmp/x.js\n")
    refused = grove_process("shell", "1", cwd=repo, env={"SHELL": str(shell)})
    assert refused.code == 1
    assert "added NODE_OPTIONS" in refused.err
    assert "/tmp/x.js" not in refused.err
    assert not record.exists()  # the shell never started

    allowed = grove_process("shell", "1", "--allow-unapproved", cwd=repo, env={"SHELL": str(shell)})
    assert allowed.code == 0, allowed.err
    assert "warning: --allow-unapproved" in allowed.err
    assert json.loads(record.read_text())["GROVE_SLOT"] == "1"


def test_a_shell_that_is_not_found_is_named(repo: Path, slot1: Path) -> None:
    result = grove_process("shell", "1", cwd=repo, env={"SHELL": "/nonexistent/zsh"})
    assert result.code == 2
    assert "command not found: /nonexistent/zsh" in result.err
