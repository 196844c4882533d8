"""grove agents install/uninstall: real parsers check every file; round trips are exact."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from conftest import commit_all

SKILLS = ["create-worktree", "refresh-worktrees", "validate-worktrees", "worktree-status"]
USER_SETTINGS = """{
    "model": "opus",
    "env": {"FOO": "bar"},
    "permissions": {"allow": ["Bash(npm test)"], "deny": ["Read(./secrets/**)"]},
    "hooks": {"PreToolUse": [{"matcher": "Bash", "hooks": [{"type": "command", "command": "x"}]}]}
}
"""


def files_of(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and ".git" not in p.relative_to(root).parts
    }


def frontmatter(path: Path) -> dict:
    text = path.read_text()
    assert text.startswith("---\n")
    head, _, body = text[4:].partition("\n---\n")
    data = yaml.safe_load(head)
    assert isinstance(data, dict)
    data["__body__"] = body
    return data


def test_skills_have_valid_frontmatter_and_exact_commands(repo: Path, grove) -> None:
    assert grove("agents", "install", "claude").code == 0
    for name in SKILLS:
        meta = frontmatter(repo / ".claude" / "skills" / name / "SKILL.md")
        assert meta["name"] == name
        assert re.fullmatch(r"[a-z0-9-]{1,64}", meta["name"])
        assert 0 < len(meta["description"]) <= 1024
        assert "Use " in meta["description"] or "use " in meta["description"]
        tools = [t.strip() for t in meta["allowed-tools"].split(",")]
        assert tools
        assert all(t.startswith("Bash(grove ") for t in tools), tools
        body = meta["__body__"]
        assert "--json" in body
        assert "## When it fails" in body
        blocks = "\n".join(re.findall(r"```sh\n(.*?)```", body, flags=re.DOTALL))
        commands = re.findall(r"^grove [a-z]+", blocks, flags=re.MULTILINE)
        assert commands
        for command in commands:  # every command the body gives is one the skill may run
            assert f"Bash({command})" in tools or f"Bash({command} *)" in tools


def test_settings_merge_keeps_user_keys_and_adds_the_profile(repo: Path, grove) -> None:
    (repo / ".claude").mkdir()
    (repo / ".claude" / "settings.json").write_text(USER_SETTINGS)
    assert grove("agents", "install", "claude").code == 0
    data = json.loads((repo / ".claude" / "settings.json").read_text())
    assert data["model"] == "opus"
    assert data["env"] == {"FOO": "bar"}
    assert data["hooks"]["PreToolUse"] == json.loads(USER_SETTINGS)["hooks"]["PreToolUse"]
    allow, deny = data["permissions"]["allow"], data["permissions"]["deny"]
    assert allow[0] == "Bash(npm test)"
    for command in ("list", "peek", "env", "validate", "db status"):
        assert f"Bash(grove {command} *)" in allow
    assert "Bash(grove create *)" not in allow
    assert {"Read(./secrets/**)", "Edit(./.env)", "Edit(./grove.toml)"} <= set(deny)
    assert "Bash(grove env approve *)" in deny
    assert not any(rule.startswith("Write(") for rule in deny)
    assert "Read(./.env)" not in deny
    create = data["hooks"]["WorktreeCreate"][0]["hooks"][0]
    assert create == {"type": "command", "command": "grove agents hook worktree-create"}
    remove = data["hooks"]["WorktreeRemove"][0]["hooks"][0]
    assert remove["command"] == "grove agents hook worktree-remove"


def test_strict_profile_also_denies_reading_the_shared_files(repo: Path, grove) -> None:
    grove("agents", "install", "claude", "--profile", "strict")
    deny = json.loads((repo / ".claude" / "settings.json").read_text())["permissions"]["deny"]
    assert "Read(./.env)" in deny
    assert "Bash(grove env --reveal*)" in deny


def test_an_unparsable_settings_file_is_an_error_and_nothing_is_written(repo: Path, grove) -> None:
    (repo / ".claude").mkdir()
    (repo / ".claude" / "settings.json").write_text('{"model": "opus",}\n')
    before = files_of(repo)
    result = grove("agents", "install", "--json")
    assert result.code == 2
    assert ".claude/settings.json: not valid JSON" in result.json["error"]["message"]
    assert files_of(repo) == before


def test_agents_md_section_keeps_user_text_and_tells_agents_their_ports(repo: Path, grove) -> None:
    (repo / "AGENTS.md").write_text("# House rules\n\nRun the tests.\n")
    grove("agents", "install", "codex")
    text = (repo / "AGENTS.md").read_text()
    assert text.startswith("# House rules\n\nRun the tests.\n")
    assert "<!-- >>> grove:" in text
    assert text.rstrip().endswith("<!-- <<< grove -->")
    assert "grove env --format json" in text
    for command in ("grove take", "grove list", "grove peek", "grove validate", "grove refresh"):
        assert command in text
    assert not (repo / ".claude").exists()


def test_cursor_and_gemini_files(repo: Path, grove) -> None:
    grove("agents", "install", "cursor", "gemini")
    cursor = json.loads((repo / ".cursor" / "worktrees.json").read_text())
    assert cursor["setup-worktree-unix"] == ["grove take --here --label cursor"]
    assert cursor["setup-worktree"] == ["grove take --here --label cursor"]
    gemini = json.loads((repo / ".gemini" / "settings.json").read_text())
    assert gemini["context"]["fileName"] == ["AGENTS.md", "GEMINI.md"]
    assert (repo / "AGENTS.md").exists()


def test_second_install_changes_nothing_and_says_so(repo: Path, grove) -> None:
    first = grove("agents", "install", "--json").json
    assert len(first["changed"]) == 8
    again = grove("agents", "install", "--json").json
    assert again["changed"] == []
    assert len(again["unchanged"]) == 8
    assert grove("agents", "install").out.startswith("nothing to change")


def test_dry_run_shows_the_diff_and_writes_nothing(repo: Path, grove) -> None:
    before = files_of(repo)
    result = grove("agents", "install", "--dry-run", "--json").json
    assert files_of(repo) == before
    settings = next(c for c in result["changed"] if c["path"] == ".claude/settings.json")
    assert settings["action"] == "create"
    assert '+    "allow": [' in settings["diff"]
    assert "+++ b/.claude/settings.json" in grove("agents", "install", "--dry-run").out


@pytest.mark.parametrize("agents", [[], ["claude"], ["codex", "cursor"]])
def test_install_then_uninstall_leaves_the_repo_byte_identical(
    repo: Path, grove, agents: list[str]
) -> None:
    (repo / ".claude").mkdir()
    (repo / ".claude" / "settings.json").write_text(USER_SETTINGS)  # odd formatting on purpose
    (repo / "AGENTS.md").write_text("# Mine\n\nno trailing newline")
    commit_all(repo, "agent files")
    before = files_of(repo)
    assert grove("agents", "install", *agents).code == 0
    assert files_of(repo) != before
    result = grove("agents", "uninstall", "--json")
    assert result.code == 0
    assert files_of(repo) == before
    assert sorted(p.name for p in (repo / ".claude").iterdir()) == ["settings.json"]
    assert not (repo / ".cursor").exists()


def test_uninstall_after_user_edits_removes_only_groves_entries(repo: Path, grove) -> None:
    grove("agents", "install", "claude")
    settings = repo / ".claude" / "settings.json"
    data = json.loads(settings.read_text())
    data["permissions"]["allow"].append("Bash(make lint)")
    data["theme"] = "dark"
    settings.write_text(json.dumps(data))
    grove("agents", "uninstall")
    left = json.loads(settings.read_text())
    assert left == {"permissions": {"allow": ["Bash(make lint)"]}, "theme": "dark"}
    assert not (repo / ".claude" / "skills").exists()


def test_unknown_agent_is_a_usage_error(repo: Path, grove) -> None:
    result = grove("agents", "install", "copilot", "--json")
    assert result.code == 2
    assert "unknown agent 'copilot'" in result.json["error"]["message"]


# --- per-agent profiles (issue 18, deliverable 3) ----------------------------------------


def claude_permissions(repo: Path) -> dict:
    return json.loads((repo / ".claude" / "settings.json").read_text())["permissions"]


def test_claude_reviewer_is_read_only_and_agents_md_names_each_profile(repo: Path, grove) -> None:
    result = grove("agents", "install", "claude=reviewer", "codex", "--json")
    assert result.code == 0, result.out
    assert set(result.json) == {
        "action", "agents", "profile", "profiles", "dry_run", "changed", "unchanged", "notes"
    }  # fmt: skip
    assert result.json["agents"] == ["claude", "codex"]
    assert result.json["profiles"] == {"claude": "reviewer", "codex": "default"}
    permissions = claude_permissions(repo)
    deny, allow = permissions["deny"], permissions["allow"]
    assert {"Edit", "Write", "NotebookEdit"} <= set(deny)  # every file-editing tool
    for command in ("take", "release", "remove", "switch", "db reset", "secrets export"):
        assert f"Bash(grove {command} *)" in deny, command
    assert "Bash(grove env --reveal*)" in deny and "Read(./.env)" in deny
    assert "Bash(git commit *)" in deny and "Bash(git push *)" in deny
    assert "Bash(grove list *)" in allow and "Bash(grove up *)" not in allow
    assert len(deny) == len(set(deny))
    text = (repo / "AGENTS.md").read_text()
    assert "- **claude**: `reviewer`: read-only" in text
    assert "- **codex**: `default`:" in text
    assert not (repo / ".codex").exists()  # codex's default profile needs no file of its own
    manifest = json.loads((repo / ".git" / "grove" / "agents.json").read_text())
    assert manifest["profiles"] == {"claude": "reviewer", "codex": "default"}


def test_the_profile_option_gives_one_agent_or_all_of_them(repo: Path, grove) -> None:
    result = grove("agents", "install", "--profile", "strict", "--profile", "claude=reviewer")
    assert result.code == 0, result.err
    assert "profiles: claude reviewer, codex strict, cursor strict, gemini strict" in result.out
    assert "Edit" in claude_permissions(repo)["deny"]
    gemini = json.loads((repo / ".gemini" / "settings.json").read_text())
    assert "run_shell_command(grove env --reveal)" in gemini["tools"]["exclude"]
    assert "write_file" not in gemini["tools"]["exclude"]  # strict reads, writes; not reviewer
    assert json.loads((repo / ".cursor" / "cli.json").read_text()) == {
        "permissions": {"deny": ["Read(.env)"]}
    }
    text = (repo / "AGENTS.md").read_text()
    assert "- **gemini**: `strict`:" in text and "- **claude**: `reviewer`:" in text


def test_old_strict_profile_still_applies_to_every_agent(repo: Path, grove) -> None:
    result = grove("agents", "install", "--profile", "strict", "--json")
    assert result.code == 0
    assert result.json["profile"] == "strict"
    assert set(result.json["profiles"].values()) == {"strict"}
    deny = claude_permissions(repo)["deny"]
    assert "Read(./.env)" in deny and "Edit" not in deny


def test_reviewer_for_codex_gemini_and_cursor_uses_each_ones_own_format(repo: Path, grove) -> None:
    import tomllib

    (repo / ".codex").mkdir()
    (repo / ".codex" / "config.toml").write_text('model = "o3"\n\n[tools]\nweb_search = true\n')
    commit_all(repo, "codex config")
    before = files_of(repo)
    assert (
        grove("agents", "install", "codex=reviewer", "gemini=reviewer", "cursor=reviewer").code == 0
    )
    codex = tomllib.loads((repo / ".codex" / "config.toml").read_text())
    assert codex == {"sandbox_mode": "read-only", "model": "o3", "tools": {"web_search": True}}
    gemini = json.loads((repo / ".gemini" / "settings.json").read_text())["tools"]["exclude"]
    assert {"write_file", "replace", "run_shell_command(grove take)"} <= set(gemini)
    cursor = json.loads((repo / ".cursor" / "cli.json").read_text())["permissions"]["deny"]
    assert "Write(**)" in cursor
    assert grove("agents", "uninstall").code == 0
    assert files_of(repo) == before


def test_a_change_of_profile_leaves_nothing_of_the_old_one(repo: Path, grove) -> None:
    assert grove("agents", "install", "claude=reviewer", "codex=reviewer").code == 0
    assert grove("agents", "install", "claude", "codex").code == 0
    deny = claude_permissions(repo)["deny"]
    assert "Edit" not in deny and "Bash(grove take *)" not in deny
    assert "Bash(grove up *)" in claude_permissions(repo)["allow"]
    assert not (repo / ".codex" / "config.toml").exists()
    assert "`reviewer`" not in (repo / "AGENTS.md").read_text()
    assert grove("agents", "install", "claude", "codex", "--json").json["changed"] == []


def test_installing_one_agent_keeps_the_others_profiles_in_agents_md(repo: Path, grove) -> None:
    assert grove("agents", "install", "codex=reviewer").code == 0
    assert grove("agents", "install", "claude=strict").code == 0
    text = (repo / "AGENTS.md").read_text()
    assert "- **codex**: `reviewer`:" in text and "- **claude**: `strict`:" in text


def test_uninstall_removes_exactly_the_reviewer_rules_after_user_edits(repo: Path, grove) -> None:
    (repo / ".claude").mkdir()
    (repo / ".claude" / "settings.json").write_text(USER_SETTINGS)
    grove("agents", "install", "claude=reviewer", "codex=reviewer")
    settings = repo / ".claude" / "settings.json"
    data = json.loads(settings.read_text())
    data["permissions"]["deny"].append("Bash(rm -rf *)")
    settings.write_text(json.dumps(data))
    codex = repo / ".codex" / "config.toml"
    codex.write_text(codex.read_text() + 'model = "o3"\n')  # the user's own line
    assert grove("agents", "uninstall").code == 0
    left = json.loads(settings.read_text())["permissions"]
    assert left == {"allow": ["Bash(npm test)"], "deny": ["Read(./secrets/**)", "Bash(rm -rf *)"]}
    assert codex.read_text() == 'model = "o3"\n'


def test_a_users_own_codex_sandbox_is_never_changed(repo: Path, grove) -> None:
    (repo / ".codex").mkdir()
    (repo / ".codex" / "config.toml").write_text('sandbox_mode = "workspace-write"\n')
    before = files_of(repo)
    result = grove("agents", "install", "codex=reviewer", "--json")
    assert result.code == 2
    assert "sandbox_mode is already set" in result.json["error"]["message"]
    assert files_of(repo) == before


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["claude=reviwer"], "'claude=reviwer'"),
        (["--profile", "claude=admin"], "'--profile claude=admin'"),
        (["--profile", "lenient"], "'--profile lenient'"),
        (["copilot=reviewer"], "'copilot=reviewer'"),
    ],
)
def test_a_bad_profile_argument_is_a_usage_error_naming_it(
    repo: Path, grove, args: list[str], named: str
) -> None:
    before = files_of(repo)
    result = grove("agents", "install", *args, "--json")
    assert result.code == 2
    assert named in result.json["error"]["message"]
    assert files_of(repo) == before


def test_two_profiles_for_one_agent_are_refused(repo: Path, grove) -> None:
    result = grove("agents", "install", "claude=reviewer", "--profile", "claude=strict", "--json")
    assert result.code == 2
    assert "claude is given two profiles" in result.json["error"]["message"]
