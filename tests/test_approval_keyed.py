"""Approval digests are keyed, and files that hold them are 0600 (issue 13, deliverable 5).

The old record stored sha256(KEY\\0value)[:16]: a 5-digit PIN fell to 100,000 guesses in
0.09 s. Now each digest is HMAC-SHA256 under a random per-repository key.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import stat
from pathlib import Path

from conftest import make_repo, write_config

PIN = "48213"


def _state(repo: Path) -> Path:
    return repo / ".git" / "grove"


def _record(repo: Path) -> dict:
    return json.loads((_state(repo) / "approved.json").read_text())


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _legacy_record(env_text: str) -> dict:
    """approved.json as grove wrote it before the digests were keyed."""
    from grove import envfile

    data = env_text.encode()
    keys = {
        k: hashlib.sha256(f"{k}\0{v}".encode()).hexdigest()[:16]
        for k, v in envfile.parse_text(env_text).items()
    }
    return {
        "approved_at": 1700000000.0,
        "files": {".env": {"sha256": hashlib.sha256(data).hexdigest(), "keys": keys}},
    }


def test_the_record_and_its_key_are_0600(repo: Path, grove) -> None:
    grove("create")
    for name in ("approved.json", "approval.key"):
        assert _mode(_state(repo) / name) == 0o600, name
    (repo / ".env").write_text("API_KEY=sk_test_rotated0000000\n")
    grove("env", "approve")
    for name in ("approved.json", "approval.key"):
        assert _mode(_state(repo) / name) == 0o600, name
    assert _record(repo)["scheme"] == "hmac-sha256"


def test_a_pin_cannot_be_recovered_from_the_record_without_the_key(repo: Path, grove) -> None:
    (repo / ".env").write_text(f"DOOR_PIN={PIN}\n")
    grove("env", "approve")
    stored = _record(repo)["files"][".env"]["keys"]["DOOR_PIN"]
    guesses = [f"{n:05d}" for n in range(100_000)]
    # The attack that worked on the old record finds nothing now...
    plain = {hashlib.sha256(f"DOOR_PIN\0{g}".encode()).hexdigest(): g for g in guesses}
    assert not any(stored.startswith(h[:16]) or stored == h for h in plain)
    assert PIN not in json.dumps(_record(repo))
    # ... and the same search succeeds only with the key, kept 0600 beside the record.
    key = bytes.fromhex((_state(repo) / "approval.key").read_text().strip())

    def mac(guess: str) -> str:
        return hmac.new(key, b"key\0DOOR_PIN\0" + guess.encode(), hashlib.sha256).hexdigest()

    assert [g for g in guesses if mac(g) == stored] == [PIN]


def test_the_same_value_in_two_repositories_gives_different_digests(
    repo: Path, grove, tmp_path: Path
) -> None:
    other = make_repo(tmp_path / "elsewhere")
    write_config(other, "")
    for main_dir in (repo, other):
        (main_dir / ".env").write_text(f"DOOR_PIN={PIN}\n")
        assert grove("env", "approve", cwd=main_dir).code == 0
    first, second = _record(repo), _record(other)
    assert first["files"][".env"]["keys"]["DOOR_PIN"] != second["files"][".env"]["keys"]["DOOR_PIN"]
    assert first["files"][".env"]["digest"] != second["files"][".env"]["digest"]


def test_no_file_under_the_state_folder_holds_a_shared_value_or_its_plain_hash(
    repo: Path, grove
) -> None:
    secret = "sk_test_" + "q" * 24
    (repo / ".env").write_text(f"API_KEY={secret}\nDOOR_PIN={PIN}\n")
    write_config(repo, '[setup]\nrun = ["true"]\n')
    grove("create")
    grove("take", "--label", "task")
    plain = [
        hashlib.sha256(f"{k}\0{v}".encode()).hexdigest()[:16]
        for k, v in (("API_KEY", secret), ("DOOR_PIN", PIN))
    ]
    for path in _state(repo).rglob("*"):
        if path.is_file():
            text = path.read_bytes().decode("utf-8", errors="replace")
            assert secret not in text and f"={PIN}" not in text, path
            assert not any(h in text for h in plain), path


def test_an_old_record_of_the_current_files_is_rewritten_keyed(repo: Path, grove) -> None:
    grove("create")
    text = (repo / ".env").read_text()
    legacy = _legacy_record(text)
    (_state(repo) / "approved.json").write_text(json.dumps(legacy))
    findings = grove("validate", "--json").json["findings"]
    assert [(f["check"], f["level"]) for f in findings] == [("env.approval-unkeyed", "warning")]

    refreshed = grove("refresh", "1")
    assert refreshed.code == 0, refreshed.err
    assert "rewrote approved.json with keyed digests" in refreshed.err
    record = _record(repo)
    assert record["scheme"] == "hmac-sha256"
    old_digests = {legacy["files"][".env"]["sha256"], *legacy["files"][".env"]["keys"].values()}
    assert not old_digests & {
        record["files"][".env"]["digest"],
        *record["files"][".env"]["keys"].values(),
    }
    assert _mode(_state(repo) / "approved.json") == 0o600
    assert grove("validate", "--json").json["findings"] == []


def test_an_old_record_of_other_files_needs_approval_and_is_never_taken_as_one(
    repo: Path, grove
) -> None:
    grove("create")
    legacy = _legacy_record("API_KEY=sk_test_devkey1234567890\nFEATURE_X=off\nGONE=1\n")
    raw = json.dumps(legacy)
    (_state(repo) / "approved.json").write_text(raw)

    refused = grove("refresh", "1", "--json")
    assert refused.code == 1
    message = refused.json["error"]["message"]
    assert "removed GONE; changed FEATURE_X" in message
    assert "older grove" in message
    assert (_state(repo) / "approved.json").read_text() == raw  # left for a person

    findings = grove("validate", "--json").json["findings"]
    assert sorted((f["check"], f["level"]) for f in findings) == [
        ("env.approval-unkeyed", "warning"),
        ("env.changed-since-approval", "error"),
    ]
    approved = grove("env", "approve", "--json")
    assert approved.code == 0
    assert approved.json["changes"][0]["changed"] == ["FEATURE_X"]
    assert _record(repo)["scheme"] == "hmac-sha256"
    assert grove("refresh", "1").code == 0


def test_a_lost_key_is_damaged_state_and_approve_repairs_it(repo: Path, grove) -> None:
    grove("create")
    (_state(repo) / "approval.key").unlink()
    for args in (("validate", "--json"), ("refresh", "1", "--json")):
        result = grove(*args)
        assert result.code == 2, args
        assert result.json["error"]["code"] == "damaged-state"
        assert "grove env approve" in result.json["error"]["hint"]
    assert grove("env", "approve").code == 0
    assert _mode(_state(repo) / "approval.key") == 0o600
    assert grove("validate", "--json").json["findings"] == []


def test_a_damaged_key_is_refused_and_never_printed(repo: Path, grove) -> None:
    grove("create")
    (_state(repo) / "approval.key").write_text("not-a-key-but-a-secret\n")
    result = grove("refresh", "1", "--json")
    assert result.code == 2
    assert result.json["error"]["code"] == "damaged-state"
    assert "not-a-key-but-a-secret" not in result.out
