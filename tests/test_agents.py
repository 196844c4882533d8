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
