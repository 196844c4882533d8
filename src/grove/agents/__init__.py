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
from grove.record import field, record
from grove.slots import Grove

AGENTS = ("claude", "codex", "cursor", "gemini")
# What each profile means to every agent is in content.PROFILE_TEXT; what each agent's own
# permission file gets, in claude_rules, codex_settings, gemini_excludes and cursor_denies.
PROFILES = ("default", "strict", "reviewer")
MANIFEST = "agents.json"
CURSOR_SETUP = "grove take --here --label cursor"
# grove commands that change a slot or what every slot sees: a reviewer runs none of them.
CHANGING_COMMANDS = (
    "take",
    "release",
    "remove",
    "switch",
    "create",
    "refresh",
    "db reset",
    "db drop",
    "db reseed",
    "env approve",
    "env edit",
    "secrets pull",
    "agents",
)
# git commands that move a branch, rewrite the work tree or publish.
CHANGING_GIT = (
    "commit", "push", "reset", "checkout", "switch", "restore", "rebase", "merge", "stash",
    "clean", "cherry-pick", "revert", "am", "apply",
)  # fmt: skip
# Print values that may be secrets: the shared file's, and [secrets] inject's.
REVEALING = ("env --reveal", "secrets export")


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


def _both(tool: str, command: str) -> list[str]:
    """A rule for the command alone and with arguments: Claude Code's `*` needs one."""
    return [f"{tool}({command})", f"{tool}({command} *)"]


def claude_rules(grove: Grove, profile: str) -> tuple[list[str], list[str]]:
    """Claude Code's permissions.allow and .deny for a profile (.claude/settings.json)."""
    allow: list[str] = []
    reads = ("list", "peek", "env", "validate", "db status", "logs")
    for command in reads if profile == "reviewer" else (*reads[:5], "up", "logs"):
        allow += _both("Bash", f"grove {command}")
    # An agent must not approve a shared-env change itself: that is the user's review.
    deny = _both("Bash", "grove env approve")
    # Edit rules: Claude Code does not enforce Write rules for these tools; Edit it does.
    deny += [f"Edit(./{name})" for name in (*grove.config.shared, "grove.toml")]
    if profile in ("strict", "reviewer"):
        deny += [f"Read(./{name})" for name in grove.config.shared]
        deny += ["Bash(grove env --reveal*)", "Bash(grove env * --reveal*)"]
        deny += _both("Bash", "grove secrets export")
    if profile == "reviewer":
        # Read-only: the file-editing tools themselves (a bare tool name matches every use),
        # the grove commands that change a slot, and git's that change the tree or publish.
        deny += ["Edit", "Write", "NotebookEdit"]
        for command in CHANGING_COMMANDS:
            deny += _both("Bash", f"grove {command}")
        for command in CHANGING_GIT:
            deny += _both("Bash", f"git {command}")
    return allow, list(dict.fromkeys(deny))


def all_claude_rules(grove: Grove) -> tuple[list[str], list[str]]:
    """Every rule any profile adds: what uninstall, or a change of profile, takes back."""
    allow: list[str] = []
    deny: list[str] = []
    for profile in PROFILES:
        more_allow, more_deny = claude_rules(grove, profile)
        allow = _add_unique(allow, more_allow)
        deny = _add_unique(deny, more_deny)
    return allow, deny


def gemini_excludes(profile: str) -> list[str]:
    """Gemini CLI's tools.exclude (.gemini/settings.json) for a profile. A shell rule
    matches a command by its start, so `grove env 1 --reveal` is not caught: AGENTS.md says
    the rest."""
    if profile == "default":
        return []
    excluded = [f"run_shell_command(grove {command})" for command in REVEALING]
    if profile == "reviewer":
        excluded += ["write_file", "replace"]  # the file-writing and file-editing tools
        excluded += [f"run_shell_command(grove {command})" for command in CHANGING_COMMANDS]
        excluded += [f"run_shell_command(git {command})" for command in CHANGING_GIT]
    return excluded


