"""[env] protect: main's shared files read-only; grove env edit lifts and restores it."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from conftest import write_config


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_protect_makes_the_shared_file_read_only_and_a_write_through_a_slot_fails(
    repo: Path, grove
) -> None:
    write_config(repo, "[env]\nprotect = true\n")
    created = grove("create", "--json").json
    assert {
        "slot": 0,
        "action": "protected",
        "path": ".env",
        "detail": "made read-only",
    } in created["changes"]
    assert mode(repo / ".env") & 0o222 == 0
    if os.geteuid() != 0:  # root ignores file modes; CI runs the suite as a normal user
        with pytest.raises(PermissionError):
            (repo.parent / "myproject-wt1" / ".env").write_text("OOPS=1\n")
    assert "OOPS" not in (repo / ".env").read_text()
    assert grove("validate", "--json").json["findings"] == []
    (repo / ".env").chmod(0o644)
    found = grove("validate", "--json").json["findings"]
    assert [(f["check"], f["level"]) for f in found] == [("env.unprotected", "warning")]
    assert grove("refresh", "--all", "--json").json["changed"][0]["action"] == "protected"


def test_env_edit_lifts_protection_approves_and_restores_it(
    repo: Path, grove, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_config(repo, "[env]\nprotect = true\n")
    grove("create")
    editor = tmp_path / "editor.sh"
    editor.write_text('#!/bin/sh\necho "NEW_FLAG=1" >> "$1"\n')
    editor.chmod(0o755)
    monkeypatch.setenv("EDITOR", str(editor))
    result = grove("env", "edit", "--json")
    assert result.code == 0, result.out
    assert result.json["change"] == {
        "file": ".env",
        "added": ["NEW_FLAG"],
        "removed": [],
        "changed": [],
    }
    assert "NEW_FLAG=1" in (repo / ".env").read_text()
    assert mode(repo / ".env") & 0o222 == 0
    assert grove("validate", "--json").json["findings"] == []


def test_env_edit_with_a_failing_editor_approves_nothing(
    repo: Path, grove, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    grove("create")
    editor = tmp_path / "editor.sh"
    editor.write_text('#!/bin/sh\necho "SNEAKY=1" >> "$1"\nexit 1\n')
    editor.chmod(0o755)
    monkeypatch.setenv("EDITOR", str(editor))
    result = grove("env", "edit", "--json")
    assert result.code == 1
    assert "nothing was approved" in result.json["error"]["message"]
    checks = [f["check"] for f in grove("validate", "--json").json["findings"]]
    assert checks == ["env.changed-since-approval"]


def test_protect_must_be_a_boolean(repo: Path, grove) -> None:
    write_config(repo, '[env]\nprotect = "yes"\n')
    assert (
        "[env] protect: expected true or false" in grove("list", "--json").json["error"]["message"]
    )
