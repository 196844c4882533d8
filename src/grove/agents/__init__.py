"""grove agents install / uninstall: skills, permissions, hooks and instructions per agent.

Every file install touches is recorded in a manifest under git's common dir with its
original bytes, so uninstall restores those bytes exactly when nothing else changed the
file since, and otherwise removes only grove's own entries.
"""

from __future__ import annotations

import difflib
import json
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

from grove import envfile, fsio
from grove.agents import content
from grove.errors import UsageError
from grove.record import record
from grove.slots import Grove

AGENTS = ("claude", "codex", "cursor", "gemini")
PROFILES = ("default", "strict")
MANIFEST = "agents.json"
CURSOR_SETUP = "grove take --here --label cursor"


@record
class FileChange:
    path: str  # relative to main
    before: str | None
    after: str | None

    @property
    def action(self) -> str:
        if self.before == self.after:
            return "unchanged"
        if self.before is None:
            return "create"
        if self.after is None:
            return "delete"
        return "update"

    def diff(self) -> str:
        return "".join(
            difflib.unified_diff(
                (self.before or "").splitlines(keepends=True),
                (self.after or "").splitlines(keepends=True),
                fromfile=f"a/{self.path}" if self.before is not None else "/dev/null",
                tofile=f"b/{self.path}" if self.after is not None else "/dev/null",
            )
        )

    def as_json(self, with_diff: bool) -> dict[str, Any]:
        data: dict[str, Any] = {"path": self.path, "action": self.action}
        if with_diff:
            data["diff"] = self.diff()
        return data


def _read(grove: Grove, relative: str) -> str | None:
    """A file install manages, read without following a link (main is a worktree agents
    write in: `.claude` could lead anywhere); not UTF-8 is an error naming file and line."""
    data = fsio.read_inside(grove.main, relative)
    if data is None:
        return None
    try:
        return envfile.decode(data, grove.main / relative)
    except envfile.UnreadableEnvFile as exc:
        raise UsageError(
            f"{grove.main / relative}: not UTF-8 (line {exc.details['line']}); nothing was written",
            hint="save it as UTF-8, then run the command again",
        ) from None


def _load_json(path: Path, text: str | None) -> dict[str, Any]:
    if text is None or not text.strip():
        return {}
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(
            f"{path}: not valid JSON ({exc.msg} at line {exc.lineno}); nothing was written",
            hint="fix the file (no comments or trailing commas), then run the command again",
        ) from None
    if not isinstance(data, dict):
        raise UsageError(f"{path}: expected a JSON object at the top; nothing was written")
    return data


def _dump(data: dict[str, Any]) -> str:
    return json.dumps(data, indent=2) + "\n"


def _add_unique(items: list[Any], wanted: list[Any]) -> list[Any]:
    return items + [item for item in wanted if item not in items]


# --- Claude Code -----------------------------------------------------------------------


def claude_rules(grove: Grove, profile: str) -> tuple[list[str], list[str]]:
    allow: list[str] = []
    for command in ("list", "peek", "env", "validate", "db status", "up", "logs"):
        allow += [f"Bash(grove {command})", f"Bash(grove {command} *)"]
    # An agent must not approve a shared-env change itself: that is the user's review.
    deny = ["Bash(grove env approve)", "Bash(grove env approve *)"]
    # Edit rules: Claude Code does not enforce Write rules for these tools; Edit it does.
    deny += [f"Edit(./{name})" for name in (*grove.config.shared, "grove.toml")]
    if profile == "strict":
        deny += [f"Read(./{name})" for name in grove.config.shared]
        deny += ["Bash(grove env --reveal*)", "Bash(grove env * --reveal*)"]
    return allow, deny


def _hook_group(command: str) -> dict[str, Any]:
    return {"hooks": [{"type": "command", "command": command}]}


def _has_hook(groups: list[Any], command: str) -> bool:
    return any(
        isinstance(g, dict)
        and any(isinstance(h, dict) and h.get("command") == command for h in g.get("hooks", []))
        for g in groups
    )


def merge_claude_settings(
    data: dict[str, Any], allow: list[str], deny: list[str]
) -> dict[str, Any]:
    merged: dict[str, Any] = json.loads(json.dumps(data))
    permissions = merged.setdefault("permissions", {})
    permissions["allow"] = _add_unique(list(permissions.get("allow", [])), allow)
    permissions["deny"] = _add_unique(list(permissions.get("deny", [])), deny)
    hooks = merged.setdefault("hooks", {})
    for event, command in content.CLAUDE_HOOKS:
        groups = list(hooks.get(event, []))
        if not _has_hook(groups, command):
            groups.append(_hook_group(command))
        hooks[event] = groups
    return merged