def all_gemini_excludes() -> list[str]:
    found: list[str] = []
    for profile in PROFILES:
        found = _add_unique(found, gemini_excludes(profile))
    return found


def cursor_denies(grove: Grove, profile: str) -> list[str]:
    """Cursor CLI's permissions.deny (.cursor/cli.json) for a profile. Its Shell rules name
    a program, never its arguments, so grove's own commands cannot be told apart there."""
    if profile == "default":
        return []
    denied = [f"Read({name})" for name in grove.config.shared]
    if profile == "reviewer":
        denied.append("Write(**)")
    return denied


def all_cursor_denies(grove: Grove) -> list[str]:
    found: list[str] = []
    for profile in PROFILES:
        found = _add_unique(found, cursor_denies(grove, profile))
    return found


# Codex's project config (.codex/config.toml, read for trusted projects): the reviewer gets
# Codex's own read-only sandbox, which the operating system enforces for every command.
CODEX_BEGIN = "# >>> grove: profile reviewer, from `grove agents install`; uninstall removes it"
CODEX_END = "# <<< grove"
CODEX_BLOCK = f'{CODEX_BEGIN}\nsandbox_mode = "read-only"\n{CODEX_END}\n'


def _strip_codex(current: str | None) -> str | None:
    """The text without grove's block; None when nothing else was in the file."""
    if current is None:
        return None
    begin = current.find(CODEX_BEGIN)
    end = current.find(CODEX_END, begin)
    if begin == -1 or end == -1:
        return current
    end += len(CODEX_END)
    if current[end : end + 1] == "\n":
        end += 1
    left = current[:begin] + current[end:]
    return left if left.strip() else None


def codex_settings(path: Path, current: str | None, profile: str) -> str | None:
    """.codex/config.toml with grove's block (reviewer) or without it (any other profile).
    A sandbox_mode of the user's own is never changed: that is refused."""
    import tomllib

    base = _strip_codex(current)
    if profile != "reviewer":
        return base
    try:
        data = tomllib.loads(base or "")
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(
            f"{path}: not valid TOML ({exc}); nothing was written",
            hint="fix the file, then run the command again",
        ) from None
    if "sandbox_mode" in data:
        raise UsageError(
            f"{path}: sandbox_mode is already set to {data['sandbox_mode']!r}; grove will not "
            "change it, so nothing was written",
            hint='set sandbox_mode = "read-only" yourself, or give codex another profile',
        )
    # First in the file: a top-level key after a [table] header would belong to the table.
    return CODEX_BLOCK + (base or "")


def _hook_group(command: str) -> dict[str, Any]:
    return {"hooks": [{"type": "command", "command": command}]}


def _has_hook(groups: list[Any], command: str) -> bool:
    return any(
        isinstance(g, dict)
        and any(isinstance(h, dict) and h.get("command") == command for h in g.get("hooks", []))
        for g in groups
    )


def _drop_rules(data: dict[str, Any], allow: list[str], deny: list[str]) -> dict[str, Any]:
    """data without these permission rules (and without an emptied permissions table)."""
    cleaned: dict[str, Any] = json.loads(json.dumps(data))
    permissions = cleaned.get("permissions", {})
    for key, ours in (("allow", allow), ("deny", deny)):
        if key in permissions:
            permissions[key] = [rule for rule in permissions[key] if rule not in ours]
            if not permissions[key]:
                del permissions[key]
    if "permissions" in cleaned and not permissions:
        del cleaned["permissions"]
    return cleaned


def merge_claude_settings(
    data: dict[str, Any], allow: list[str], deny: list[str], stale: tuple[list[str], list[str]]
) -> dict[str, Any]:
    """data with grove's rules for one profile and its hooks; stale: the rules of the other
    profiles, taken out first, so a change of profile leaves none of the old one's."""
    stale_allow = [rule for rule in stale[0] if rule not in allow]
    stale_deny = [rule for rule in stale[1] if rule not in deny]
    merged = _drop_rules(data, stale_allow, stale_deny)
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
    cleaned = _drop_rules(data, allow, deny)
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


