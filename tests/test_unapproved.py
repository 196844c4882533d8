"""grove runs no step while the shared files have unapproved changes (issue 13, deliverable
4): an agent's write to `.env` through its slot's link must not steer the next command."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from conftest import git, grove_process, write_config


def _program(folder: Path, name: str, marker: Path) -> None:
    """A program that says it ran by appending its folder's name to `marker`."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(f'#!/bin/sh\necho {folder.name} >> "{marker}"\n')
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


def _tamper(repo: Path, text: str) -> None:
    """What an agent in slot 1 does: append to the shared file through its link."""
    link = repo.parent / "myproject-wt1" / ".env"
    assert link.is_symlink()
    with link.open("a") as handle:
        handle.write(text)


def test_an_agents_path_in_the_shared_file_never_runs_its_npm(
    repo: Path, grove, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    marker = tmp_path / "ran.txt"
    trusted, evil = tmp_path / "trusted-bin", tmp_path / "agent-bin"
    _program(trusted, "npm", marker)
    _program(evil, "npm", marker)
    monkeypatch.setenv("PATH", f"{trusted}{os.pathsep}{os.environ['PATH']}")
    write_config(repo, '[refresh]\nrun = ["npm run build"]\n')
    grove("create")
    assert not marker.exists()  # creating a slot runs no [refresh] step
    _tamper(repo, f"PATH={evil}{os.pathsep}{os.environ['PATH']}\n")

    refused = grove("refresh", "0", "--json")
    assert refused.code == 1
    error = refused.json["error"]
    assert error["code"] == "unapproved"
    assert "added PATH" in error["message"]
    assert str(evil) not in refused.out + refused.err  # key names, never values
    assert "grove env approve" in error["hint"]
    assert error["changes"] == [{"file": ".env", "added": ["PATH"], "removed": [], "changed": []}]
    assert not marker.exists()  # nothing ran

    # Overridden, refresh runs its step, with the user's PATH: the agent's npm stays idle.
    forced = grove("refresh", "0", "--allow-unapproved")
    assert forced.code == 0, forced.err
    assert "warning: --allow-unapproved" in forced.err
    assert "PATH" in forced.err
    assert marker.read_text().split() == ["trusted-bin"]

    # Approving the file does not make its PATH count either: validate calls it an error.
    assert grove("env", "approve").code == 0
    marker.unlink()
    assert grove("refresh", "0").code == 0
    assert marker.read_text().split() == ["trusted-bin"]
    finding = next(f for f in grove("validate", "--json").json["findings"] if f["level"] == "error")
    assert finding["check"] == "env.protected-variable"


def test_the_refusal_in_text_names_the_keys_and_the_fix(repo: Path, grove) -> None:
    grove("create")
    _tamper(repo, "NODE_OPTIONS=--require=/tmp/x.js\nAPI_KEY=sk_test_swapped000000\n")
    refused = grove("refresh", "1")
    assert refused.code == 1
    assert refused.out == ""
    assert "added NODE_OPTIONS; changed API_KEY" in refused.err
    assert "hint:" in refused.err and "`grove env approve`" in refused.err
    assert "/tmp/x.js" not in refused.err and "swapped" not in refused.err


def _pull_config(repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "stub-bin"
    folder.mkdir()
    (folder / "vault-cli").write_text("#!/bin/sh\necho API_KEY=sk_test_pulled1234567890\n")
    (folder / "vault-cli").chmod(0o755)
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ['PATH']}")
    write_config(repo, '[secrets]\npull = "vault-cli"\n')


# Each command that runs steps, and how to see that it did nothing when refused.
COMMANDS: dict[str, tuple[str, ...]] = {
    "create": ("create",),
    "refresh": ("refresh", "1"),
    "take": ("take", "--label", "task"),
    "switch": ("switch", "1", "feature"),
    "release --reset": ("release", "1", "--reset"),
    "exec": ("exec", "1", "--json", "--", "true"),
    "compose": ("compose", "1", "--json", "--", "ps"),
    "secrets pull": ("secrets", "pull"),
}


@pytest.mark.parametrize("name", list(COMMANDS))
def test_each_command_that_runs_steps_refuses_then_runs_with_the_override(
    repo: Path,
    grove,
    name: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    fake_docker: Path,
) -> None:
    if name == "secrets pull":
        _pull_config(repo, tmp_path, monkeypatch)
    grove("create")
    slot = repo.parent / "myproject-wt1"
    head = git(slot, "rev-parse", "HEAD")
    _tamper(repo, "LD_PRELOAD=/tmp/evil.so\n")
    shared_before = (repo / ".env").read_bytes()
    args = COMMANDS[name]
    json_args = args if "--json" in args else (*args, "--json")

    # exec and compose hand the child their stderr's descriptor: a real process, not capsys
    run = (lambda *a: grove_process(*a, cwd=repo)) if "--" in args else grove
    refused = run(*json_args)
    assert refused.code == 1, refused.out
    assert refused.json["error"]["code"] == "unapproved"
    assert "added LD_PRELOAD" in refused.json["error"]["message"]
    assert "/tmp/evil.so" not in refused.out + refused.err
    # refused before anything happened
    assert not (repo.parent / "myproject-wt2").exists()
    assert not (repo / ".git" / "grove" / "leases" / "1.json").exists()
    assert git(slot, "rev-parse", "HEAD") == head
    assert git(slot, "branch", "--show-current").strip() == ""
    assert (repo / ".env").read_bytes() == shared_before
    assert not fake_docker.exists()

    at = json_args.index("--") if "--" in json_args else len(json_args)
    allowed = run(*json_args[:at], "--allow-unapproved", *json_args[at:])
    assert allowed.code == 0, allowed.out + allowed.err
    assert "warning: --allow-unapproved" in allowed.err
    assert "LD_PRELOAD" in allowed.err and "/tmp/evil.so" not in allowed.err


def test_refused_create_writes_nothing_and_dry_run_says_what_it_would_refuse(
    repo: Path, grove
) -> None:
    grove("create")
    _tamper(repo, "GIT_SSH_COMMAND=evil\n")
    state = repo / ".git" / "grove"
    before = sorted(p.name for p in state.rglob("*") if p.suffix != ".lock")
    assert grove("create", "--json").code == 1
    assert sorted(p.name for p in state.rglob("*") if p.suffix != ".lock") == before
    preview = grove("refresh", "1", "--dry-run", "--json")
    assert preview.code == 0
    assert any("GIT_SSH_COMMAND" in note and "refuse" in note for note in preview.json["notes"])


def test_switch_force_does_not_pass_unapproved_changes(repo: Path, grove) -> None:
    """--force on switch means "a slot another task holds"; it is not the approval override."""
    grove("create")
    _tamper(repo, "EXTRA=1\n")
    result = grove("switch", "1", "feature", "--force", "--json")
    assert result.code == 1
    assert result.json["error"]["code"] == "unapproved"
    assert "--allow-unapproved" in result.json["error"]["hint"]


def test_the_override_is_refused_where_it_would_do_nothing(repo: Path, grove) -> None:
    grove("create")
    grove("take", "--label", "t")
    result = grove("release", "1", "--allow-unapproved", "--json")
    assert result.code == 2
    assert "only applies with --reset" in result.json["error"]["message"]
    result = grove("refresh", "1", "--dry-run", "--allow-unapproved", "--json")
    assert result.code == 2
    assert "no effect with --dry-run" in result.json["error"]["message"]


def test_take_here_refuses_too(repo: Path, grove) -> None:
    grove("create")
    _tamper(repo, "BASH_ENV=/tmp/rc\n")
    slot = repo.parent / "myproject-wt1"
    refused = grove("take", "--here", "--json", cwd=slot)
    assert refused.json["error"]["code"] == "unapproved"
    assert not (repo / ".git" / "grove" / "leases" / "1.json").exists()
    assert grove("take", "--here", "--allow-unapproved", cwd=slot).code == 0


def test_once_approved_the_commands_run_again(repo: Path, grove) -> None:
    grove("create")
    _tamper(repo, "NEW_FLAG=1\n")
    assert grove("refresh", "1").code == 1
    assert grove("env", "approve").code == 0
    assert grove("refresh", "1").code == 0
    assert grove_process("exec", "1", "--", "true", cwd=repo).code == 0


def test_without_any_approval_it_is_first_use(repo: Path, grove) -> None:
    """No record yet: exec passes and validate warns; create records the state and says so."""
    created = grove("create", "--json")
    assert any("recorded the shared files" in n for n in created.json["notes"])
    (repo / ".git" / "grove" / "approved.json").unlink()
    _tamper(repo, "LATER=1\n")
    assert grove_process("exec", "1", "--", "true", cwd=repo).code == 0
    findings = grove("validate", "--json").json["findings"]
    assert ("env.not-approved", "warning") in [(f["check"], f["level"]) for f in findings]
    refreshed = grove("refresh", "1", "--json")
    assert refreshed.code == 0
    assert any("recorded the shared files" in n for n in refreshed.json["notes"])


def test_edit_and_pull_approve_only_their_own_file(
    repo: Path, grove, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "stub-bin"
    folder.mkdir()
    (folder / "vault-cli").write_text("#!/bin/sh\necho API_KEY=sk_test_pulled1234567890\n")
    (folder / "vault-cli").chmod(0o755)
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ['PATH']}")
    (repo / ".env.team").write_text("TEAM=1\n")
    (repo / ".gitignore").write_text(".env\n.env.team\n.env.local\n")
    write_config(repo, '[env]\nshared = [".env", ".env.team"]\n[secrets]\npull = "vault-cli"\n')
    grove("create")
    (repo.parent / "myproject-wt1" / ".env.team").write_text("TEAM=1\nSNEAKY=1\n")
    pulled = grove("secrets", "pull", "--allow-unapproved", "--json")
    assert pulled.code == 0, pulled.out
    findings = grove("validate", "--json").json["findings"]
    changed = [f["message"] for f in findings if f["check"] == "env.changed-since-approval"]
    assert changed == [".env.team changed: added SNEAKY"]

    monkeypatch.setenv("VISUAL", "true")  # saves the file as it is
    assert grove("env", "edit", "--file", ".env", "--json").code == 0
    findings = grove("validate", "--json").json["findings"]
    assert [f["message"] for f in findings if f["check"] == "env.changed-since-approval"] == [
        ".env.team changed: added SNEAKY"
    ]
    assert grove("refresh", "1", "--json").json["error"]["code"] == "unapproved"


@pytest.mark.parametrize(
    "args",
    [("db", "start", "1"), ("db", "reset", "1"), ("db", "reseed")],
    ids=["db start", "db reset", "db reseed"],
)
def test_database_commands_that_run_the_seed_or_migrations_refuse(
    repo: Path, grove, args: tuple[str, ...]
) -> None:
    """A start can build the template (the seed), a reset migrates, a reseed seeds: each
    refuses before touching PostgreSQL, so this runs without a server."""
    grove("create")
    _tamper(repo, "PATH=/tmp/agent-bin\n")
    write_config(repo, '[database]\nseed = ["psql -c \\"select 1\\""]\n')
    refused = grove(*args, "--json")
    assert refused.code == 1, refused.out
    assert refused.json["error"]["code"] == "unapproved"
    assert "added PATH" in refused.json["error"]["message"]
    assert not (repo / ".git" / "grove" / "pg" / "template").exists()
    assert f"{' '.join(args)} --allow-unapproved" in refused.json["error"]["hint"]
