"""grove compose, against a fake `docker` on PATH that records its arguments, folder and
environment: there is no Docker engine on these machines."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import commit_all, grove_process, slot_ports, write_config


def test_compose_runs_from_the_slot_with_its_project_env_files_and_env(
    repo: Path, grove, fake_docker: Path
) -> None:
    (repo / "compose.yaml").write_text("services:\n  db:\n    image: postgres\n")
    commit_all(repo, "compose")
    write_config(repo, '[env.derived]\nCOMPOSE_PROJECT_NAME = "{name}-wt{n}"\n')
    grove("create")
    result = grove_process("compose", "1", "--", "up", "-d", "db", cwd=repo)
    assert result.code == 0, result.err
    call = json.loads(fake_docker.read_text().splitlines()[-1])
    assert call["argv"] == [
        "compose",
        "-p",
        "myproject-wt1",
        "--env-file",
        ".env",
        "--env-file",
        ".env.local",
        "up",
        "-d",
        "db",
    ]
    assert call["cwd"] == str(repo.parent / "myproject-wt1")
    ports = slot_ports(repo, 1)
    assert (call["PORT"], call["DB_PORT"]) == (str(ports["PORT"]), str(ports["DB_PORT"]))
    assert call["API_KEY"] == "sk_test_devkey1234567890"


def test_compose_default_project_is_the_slot_folder_and_exit_code_passes_through(
    repo: Path, grove, fake_docker: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    grove("create")
    monkeypatch.setenv("FAKE_DOCKER_EXIT", "3")
    slot = repo.parent / "myproject-wt1"
    result = grove_process("compose", "--json", "--", "ps", cwd=slot)
    assert result.code == 3
    assert json.loads(result.out)["exit_code"] == 3
    call = json.loads(fake_docker.read_text().splitlines()[-1])
    assert call["argv"][:3] == ["compose", "-p", "myproject-wt1"]


def test_compose_needs_arguments_after_double_dash(repo: Path, grove) -> None:
    grove("create")
    result = grove("compose", "1", "--json")
    assert result.code == 2
    assert "nothing to run" in result.json["error"]["message"]
