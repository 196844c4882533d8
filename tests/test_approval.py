"""Tamper evidence: a shared file changed since approval is an error naming keys only."""

from __future__ import annotations

from pathlib import Path


def test_first_create_records_the_state_and_says_so(repo: Path, grove) -> None:
    created = grove("create", "--json").json
    assert any("recorded the shared files' current state" in n for n in created["notes"])
    assert (repo / ".git" / "grove" / "approved.json").exists()
    assert grove("validate", "--json").json["findings"] == []
    again = grove("create", "--json").json
    assert not any("recorded" in n for n in again["notes"])


def test_a_change_from_any_slot_is_an_error_listing_key_names_only(repo: Path, grove) -> None:
    (repo / ".env").write_text("API_KEY=sk_test_old1234567890\nREMOVE_ME=1\nSAME=x\n")
    grove("create")
    slot_env = repo.parent / "myproject-wt1" / ".env"  # the link: a write here reaches main
    slot_env.write_text("API_KEY=sk_test_new0987654321\nSAME=x\nINJECTED=https://evil.example\n")
    result = grove("validate", "--json")
    assert result.code == 1
    finding = next(f for f in result.json["findings"] if f["check"] == "env.changed-since-approval")
    assert finding["message"] == ".env changed: added INJECTED; removed REMOVE_ME; changed API_KEY"
    assert "sk_test_new" not in result.out
    assert "evil" not in result.out
    approved = grove("env", "approve", "--json").json
    assert approved["changes"] == [
        {"file": ".env", "added": ["INJECTED"], "removed": ["REMOVE_ME"], "changed": ["API_KEY"]}
    ]
    assert grove("validate", "--json").json["findings"] == []


def test_without_a_record_validate_warns(repo: Path, grove) -> None:
    grove("create")
    (repo / ".git" / "grove" / "approved.json").unlink()
    findings = grove("validate", "--json").json["findings"]
    assert [(f["check"], f["level"]) for f in findings] == [("env.not-approved", "warning")]


def test_refresh_records_the_first_state_too(repo: Path, grove) -> None:
    result = grove("refresh", "0", "--json").json
    assert any("recorded the shared files' current state" in n for n in result["notes"])


def test_comment_only_changes_are_still_reported(repo: Path, grove) -> None:
    grove("create")
    with (repo / ".env").open("a") as handle:
        handle.write("# a note\n")
    finding = grove("validate", "--json").json["findings"][0]
    assert finding["message"] == ".env changed: only formatting or comments changed"
