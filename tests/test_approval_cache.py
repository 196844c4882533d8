"""The approval check answered from state/digests (approval.known_unchanged): a take whose
shared files, approval record and key are as they were when last found approved skips the
parse and the HMACs. No change to any of the three may hide behind it."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from conftest import imported_by, write_config


@pytest.fixture
def approved(repo: Path, grove, monkeypatch: pytest.MonkeyPatch) -> Path:
    """main with a shared .env, approved by the first create, the answer kept at once (the
    real rule keeps nothing younger than 3 s: every file here is)."""
    from grove.state import digests

    monkeypatch.setattr(digests, "SETTLED_NS", -1)
    write_config(repo, "[grove]\nslots = 4\n")
    made = grove("create", "--json", cwd=repo)
    assert made.code == 0, made.err
    monkeypatch.chdir(repo)
    return repo


def _known(repo: Path) -> bool:
    from grove import approval
    from grove.slots import open_grove

    return approval.known_unchanged(open_grove())


def _refused(grove, repo: Path) -> bool:
    result = grove("take", "--json", cwd=repo)
    if result.code == 0:
        grove("release", str(result.json["slot"]), "--json", cwd=repo)
        return False
    assert result.json["error"]["code"] == "unapproved", result.out
    return True


def test_a_take_of_unchanged_approved_files_loads_no_hashing(
    approved: Path,
) -> None:
    assert _known(approved)  # checked in full once, and kept
    heavy = {"hashlib", "hmac", "_hashlib"}
    loaded = imported_by(approved, "take", "--branch", "task-1", "--label", "t", "--json")
    assert "grove.lifecycle.take" in loaded  # the probe ran a take
    assert sorted(loaded & heavy) == []
    # Without the kept answer, the same take checks in full (so the probe can tell).
    (approved / ".git" / "grove" / "digests.json").unlink()
    loaded = imported_by(approved, "take", "--branch", "task-2", "--label", "t", "--json")
    assert {"hmac", "hashlib"} <= loaded


def test_a_same_size_rewrite_with_the_old_mtime_is_still_refused(approved: Path, grove) -> None:
    assert _known(approved)
    env_file = approved / ".env"
    before = env_file.stat()
    text = env_file.read_text()
    assert "=" in text
    key, _, rest = text.partition("=")
    tampered = f"{key}={'x' * len(rest.rstrip())}{rest[len(rest.rstrip()) :]}"
    assert len(tampered) == len(text) and tampered != text
    env_file.write_text(tampered)
    os.utime(env_file, ns=(before.st_atime_ns, before.st_mtime_ns))  # ctime still moves
    assert not _known(approved)
    assert _refused(grove, approved)


def test_a_changed_record_is_checked_again(approved: Path, grove) -> None:
    assert _known(approved)
    record = approved / ".git" / "grove" / "approved.json"
    data = json.loads(record.read_text())
    data["files"][".env"]["digest"] = "0" * 64  # approves other bytes than main's .env
    record.write_text(json.dumps(data))
    assert not _known(approved)
    assert _refused(grove, approved)


def test_a_new_key_is_checked_again(approved: Path, grove) -> None:
    assert _known(approved)
    key = approved / ".git" / "grove" / "approval.key"
    mode = key.stat().st_mode
    key.write_text(os.urandom(32).hex() + "\n")  # every recorded HMAC now differs
    key.chmod(mode)
    assert not _known(approved)
    assert _refused(grove, approved)


def test_an_approved_change_is_known_again_once_approved(approved: Path, grove) -> None:
    env_file = approved / ".env"
    env_file.write_text(env_file.read_text() + "NEW_FLAG=1\n")
    assert not _known(approved)
    assert _refused(grove, approved)
    assert grove("env", "approve", "--json", cwd=approved).code == 0
    assert _known(approved)
    assert not _refused(grove, approved)
