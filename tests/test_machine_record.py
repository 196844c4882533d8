"""Several grove projects on one machine (issue 15, deliverable 4, in part): each records
its ports in the user's state folder, and validate names the other project that also uses
a port."""

from __future__ import annotations

import json
import os
from pathlib import Path

from conftest import make_repo, write_config


def state_file() -> Path:
    return Path(os.environ["HOME"]) / ".local" / "state" / "grove" / "ports.json"


def test_two_projects_with_the_same_ports_are_named_by_validate(tmp_path: Path, grove) -> None:  # type: ignore[no-untyped-def]
    first = make_repo(tmp_path / "a", name="shop")
    second = make_repo(tmp_path / "b", name="blog")
    write_config(first, "")
    # The second project copies the first one's port table: the clash to report.
    write_config(second, (first / "grove.toml").read_text())
    assert grove("create", cwd=first).code == 0
    record = json.loads(state_file().read_text())
    (entry,) = record.values()
    assert entry["main"] == str(first)
    port = json.loads(grove("list", "--json", cwd=first).out)["slots"][1]["ports"]["PORT"]["port"]
    assert port in entry["ports"]
    assert grove("create", cwd=second).code == 0
    found = grove("validate", "--all", "--json", cwd=second).json["findings"]
    clashes = [f for f in found if f["check"] == "ports.other-project"]
    assert clashes and all("project shop" in f["message"] for f in clashes)
    assert any(f"PORT={port}" in f["message"] for f in clashes)
    assert {f["level"] for f in clashes} == {"warning"}


def test_a_project_whose_folder_is_gone_no_longer_counts(tmp_path: Path, grove) -> None:  # type: ignore[no-untyped-def]
    first = make_repo(tmp_path / "a", name="shop")
    write_config(first, "")
    assert grove("create", cwd=first).code == 0
    second = make_repo(tmp_path / "b", name="blog")
    write_config(second, (first / "grove.toml").read_text())
    import shutil

    shutil.rmtree(tmp_path / "a")
    found = grove("validate", "--all", "--json", cwd=second).json["findings"]
    assert not [f for f in found if f["check"] == "ports.other-project"]


def test_a_damaged_record_is_a_warning_not_a_crash(repo: Path, grove) -> None:
    state_file().parent.mkdir(parents=True, exist_ok=True)
    state_file().write_text("{not json")
    result = grove("validate", "--json")
    assert result.code in (0, 1)
    checks = [f["check"] for f in result.json["findings"]]
    assert "ports.machine-record" in checks
    assert grove("create").code == 2  # recording refuses a damaged file, naming it
