"""validate's service checks for compose, against a fake `docker` on PATH.

There is no Docker engine on these machines, so a small script stands in for `docker`: it
records its arguments and environment and prints what `docker compose ps --format json`
would. The port-table checks that a valid grove.toml cannot trigger live here too.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import commit_all, slot_ports, write_config
from pgutil import free_port_base

COMPOSE = "services:\n  db:\n    image: postgres:16\n  mail:\n    image: axllent/mailpit\n"


def _compose_repo(repo: Path, grove) -> None:
    (repo / "compose.yaml").write_text(COMPOSE)
    commit_all(repo, "compose")
    grove("create")


def _ps(*rows: dict) -> str:
    return "\n".join(json.dumps(r) for r in rows)


def test_running_services_are_quiet_and_compose_gets_the_slots_files(
    repo: Path, grove, fake_docker: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _compose_repo(repo, grove)
    monkeypatch.setenv("FAKE_COMPOSE_PS", _ps({"Service": "db", "State": "running"}))
    result = grove("validate", "1", "--json")
    assert result.json["findings"] == []
    call = json.loads(fake_docker.read_text().splitlines()[-1])
    slot = repo.parent / "myproject-wt1"
    assert call["argv"] == [
        "compose",
        "--project-directory",
        str(slot),
        "-p",
        "myproject-wt1",
        "--env-file",
        str(slot / ".env"),
        "--env-file",
        str(slot / ".env.local"),
        "ps",
        "--all",
        "--format",
        "json",
    ]
    assert call["PORT"] == str(slot_ports(repo, 1)["PORT"])


def test_exited_and_unhealthy_services_are_reported(
    repo: Path, grove, fake_docker: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _compose_repo(repo, grove)
    monkeypatch.setenv(
        "FAKE_COMPOSE_PS",
        _ps(
            {"Service": "db", "State": "exited"},
            {"Service": "mail", "State": "running", "Health": "unhealthy"},
        ),
    )
    found = {(f["check"], f["level"]) for f in grove("validate", "1", "--json").json["findings"]}
    assert found == {
        ("services.compose-down", "warning"),
        ("services.compose-unhealthy", "warning"),
    }


def test_an_unreachable_engine_is_a_warning(
    repo: Path, grove, fake_docker: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _compose_repo(repo, grove)
    monkeypatch.setenv("FAKE_COMPOSE_PS", "FAIL")
    findings = grove("validate", "1", "--json").json["findings"]
    assert [(f["check"], f["level"]) for f in findings] == [
        ("services.compose-unavailable", "warning")
    ]
    assert "Cannot connect to the Docker daemon" in findings[0]["message"]
    assert findings[0]["hint"] == "is the Docker engine running?"


def test_a_missing_compose_plugin_is_named_as_such(
    repo: Path, grove, fake_docker: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _compose_repo(repo, grove)
    monkeypatch.setenv("FAKE_COMPOSE_PS", "NOPLUGIN")
    (finding,) = grove("validate", "1", "--json").json["findings"]
    assert finding["check"] == "services.compose-unavailable"
    assert "Compose plugin is missing" in finding["hint"]
    assert "engine" not in finding["hint"]


def test_without_a_compose_file_docker_is_never_called(
    repo: Path, grove, fake_docker: Path
) -> None:
    grove("create")
    assert grove("validate", "--json").json["findings"] == []
    assert not fake_docker.exists()


def test_slots_sharing_one_compose_project_is_an_error(
    repo: Path, grove, fake_docker: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_COMPOSE_PS", "")
    (repo / ".env").write_text("COMPOSE_PROJECT_NAME=myapp\n")
    _compose_repo(repo, grove)
    findings = grove("validate", "--all", "--json").json["findings"]
    assert [(f["slot"], f["check"]) for f in findings] == [(1, "services.compose-shared-project")]
    write_config(repo, '[env.derived]\nCOMPOSE_PROJECT_NAME = "{name}-wt{n}"\n')
    grove("refresh", "--all")
    assert grove("validate", "--all", "--json").json["findings"] == []


def test_port_duplicates_and_out_of_range_from_a_slot_beyond_the_limit(repo: Path, grove) -> None:
    grove("create")
    grove("create")  # slots 1 and 2 under the default slots = 3
    # Now only 2 slots are allowed, so the config is valid, but slot 2 still exists:
    # its PORT (base + 2) lands on main's API_PORT, and its HIGH port past 65535.
    base = free_port_base(4)
    write_config(
        repo,
        f"[grove]\nslots = 2\n[ports]\nPORT = {base}\nAPI_PORT = {base + 2}\nHIGH = 65534\n",
    )
    findings = grove("validate", "--all", "--json").json["findings"]
    found = {(f["slot"], f["check"], f["level"]) for f in findings}
    assert (2, "ports.duplicate", "error") in found
    assert (2, "ports.out-of-range", "error") in found
    assert (2, "git.beyond-limit", "warning") in found
    duplicate = next(f for f in findings if f["check"] == "ports.duplicate")
    assert duplicate["message"] == f"PORT={base + 2} collides with slot 0's API_PORT"
    assert not any(f["check"].startswith("ports.") for f in findings if f["slot"] != 2)