def _json_list_edit(
    path: Path, current: str | None, where: tuple[str, ...], add: list[str], stale: list[str]
) -> str | None:
    """current JSON with the list at where holding add (stale entries taken out first);
    None when the file does not exist and there is nothing to add."""
    if current is None and not add:
        return None
    data = _load_json(path, current)
    table = data
    for key in where[:-1]:
        table = table.setdefault(key, {})
        if not isinstance(table, dict):
            raise UsageError(
                f"{path}: {'.'.join(where[:-1])} is not an object; nothing was written"
            )
    items = table.get(where[-1], [])
    if not isinstance(items, list):
        raise UsageError(f"{path}: {'.'.join(where)} is not a list; nothing was written")
    kept = [item for item in items if item not in stale or item in add]
    table[where[-1]] = _add_unique(kept, add)
    if not table[where[-1]]:
        del table[where[-1]]
    return _dump(data)


def desired(
    grove: Grove, agents: list[str], profiles: dict[str, str], recorded: dict[str, Any]
) -> dict[str, Transform]:
    """For every file install touches: current text -> the text it should have. profiles:
    each installed agent's profile (this install's and earlier ones'); recorded: the paths
    earlier installs touched."""
    plan: dict[str, Transform] = {}
    if "claude" in agents:
        for skill in content.SKILLS:
            plan[f".claude/skills/{skill.name}/SKILL.md"] = _fixed(skill.render())
        allow, deny = claude_rules(grove, profiles["claude"])
        stale = all_claude_rules(grove)
        settings = grove.main / ".claude" / "settings.json"
        plan[".claude/settings.json"] = lambda cur: _dump(
            merge_claude_settings(_load_json(settings, cur), allow, deny, stale)
        )
    # The section lists every installed agent's profile, so a later install of another
    # agent or profile keeps an existing section current.
    if {"codex", "gemini"} & set(agents) or "AGENTS.md" in recorded:
        section = content.agents_md_section(grove.config.shared, grove.config.local, profiles)
        plan["AGENTS.md"] = lambda cur: _section(cur, section)
    if "codex" in agents and (
        profiles["codex"] == "reviewer" or fsio.lstat_inside(grove.main, CODEX_CONFIG) is not None
    ):
        codex_file = grove.main / CODEX_CONFIG
        codex_profile = profiles["codex"]
        plan[CODEX_CONFIG] = lambda cur: codex_settings(codex_file, cur, codex_profile)
    if "gemini" in agents:
        gemini_settings = grove.main / ".gemini" / "settings.json"
        excluded = gemini_excludes(profiles["gemini"])

        def gemini(cur: str | None) -> str:
            data = _load_json(gemini_settings, cur)
            had_tools = "tools" in data
            context = data.setdefault("context", {})
            names = context.get("fileName", ["GEMINI.md"])
            names = [names] if isinstance(names, str) else list(names)
            context["fileName"] = _add_unique(["AGENTS.md"], names)
            stale = all_gemini_excludes()
            edited = _json_list_edit(
                gemini_settings, _dump(data), ("tools", "exclude"), excluded, stale
            )
            data = json.loads(edited or "{}")
            if not had_tools and data.get("tools") == {}:
                del data["tools"]
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
        denied = cursor_denies(grove, profiles["cursor"])
        if denied or fsio.lstat_inside(grove.main, CURSOR_CLI) is not None:
            cli_file = grove.main / CURSOR_CLI
            old_denies = all_cursor_denies(grove)
            plan[CURSOR_CLI] = lambda cur: _json_list_edit(
                cli_file, cur, ("permissions", "deny"), denied, old_denies
            )
    return plan


CODEX_CONFIG = ".codex/config.toml"
CURSOR_CLI = ".cursor/cli.json"


