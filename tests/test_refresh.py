"""grove refresh converges, repairs the seed's stale-copy failure, and is idempotent."""

from __future__ import annotations

import os
from pathlib import Path

from conftest import slot_ports, tree_snapshot, write_config


def test_second_refresh_changes_nothing_and_says_so(repo: Path, grove) -> None:
    grove("create")
    first = grove("refresh", "--all", "--json").json
    assert first["changed"] == []
    again = grove("refresh", "--all")
    assert again.code == 0
    assert again.out.startswith("nothing to change in slots 0, 1")


def test_stale_copy_is_backed_up_then_linked(repo: Path, grove) -> None:
    grove("create")
    slot = repo.parent / "myproject-wt1"
    (slot / ".env").unlink()
    (slot / ".env").write_text("API_KEY=old-rotated-key\n")
    result = grove("refresh", "1", "--json").json
    actions = [c["action"] for c in result["changed"]]
    assert actions == ["backed-up", "linked"]
    backups = list(slot.glob(".env.grove-backup-*"))
    assert len(backups) == 1
    assert backups[0].read_text() == "API_KEY=old-rotated-key\n"
    assert os.readlink(slot / ".env") == "../myproject/.env"
    assert grove("refresh", "1", "--json").json["changed"] == []


def test_wrong_link_is_repointed(repo: Path, grove, tmp_path: Path) -> None:
    grove("create")
    elsewhere = tmp_path / "other.env"
    elsewhere.write_text("X=1\n")
    link = repo.parent / "myproject-wt1" / ".env"
    link.unlink()
    link.symlink_to(elsewhere)
    result = grove("refresh", "1", "--json").json
    assert [c["action"] for c in result["changed"]] == ["relinked"]
    assert os.readlink(link) == "../myproject/.env"
    assert elsewhere.read_text() == "X=1\n"


def test_user_lines_survive_and_the_block_is_rewritten(repo: Path, grove) -> None:
    grove("create")
    local = repo.parent / "myproject-wt1" / ".env.local"
    text = local.read_text().replace(f"PORT={slot_ports(repo, 1)['PORT']}", "PORT=9999")
    local.write_text("# mine\nDEBUG=1\n" + text + "MORE=yes\n")
    write_config(repo, "[ports]\nPORT = 4000\n")
    result = grove("refresh", "1", "--json").json
    assert [c["action"] for c in result["changed"]] == ["block-updated"]
    after = local.read_text()
    assert after.startswith("# mine\nDEBUG=1\n# >>> grove (slot 1)")
    assert "PORT=4001\n" in after
    assert "DB_PORT" not in after
    assert after.endswith("# <<< grove\nMORE=yes\n")


def test_dry_run_lists_and_changes_nothing(repo: Path, grove) -> None:
    grove("create")
    slot = repo.parent / "myproject-wt1"
    (slot / ".env").unlink()
    (slot / ".env.local").write_text("MINE=1\n")
    write_config(repo, '[refresh]\nrun = ["touch refreshed"]\n')
    before = tree_snapshot(repo.parent)
    result = grove("refresh", "1", "--dry-run", "--json").json
    assert result["dry_run"] is True
    assert sorted(c["action"] for c in result["changed"]) == ["block-written", "linked"]
    assert result["pending"] == [{"slot": 1, "step": "touch refreshed"}]
    assert tree_snapshot(repo.parent) == before


def test_refresh_runs_refresh_commands_with_the_slot_env(repo: Path, grove) -> None:
    write_config(repo, '[refresh]\nrun = ["echo $PORT:$API_KEY > seen.txt"]\n')
    grove("create")
    slot = repo.parent / "myproject-wt1"
    result = grove("refresh", "1", "--json").json
    assert result["ran"] == [
        {"slot": 1, "step": "echo $PORT:$API_KEY > seen.txt", "phase": "refresh"}
    ]
    port = slot_ports(repo, 1)["PORT"]
    assert (slot / "seen.txt").read_text() == f"{port}:sk_test_devkey1234567890\n"


def test_refresh_of_a_missing_slot_is_a_usage_error(repo: Path, grove) -> None:
    result = grove("refresh", "2", "--json")
    assert result.code == 2
    assert "slot 2 does not exist" in result.json["error"]["message"]


def test_a_regular_file_in_main_where_a_link_is_expected_is_left_alone(repo: Path, grove) -> None:
    grove("create")
    assert grove("refresh", "0", "--json").json["changed"] == []
    assert not (repo / ".env").is_symlink()