def unmerge_claude_settings(
    data: dict[str, Any], allow: list[str], deny: list[str]
) -> dict[str, Any]:
    cleaned: dict[str, Any] = json.loads(json.dumps(data))
    permissions = cleaned.get("permissions", {})
    for key, ours in (("allow", allow), ("deny", deny)):
        if key in permissions:
            permissions[key] = [rule for rule in permissions[key] if rule not in ours]
            if not permissions[key]:
                del permissions[key]
    if "permissions" in cleaned and not permissions:
        del cleaned["permissions"]
    hooks = cleaned.get("hooks", {})
    for event, command in content.CLAUDE_HOOKS:
        if event in hooks:
            hooks[event] = [g for g in hooks[event] if not _has_hook([g], command)]
            if not hooks[event]:
                del hooks[event]
    if "hooks" in cleaned and not hooks:
        del cleaned["hooks"]
    return cleaned


# --- the plan ---------------------------------------------------------------------------

Transform = Callable[[str | None], str | None]


def _section(current: str | None, section: str) -> str:
    text = current or ""
    begin = text.find(content.AGENTS_MD_BEGIN)
    end = text.find(content.AGENTS_MD_END, begin)
    if begin != -1 and end != -1:
        end += len(content.AGENTS_MD_END)
        if text[end : end + 1] == "\n":
            end += 1
        return text[:begin] + section + text[end:]
    if text and not text.endswith("\n"):
        text += "\n"
    return text + ("\n" if text.strip() else "") + section


def _strip_section(current: str | None) -> str | None:
    if current is None:
        return None
    begin = current.find(content.AGENTS_MD_BEGIN)
    end = current.find(content.AGENTS_MD_END, begin)
    if begin == -1 or end == -1:
        return current
    end += len(content.AGENTS_MD_END)
    if current[end : end + 1] == "\n":
        end += 1
    return current[:begin].rstrip("\n") + ("\n" if current[:begin].strip() else "") + current[end:]


def _fixed(text: str) -> Transform:
    return lambda _current: text


def desired(grove: Grove, agents: list[str], profile: str) -> dict[str, Transform]:
    """For every file install touches: current text -> the text it should have."""
    plan: dict[str, Transform] = {}
    if "claude" in agents:
        for skill in content.SKILLS:
            plan[f".claude/skills/{skill.name}/SKILL.md"] = _fixed(skill.render())
        allow, deny = claude_rules(grove, profile)
        settings = grove.main / ".claude" / "settings.json"
        plan[".claude/settings.json"] = lambda cur: _dump(
            merge_claude_settings(_load_json(settings, cur), allow, deny)
        )
    if {"codex", "gemini"} & set(agents):
        section = content.agents_md_section(grove.config.shared, grove.config.local)
        plan["AGENTS.md"] = lambda cur: _section(cur, section)
    if "gemini" in agents:
        gemini_settings = grove.main / ".gemini" / "settings.json"

        def gemini(cur: str | None) -> str:
            data = _load_json(gemini_settings, cur)
            context = data.setdefault("context", {})
            names = context.get("fileName", ["GEMINI.md"])
            names = [names] if isinstance(names, str) else list(names)
            context["fileName"] = _add_unique(["AGENTS.md"], names)
            return _dump(data)

        plan[".gemini/settings.json"] = gemini
    if "cursor" in agents:
        cursor_file = grove.main / ".cursor" / "worktrees.json"

        def cursor(cur: str | None) -> str:
            data = _load_json(cursor_file, cur)
            # Cursor runs its setup inside the worktree it just made: adopt that as a slot.
            for key in ("setup-worktree-unix", "setup-worktree"):
                value = data.get(key, [])
                if isinstance(value, str):
                    raise UsageError(
                        f"{cursor_file}: {key} names a script ({value}); grove will not rewrite it",
                        hint=f"add `{CURSOR_SETUP}` to that script yourself",
                    )
                data[key] = _add_unique(list(value), [CURSOR_SETUP])
            return _dump(data)

        plan[".cursor/worktrees.json"] = cursor
    return plan