def _parse_manifest(data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise TypeError("expected an object")
    files, dirs = data.get("files", {}), data.get("dirs", [])
    if not isinstance(files, dict) or not all(isinstance(r, dict) for r in files.values()):
        raise TypeError("files must map paths to records")
    if not isinstance(dirs, list) or not all(isinstance(d, str) for d in dirs):
        raise TypeError("dirs must be a list of paths")
    profiles = data.get("profiles", {})
    if not isinstance(profiles, dict) or not all(
        a in AGENTS and p in PROFILES for a, p in profiles.items()
    ):
        raise TypeError(f"profiles must map agents ({', '.join(AGENTS)}) to profiles")
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
    manifest = manifest or {"files": {}, "dirs": [], "agents": [], "profile": "default"}
    # Before per-agent profiles, one profile held for every agent installed.
    manifest.setdefault("profiles", dict.fromkeys(manifest["agents"], manifest["profile"]))
    return manifest


@record
class AgentsResult:
    action: str
    agents: list[str]
    profile: str  # the profile of agents given without one
    dry_run: bool
    changes: list[FileChange]
    notes: list[str]
    profiles: dict[str, str] = field(default_factory=dict)  # each agent's

    def as_json(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "agents": self.agents,
            "profile": self.profile,
            "profiles": self.profiles,
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
        if self.action == "install" and self.profiles:
            given = ", ".join(f"{agent} {profile}" for agent, profile in self.profiles.items())
            lines.append(f"profiles: {given}")
        lines += [f"note: {note}" for note in self.notes]
        return "\n".join(lines)


def install(
    grove: Grove, specs: list[str], profile_options: list[str] | None, dry_run: bool
) -> AgentsResult:
    """specs: AGENT or AGENT=PROFILE (none: every agent); profile_options: --profile values,
    PROFILE (for agents given without one) or AGENT=PROFILE."""
    agents, profile, chosen = parse_profiles(specs, profile_options or [])
    manifest = read_manifest(grove)
    profiles = {**manifest["profiles"], **chosen}
    profiles = {a: profiles[a] for a in AGENTS if a in profiles}
    changes: list[FileChange] = []
    for relative, transform in desired(grove, agents, profiles, manifest["files"]).items():
        before = _read(grove, relative)
        changes.append(FileChange(relative, before, transform(before)))
    notes = [] if _on_path() else ["`grove` is not on PATH: agents and hooks call it by name"]
    if "codex" in agents and profiles["codex"] == "reviewer":
        notes.append(
            f"Codex reads {CODEX_CONFIG} only in a project you marked trusted; check with "
            "/status in Codex that its sandbox says read-only"
        )
    if dry_run:
        return AgentsResult("install", agents, profile, True, changes, notes, chosen)
    for change in changes:
        if change.action == "unchanged":
            continue
        for parent in reversed(Path(change.path).parents[:-1]):
            if fsio.lstat_inside(grove.main, str(parent)) is None:
                manifest["dirs"].append(str(parent))
        record = manifest["files"].setdefault(change.path, {"original": change.before})
        if change.after is None:
            fsio.remove_inside(grove.main, change.path)
        else:
            fsio.write_inside(grove.main, change.path, change.after, None, make_parents=True)
        record["installed"] = change.after
    manifest["agents"] = sorted(set(manifest.get("agents", [])) | set(agents), key=AGENTS.index)
    manifest["profile"] = profile
    manifest["profiles"] = profiles
    # 0600: it keeps the earlier text of the files it edits, which may hold values.
    fsio.write_atomic(grove.state_dir / MANIFEST, json.dumps(manifest, indent=2) + "\n", mode=0o600)
    return AgentsResult("install", agents, profile, False, changes, notes, chosen)


def uninstall(grove: Grove, dry_run: bool) -> AgentsResult:
    manifest = read_manifest(grove)
    profile = manifest.get("profile", "default")
    profiles = manifest["profiles"]
    allow, deny = all_claude_rules(grove)
    changes: list[FileChange] = []
    notes: list[str] = []
    for relative, installed in manifest["files"].items():
        path = grove.main / relative
        current = _read(grove, relative)
        original = installed.get("original")
        if current == installed.get("installed"):
            after = original  # untouched since: restore the exact bytes
        elif relative == ".claude/settings.json" and current is not None:
            data = unmerge_claude_settings(_load_json(path, current), allow, deny)
            after = _dump(data) if data or original is not None else None
        elif relative == CODEX_CONFIG:
            after = _strip_codex(current)
            if after is None and original is not None and current is not None:
                after = ""  # the user's file stays, emptied of grove's block only
        elif relative in (CURSOR_CLI, ".gemini/settings.json") and current is not None:
            where = ("permissions", "deny") if relative == CURSOR_CLI else ("tools", "exclude")
            ours = all_cursor_denies(grove) if relative == CURSOR_CLI else all_gemini_excludes()
            # An entry the original file had stays: it was the user's before grove came.
            theirs = _json_path(_load_json(path, original), where)
            after = _json_list_edit(
                path, current, where, [], [entry for entry in ours if entry not in theirs]
            )
            if relative != CURSOR_CLI:
                notes.append(f"{relative} was changed since install; kept, without grove's rules")
        elif relative == "AGENTS.md":
            after = _strip_section(current)
            if after is not None and not after.strip() and installed.get("original") is None:
                after = None
        else:
            after = current
            if current is not None:
                notes.append(f"{relative} was changed since install; kept")
        changes.append(FileChange(relative, current, after))
    agents = manifest.get("agents", [])
    if dry_run:
        return AgentsResult("uninstall", agents, profile, True, changes, notes, profiles)
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
    return AgentsResult("uninstall", agents, profile, False, changes, notes, profiles)


def _json_path(data: dict[str, Any], where: tuple[str, ...]) -> list[Any]:
    table: Any = data
    for key in where:
        table = table.get(key) if isinstance(table, dict) else None
    return table if isinstance(table, list) else []


def parse_profiles(specs: list[str], options: list[str]) -> tuple[list[str], str, dict[str, str]]:
    """The agents to install, the profile of those given without one, and each agent's
    profile, from `AGENT[=PROFILE]...` and `--profile [AGENT=]PROFILE`. Each bad argument
    is a usage error that names it."""
    chosen: dict[str, str] = {}
    named: list[str] = []
    fallback: str | None = None

    def profile_of(text: str, argument: str) -> str:
        if text not in PROFILES:
            raise UsageError(
                f"unknown profile {text!r} in {argument!r}",
                hint=f"profiles: {', '.join(PROFILES)}; e.g. `grove agents install "
                "claude=reviewer codex`",
            )
        return text

    def give(agent: str, profile: str, argument: str) -> None:
        if agent not in AGENTS:
            raise UsageError(
                f"unknown agent {agent!r} in {argument!r}"
                if "=" in argument
                else f"unknown agent {agent!r}",
                hint=f"choose from {', '.join(AGENTS)}",
            )
        if chosen.get(agent, profile) != profile:
            raise UsageError(
                f"{agent} is given two profiles, {chosen[agent]} and {profile}",
                hint="give each agent one profile",
            )
        chosen[agent] = profile

    for option in options:
        if "=" in option:
            agent, _, text = option.partition("=")
            give(agent.strip(), profile_of(text.strip(), f"--profile {option}"), option)
        else:
            profile = profile_of(option.strip(), f"--profile {option}")
            if fallback not in (None, profile):
                raise UsageError(
                    f"--profile is given twice, {fallback} and {profile}",
                    hint="one --profile PROFILE; AGENT=PROFILE for the exceptions",
                )
            fallback = profile
    for spec in specs:
        agent, has_profile, text = spec.partition("=")
        agent = agent.strip()
        if has_profile:
            give(agent, profile_of(text.strip(), spec), spec)
        elif agent not in AGENTS:
            raise UsageError(f"unknown agent {agent!r}", hint=f"choose from {', '.join(AGENTS)}")
        named.append(agent)
    listed = [*named, *chosen] if specs else list(AGENTS)
    agents = sorted(set(listed), key=AGENTS.index)
    default = fallback or "default"
    return agents, default, {agent: chosen.get(agent, default) for agent in agents}


def _on_path() -> bool:
    import shutil

    return shutil.which("grove") is not None
