"""grove create: slots, naming, branches, links and the managed block."""

from __future__ import annotations

import os
from pathlib import Path

from conftest import git, slot_ports, write_config
from grove import envfile


def test_slots_are_siblings_with_relative_links_and_a_local_block(repo: Path, grove) -> None:
    assert grove("create").code == 0
    slot = repo.parent / "myproject-wt1"
    assert slot.is_dir()
    link = slot / ".env"
    assert link.is_symlink()
    assert os.readlink(link) == "../myproject/.env"
    assert link.read_text() == (repo / ".env").read_text()
    block = envfile.read_block((slot / ".env.local").read_text())
    assert block == {k: str(v) for k, v in slot_ports(repo, 1).items()}
    assert list(block) == ["PORT", "DB_PORT", "MAILPIT_SMTP_PORT", "MAILPIT_UI_PORT"]
    main_block = envfile.read_block((repo / ".env.local").read_text())
    assert main_block is not None
    assert main_block["PORT"] == str(slot_ports(repo, 0)["PORT"])


def test_without_branch_a_slot_is_detached_at_mains_head(repo: Path, grove) -> None:
    result = grove("create", "--json").json
    assert result["branch"] is None
    assert result["head"] == git(repo, "rev-parse", "HEAD").strip()
    assert git(repo, "branch", "--format=%(refname:short)").split() == ["main"]


def test_lowest_free_index_and_explicit_index(repo: Path, grove) -> None:
    assert grove("create", "2", "--json").json["slot"] == 2
    assert grove("create", "--json").json["slot"] == 1
    full = grove("create", "--json")
    assert full.code == 1
    assert full.json["error"]["code"] == "no-free-slot"


def test_index_beyond_limit_and_zero_are_refused(repo: Path, grove) -> None:
    assert grove("create", "3", "--json").json["error"]["code"] == "usage"
    assert grove("create", "0", "--json").json["error"]["code"] == "refused"
    assert not (repo.parent / "myproject-wt3").exists()


def test_branch_is_created_from_from(repo: Path, grove) -> None:
    first = git(repo, "rev-parse", "HEAD").strip()
    (repo / "later.txt").write_text("x")
    git(repo, "add", "later.txt")
    git(repo, "commit", "-qm", "later")
    result = grove("create", "--branch", "feature/a", "--from", first, "--json").json
    assert result["branch"] == "feature/a"
    assert result["head"] == first


def test_existing_branch_is_checked_out(repo: Path, grove) -> None:
    git(repo, "branch", "topic")
    result = grove("create", "--branch", "topic", "--json").json
    assert result["branch"] == "topic"


def test_branch_checked_out_elsewhere_is_a_clear_error(repo: Path, grove) -> None:
    result = grove("create", "--branch", "main", "--json")
    assert result.code == 1
    assert "already checked out in slot 0" in result.json["error"]["message"]
    assert not (repo.parent / "myproject-wt1").exists()


def test_bad_from_and_bad_branch_name(repo: Path, grove) -> None:
    assert "--from 'nope'" in grove("create", "--from", "nope", "--json").json["error"]["message"]
    assert grove("create", "--branch", "a..b", "--json").json["error"]["code"] == "usage"


def test_from_inside_a_slot_grove_knows_its_slot_and_finds_main(repo: Path, grove) -> None:
    grove("create")
    slot = repo.parent / "myproject-wt1"
    (slot / "sub").mkdir()
    listed = grove("list", "--json", cwd=slot / "sub").json
    assert [s["current"] for s in listed["slots"]] == [False, True]
    assert listed["slots"][0]["path"] == str(repo)
    assert grove("env", "--format", "json", cwd=slot).json["slot"] == 1
    # and creating from inside a slot still makes a sibling of main
    assert grove("create", "--json", cwd=slot).json["path"] == str(repo.parent / "myproject-wt2")


def test_custom_naming_and_derived_values(repo: Path, grove) -> None:
    write_config(
        repo,
        """
[grove]
naming = "{name}.slot{n}"
[env.derived]
DATABASE_URL = "postgresql://postgres@127.0.0.1:{DB_PORT}/app_{n}"
COMPOSE_PROJECT_NAME = "{name}-wt{n}"
APP_URL = "http://localhost:{PORT}/?slot={dir}"
""",
    )
    result = grove("create", "--json").json
    slot = Path(result["path"])
    assert slot.name == "myproject.slot1"
    block = envfile.read_block((slot / ".env.local").read_text())
    assert block is not None
    ports = slot_ports(repo, 1)
    assert block["DATABASE_URL"] == f"postgresql://postgres@127.0.0.1:{ports['DB_PORT']}/app_1"
    assert block["COMPOSE_PROJECT_NAME"] == "myproject-wt1"
    assert block["APP_URL"] == f"http://localhost:{ports['PORT']}/?slot=myproject.slot1"


def test_a_derived_value_that_cannot_be_written_safely_is_a_config_error(repo: Path, grove) -> None:
    write_config(repo, '[env.derived]\nGREETING = "cost: $5 for {n}"\n')
    result = grove("create", "--json")
    assert result.code == 2
    assert "[env.derived] GREETING" in result.json["error"]["message"]
    assert "dollar sign" in result.json["error"]["message"]


def test_local_file_and_links_do_not_dirty_the_slot(repo: Path, grove) -> None:
    (repo / ".gitignore").write_text("")  # nothing ignored by the project itself
    git(repo, "commit", "-qam", "no ignores")
    grove("create")
    slot = repo.parent / "myproject-wt1"
    assert git(slot, "status", "--porcelain") == ""
    assert grove("list", "--json").json["slots"][1]["dirty"] is False


def test_folder_in_the_way_is_not_overwritten(repo: Path, grove) -> None:
    squatter = repo.parent / "myproject-wt1"
    squatter.mkdir()
    (squatter / "keep.txt").write_text("mine")
    result = grove("create", "1", "--json")
    assert result.code == 1
    assert result.json["error"]["code"] == "refused"
    assert (squatter / "keep.txt").read_text() == "mine"


def test_missing_shared_file_in_main_is_noted_not_faked(repo: Path, grove) -> None:
    (repo / ".env").unlink()
    result = grove("create", "--json").json
    assert any(".env does not exist in main" in note for note in result["notes"])
    assert not (repo.parent / "myproject-wt1" / ".env").is_symlink()
