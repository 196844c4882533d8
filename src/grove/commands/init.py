"""grove init: write a commented grove.toml with the defaults; keep the local file ignored."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grove import config, fsio, git
from grove.errors import Refused
from grove.slots import Grove

TEMPLATE = """\
# grove.toml: how this repository's evergreen worktrees ("slots") are laid out.
# Slot 0 is this checkout (main); slots 1..slots-1 are sibling folders.
# Every value below is the default; delete what you do not change.

[grove]
slots = 3                   # main + wt1 + wt2; `grove create` refuses beyond
naming = "{{name}}-wt{{n}}"     # sibling folder of main: {{name}} = main's folder, {{n}} = index

[ports]                     # each slot gets base + n * stride
# stride = 1                # per variable: NAME = {{ base = 3000, stride = 10 }}
{ports}

[env]
shared = [".env"]           # live once in main, symlinked into every slot: dev/staging values only
local = ".env.local"        # per slot, never shared or committed; grove owns its managed block
# [env.derived]             # more values for the managed block, from templates:
# DATABASE_URL = "postgresql://postgres@127.0.0.1:{{DB_PORT}}/app"
# COMPOSE_PROJECT_NAME = "{{name}}-wt{{n}}"

[setup]                     # run once when a slot is created, in the slot, with its env
copy = []                   # git-ignored paths cloned from main, e.g. ["node_modules"]
run = []                    # e.g. ["npm install --prefer-offline"]

[refresh]
run = []                    # run on every `grove refresh`

[switch]
run = []                    # run after `grove switch N BRANCH`
"""


def render() -> str:
    width = max(len(k) for k in config.DEFAULT_PORTS)
    ports = "\n".join(f"{k.ljust(width)} = {v}" for k, v in config.DEFAULT_PORTS.items())
    return TEMPLATE.format(ports=ports)


@dataclass
class InitResult:
    path: Path
    content: str
    written: bool
    dry_run: bool
    ignored_added: list[str]

    def as_json(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "written": self.written,
            "dry_run": self.dry_run,
            "gitignore_added": self.ignored_added,
            "content": self.content,
        }

    def as_text(self) -> str:
        if self.dry_run:
            return self.content.rstrip()
        lines = [f"wrote {self.path}"]
        if self.ignored_added:
            lines.append(f"added to .gitignore: {', '.join(self.ignored_added)}")
        lines.append("next: `grove create` makes slot 1")
        return "\n".join(lines)


def run(grove: Grove, dry_run: bool, force: bool) -> InitResult:
    path = grove.main / config.CONFIG_NAME
    content = render()
    # The file we write must load: a template bug should fail here, not in the user's repo.
    import tomllib

    config.parse(tomllib.loads(content), path)
    if path.exists() and not force and not dry_run:
        raise Refused(f"{path} already exists", hint="`grove init --force` overwrites it")
    local = grove.config.local
    needs_ignore = (
        [] if git.check_ignore(grove.main, [local]) or git.tracked(grove.main, [local]) else [local]
    )
    if dry_run:
        return InitResult(path, content, False, True, needs_ignore)
    fsio.write_atomic(path, content)
    if needs_ignore:
        gitignore = grove.main / ".gitignore"
        current = gitignore.read_text(encoding="utf-8") if gitignore.exists() else ""
        if current and not current.endswith("\n"):
            current += "\n"
        fsio.write_atomic(gitignore, current + "".join(f"{name}\n" for name in needs_ignore))
    return InitResult(path, content, True, False, needs_ignore)