def _parse_manifest(data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise TypeError("expected an object")
    files, dirs = data.get("files", {}), data.get("dirs", [])
    if not isinstance(files, dict) or not all(isinstance(r, dict) for r in files.values()):
        raise TypeError("files must map paths to records")
    if not isinstance(dirs, list) or not all(isinstance(d, str) for d in dirs):
        raise TypeError("dirs must be a list of paths")
    return {"agents": [], "profile": "default", **data, "files": files, "dirs": dirs}


def read_manifest(grove: Grove) -> dict[str, Any]:
    """What install touched. A damaged manifest is refused, never replaced: uninstall
    needs the original bytes it holds."""
    from grove.state import store

    path = grove.state_dir / MANIFEST
    repair = (
        f"restore {path} from a backup, or delete it (uninstall then cannot restore the "
        "files install changed; remove grove's entries from them by hand)"
    )
    manifest = store.read_record(path, repair, _parse_manifest)
    return manifest or {"files": {}, "dirs": [], "agents": [], "profile": "default"}


@record
class AgentsResult:
    action: str
    agents: list[str]
    profile: str
    dry_run: bool
    changes: list[FileChange]
    notes: list[str]

    def as_json(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "agents": self.agents,
            "profile": self.profile,
            "dry_run": self.dry_run,
            "changed": [c.as_json(self.dry_run) for c in self.changes if c.action != "unchanged"],
            "unchanged": [c.path for c in self.changes if c.action == "unchanged"],
            "notes": self.notes,
        }

    def as_text(self) -> str:
        moved = [c for c in self.changes if c.action != "unchanged"]
        if not moved:
            lines = [
                f"nothing to change: grove is already {self.action}ed"
                if self.action == "install"
                else "nothing to change"
            ]
        elif self.dry_run:
            lines = [c.diff().rstrip() for c in moved]
        else:
            lines = [f"{c.action:8} {c.path}" for c in moved]
        lines += [f"note: {note}" for note in self.notes]
        return "\n".join(lines)


def install(grove: Grove, agents: list[str], profile: str, dry_run: bool) -> AgentsResult:
    agents = _check(agents, profile)
    manifest = read_manifest(grove)
    changes: list[FileChange] = []
    for relative, transform in desired(grove, agents, profile).items():
        before = _read(grove, relative)
        changes.append(FileChange(relative, before, transform(before)))
    notes = [] if _on_path() else ["`grove` is not on PATH: agents and hooks call it by name"]
    if dry_run:
        return AgentsResult("install", agents, profile, True, changes, notes)
    for change in changes:
        if change.action == "unchanged":
            continue
        for parent in reversed(Path(change.path).parents[:-1]):
            if fsio.lstat_inside(grove.main, str(parent)) is None:
                manifest["dirs"].append(str(parent))
        record = manifest["files"].setdefault(change.path, {"original": change.before})
        assert change.after is not None
        fsio.write_inside(grove.main, change.path, change.after, None, make_parents=True)
        record["installed"] = change.after
    manifest["agents"] = sorted(set(manifest.get("agents", [])) | set(agents))
    manifest["profile"] = profile
    # 0600: it keeps the earlier text of the files it edits, which may hold values.
    fsio.write_atomic(grove.state_dir / MANIFEST, json.dumps(manifest, indent=2) + "\n", mode=0o600)
    return AgentsResult("install", agents, profile, False, changes, notes)


def uninstall(grove: Grove, dry_run: bool) -> AgentsResult:
    manifest = read_manifest(grove)
    profile = manifest.get("profile", "default")
    allow, deny = claude_rules(grove, profile)
    allow_strict, deny_strict = claude_rules(grove, "strict")
    changes: list[FileChange] = []
    notes: list[str] = []
    for relative, installed in manifest["files"].items():
        path = grove.main / relative
        current = _read(grove, relative)
        if current == installed.get("installed"):
            after = installed.get("original")  # untouched since: restore the exact bytes
        elif relative == ".claude/settings.json" and current is not None:
            data = unmerge_claude_settings(
                _load_json(path, current), allow + allow_strict, deny + deny_strict
            )
            after = _dump(data) if data or installed.get("original") is not None else None
        elif relative == "AGENTS.md":
            after = _strip_section(current)
            if after is not None and not after.strip() and installed.get("original") is None:
                after = None
        else:
            after = current
            if current is not None:
                notes.append(f"{relative} was changed since install; kept")
        changes.append(FileChange(relative, current, after))
    if dry_run:
        return AgentsResult("uninstall", manifest.get("agents", []), profile, True, changes, notes)
    for change in changes:
        if change.action == "delete":
            fsio.remove_inside(grove.main, change.path)
        elif change.action in ("create", "update"):
            assert change.after is not None
            fsio.write_inside(grove.main, change.path, change.after, None)
    for folder in sorted(manifest["dirs"], key=lambda d: -len(Path(d).parts)):
        found = fsio.lstat_inside(grove.main, folder)
        target = grove.main / folder
        if found is not None and stat.S_ISDIR(found.st_mode) and not any(target.iterdir()):
            target.rmdir()
    (grove.state_dir / MANIFEST).unlink(missing_ok=True)
    return AgentsResult("uninstall", manifest.get("agents", []), profile, False, changes, notes)


def _check(agents: list[str], profile: str) -> list[str]:
    unknown = [a for a in agents if a not in AGENTS]
    if unknown:
        raise UsageError(f"unknown agent {unknown[0]!r}", hint=f"choose from {', '.join(AGENTS)}")
    if profile not in PROFILES:
        raise UsageError(f"unknown profile {profile!r}", hint="default or strict")
    return sorted(set(agents or AGENTS), key=AGENTS.index)


def _on_path() -> bool:
    import shutil

    return shutil.which("grove") is not None
