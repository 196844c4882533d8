"""grove secrets pull, against small stub CLIs on PATH (the real ones cannot be installed here).

The stubs stand in for `doppler secrets download --no-file --format env` and the like: they
print what the real CLI would, or fail the way it would.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from conftest import write_config

LIVE = "sk_live_" + "4eC39HqLyjWDarjtT1zdp7dc"


@pytest.fixture
def stub_bin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "stub-bin"
    folder.mkdir()
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ['PATH']}")
    return folder


def stub(folder: Path, name: str, body: str) -> None:
    path = folder / name
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


def configure(repo: Path) -> None:
    write_config(repo, '[secrets]\npull = "doppler secrets download --no-file --format env"\n')


def test_pull_replaces_the_shared_file_keeps_a_backup_and_approves(
    repo: Path, grove, stub_bin: Path
) -> None:
    configure(repo)
    grove("create")
    old = (repo / ".env").read_text()
    stub(stub_bin, "doppler", 'echo "API_KEY=sk_test_rotated0987654321"\necho "NEW_FLAG=1"\n')
    result = grove("secrets", "pull", "--json")
    assert result.code == 0, result.out
    assert (repo / ".env").read_text() == "API_KEY=sk_test_rotated0987654321\nNEW_FLAG=1\n"
    assert stat.S_IMODE((repo / ".env").stat().st_mode) == 0o600
    backup = Path(result.json["backup"])
    assert backup.read_text() == old
    assert result.json["change"] == {
        "file": ".env",
        "added": ["NEW_FLAG"],
        "removed": ["FEATURE_X"],
        "changed": ["API_KEY"],
    }
    # the rotation reaches the slot through its link, and the new state is approved
    slot_env = repo.parent / "myproject-wt1" / ".env"
    assert slot_env.is_symlink()
    assert "rotated" in slot_env.read_text()
    assert grove("validate", "--json").json["findings"] == []


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("echo 'Error: not logged in' >&2\nexit 1\n", "exited with 1"),
        ('echo \'{"API_KEY": "x"}\'\n', "not KEY=value"),
        ("true\n", "no KEY=value lines"),
        (f"echo 'OK=1'\necho 'STRIPE_SECRET_KEY={LIVE}'\n", "production secrets"),
    ],
    ids=["command-fails", "json-not-dotenv", "empty", "production-secret"],
)
def test_a_bad_pull_changes_nothing(
    repo: Path, grove, stub_bin: Path, body: str, expected: str
) -> None:
    configure(repo)
    grove("create")
    before = (repo / ".env").read_bytes()
    stub(stub_bin, "doppler", body)
    result = grove("secrets", "pull", "--json")
    assert result.code == 1
    assert expected in result.json["error"]["message"]
    assert LIVE not in result.out
    assert (repo / ".env").read_bytes() == before
    assert not list(repo.glob(".env.grove-backup-*"))
    assert grove("validate", "--json").json["ok"] is True


def test_pull_without_config_is_a_config_error(repo: Path, grove) -> None:
    result = grove("secrets", "pull", "--json")
    assert result.code == 2
    assert "[secrets] pull is not set" in result.json["error"]["message"]


def test_pull_into_a_named_shared_file(repo: Path, grove, stub_bin: Path) -> None:
    write_config(
        repo,
        """
[env]
shared = [".env", ".env.shared"]
[secrets]
pull = "op inject -i .env.tpl"
file = ".env.shared"
""",
    )
    stub(stub_bin, "op", 'echo "DB_PASSWORD=dev-only-password"\n')
    result = grove("secrets", "pull", "--json")
    assert result.code == 0, result.out
    assert (repo / ".env.shared").read_text() == "DB_PASSWORD=dev-only-password\n"
    assert result.json["backup"] is None
