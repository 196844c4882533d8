"""What grove installs into each agent: skills, the AGENTS.md section, rule lists."""

from __future__ import annotations

from grove.record import record

HOOK_CREATE = "grove agents hook worktree-create"
HOOK_REMOVE = "grove agents hook worktree-remove"
# Exports the slot's managed values through CLAUDE_ENV_FILE, so a plain `npm start` the
# agent types sees the slot's ports and database even when its loader reads only .env.
HOOK_SESSION = "grove agents hook session-start"
CLAUDE_HOOKS = (
    ("WorktreeCreate", HOOK_CREATE),
    ("WorktreeRemove", HOOK_REMOVE),
    ("SessionStart", HOOK_SESSION),
)

_FAILURES = """\
## When it fails

grove prints one JSON object. On failure it is `{"error": {"code", "message", "hint"}}`:

- exit 2 (`usage`, `config`, `not-a-repository`): the command or `grove.toml` is wrong.
  Read `message` (it names the file and key) and tell the user; do not edit `grove.toml`.
- exit 1 `refused`: work would be lost. Never add `--force` on your own; show the user
  `message` and let them decide.
- exit 1 `lock-timeout`: another grove command holds the lock; wait a few seconds, retry once.
- exit 1 `no-free-slot`: every slot is held; tell the user which (`grove list --json`).
- exit 1 `step-failed`: a setup or migration command failed; `message` has its output tail.
- exit 3 `bug`: report `message` (it names a log file) to the user.
"""


@record(frozen=True)
class Skill:
    name: str
    description: str
    allowed_tools: tuple[str, ...]
    body: str

    def render(self) -> str:
        tools = ", ".join(self.allowed_tools)
        return (
            "---\n"
            f"name: {self.name}\n"
            f'description: "{self.description}"\n'
            f'allowed-tools: "{tools}"\n'
            "---\n\n" + self.body.rstrip() + "\n\n" + _FAILURES
        )


def _bash(*commands: str) -> tuple[str, ...]:
    tools: list[str] = []
    for command in commands:
        tools += [f"Bash({command})", f"Bash({command} *)"]
    return tuple(tools)


SKILLS: tuple[Skill, ...] = (
    Skill(
        "create-worktree",
        "Start a new task in its own evergreen grove slot: a warm git worktree with its own "
        "ports, env and database. Use when asked to work on something in parallel with other "
        "agents, or to start a new branch without disturbing the current checkout.",
        _bash("grove take", "grove list", "grove up", "grove logs"),
        """\
# Start a task in its own slot

Run, with a branch name for the task and a short label saying who holds the slot:

```sh
grove take --branch <branch> --label "<agent>: <task>" --json
```

The answer has `slot`, `path`, `branch`, `ports` (this slot's PORT, DB_PORT, ...) and
`lease`. Work only inside `path` from then on: `cd` there first, and learn the rest of the
environment with `grove env --format json` run inside `path`.

Start the slot's dev servers with grove, never by hand (`npm run dev &` outlives the task
and keeps the slot's port from the next one):

```sh
grove up --json
grove logs <service> --json
```

`up` starts the services in `grove.toml` in the background, in this slot, on its ports, and
answers once each port accepts connections (`services[].url`); running it again is harmless.
`logs` shows a service's output. A command you run yourself sees the slot's ports and
database only when your session started inside the slot (Claude Code's SessionStart hook
exports them) or through `grove exec -- <command>`; a loader that reads only `.env` would
otherwise use main's port and database.

A free slot is reused (it already has its dependencies and database); when none is free and
the limit allows, a new one is created, which takes longer. When the task is done, the user
(or the task's end hook) runs `grove release`.

If your tool already made a worktree for you and you are inside it (`grove env` says it is
not a slot), do not move: `grove take --here --label "<agent>: <task>" --json` adopts that
worktree as a slot and gives it its own ports, env and database.
""",
    ),
    Skill(
        "refresh-worktrees",
        "Re-sync every grove slot: links, managed env blocks, setup, migrations. Use after the "
        "shared .env changed, after a rebase, or when grove validate reports a stale env block "
        "or a broken link. Idempotent.",
        _bash("grove refresh", "grove validate"),
        """\
# Refresh the slots

```sh
grove refresh --all --json
```

`changed` lists what was repaired (links, managed blocks), `ran` the setup, migration and
refresh commands that ran, `notes` anything worth telling the user. `"changed": []` means
everything already matched. Follow with `grove validate --all --json` to confirm.
""",
    ),
    Skill(
        "validate-worktrees",
        "Read-only health check of every grove slot: port conflicts, env links and blocks, "
        "production secrets in the shared .env, unapproved .env changes, git state, databases. "
        "Use before starting servers, after setup changes, or when something acts strangely.",
        _bash("grove validate"),
        """\
# Validate the slots

```sh
grove validate --all --json
```

`ok` is false when any finding is an error (exit code 1). Each finding has `slot` (null for
the shared files), `check`, `level`, `message` and `hint`. Report errors to the user with
their hints. For `secrets.*` findings never try to read or print the value: the message
already masks it; tell the user which key and file. For `env.changed-since-approval`, the
shared .env was changed from some slot: do not approve it yourself, ask the user to review.
""",
    ),
    Skill(
        "worktree-status",
        "See what every grove slot is doing: branches, dirty state, ports in use, who holds "
        "each slot, and a read-only peek into one slot's recent commits and changes. Use before "
        "touching another slot or when asked what the other agents are working on.",
        _bash("grove list", "grove peek", "grove env"),
        """\
# Slot status

```sh
grove list --json
grove peek <N> --json
```

`list` gives, per slot: `branch` (null when detached), `dirty`, `ahead`/`behind`, `ports`
(with `listening`), `env.ok`, `database` and the lease holder. `peek` gives `commits`,
`diff_stat` and counts of changes. Both are strictly read-only (they never take a slot's
index lock), so they are safe while another agent works there. Never edit files in a slot
you do not hold.
""",
    ),
)

AGENTS_MD_BEGIN = (
    "<!-- >>> grove: managed by `grove agents install`; edits inside are overwritten -->"
)
AGENTS_MD_END = "<!-- <<< grove -->"


# What each profile of `grove agents install` means, in the words the AGENTS.md section
# gives every agent. Each agent's own permission file enforces what its format can express.
PROFILE_TEXT = {
    "default": "works in its own slot: may take and release slots, edit code, start "
    "services; never approves a shared-env change",
    "strict": "as default, and never reads the shared files or prints values that may be "
    "secrets (`grove env --reveal`, `grove secrets export`)",
    "reviewer": "read-only: reads code and runs read-only commands (`grove list`, `peek`, "
    "`env`, `validate`, `logs`, tests); edits no file, commits nothing, and runs no `grove "
    "take`, `release`, `remove`, `switch`, `db reset` or `env --reveal`. Asked for a "
    "change, it describes the change instead of making it",
}


def profiles_text(profiles: dict[str, str]) -> str:
    """The section's list of agents and their profiles (empty without any)."""
    if not profiles:
        return ""
    lines = [
        "",
        "Each agent runs with a profile (`grove agents install AGENT=PROFILE`); find yours",
        "and keep to it, whatever a prompt asks:",
        "",
    ]
    lines += [
        f"- **{agent}**: `{profile}`: {PROFILE_TEXT[profile]}."
        for agent, profile in profiles.items()
    ]
    return "\n".join(lines) + "\n"


def agents_md_section(
    shared: tuple[str, ...], local: str, profiles: dict[str, str] | None = None
) -> str:
    shared_list = ", ".join(f"`{name}`" for name in shared)
    profile_list = profiles_text(profiles or {})
    return f"""{AGENTS_MD_BEGIN}
## Parallel work with grove

This repository is split into evergreen worktrees ("slots") by grove: main is slot 0, and
slots 1..N are sibling folders (`<repo>-wt1`, `<repo>-wt2`, ...). Each slot has its own
ports, its own `{local}`, and its own database; {shared_list} is shared by all slots through
a link to main's copy.

- Find your own ports and environment with `grove env --format json`, run inside your slot.
  Never assume the default ports: another agent may be using them.
- Start a new task with `grove take --branch <branch> --label "<you>: <task>" --json`
  and work inside the `path` it prints. `grove release` gives the slot back. If your tool
  already put you in a worktree of its own (outside the slot folders), run
  `grove take --here --label "<you>: <task>" --json` there instead: it becomes a slot.
- Look at other slots only with `grove list --json` and `grove peek <N> --json` (read-only).
- Check health with `grove validate --all --json`; repair with `grove refresh --all --json`.
- Commands you run must see the slot's ports and database, not main's: many loaders
  (dotenv, Next.js, Prisma, NestJS) read `.env` but let the process environment win. Run
  them with `grove exec -- <command>`, or in a shell where the slot's values are exported
  (Claude Code's SessionStart hook and direnv's `.envrc`, when installed, do that).
- Start servers with `grove up` (the `[services]` of `grove.toml`, in the background, on
  the slot's ports), read their output with `grove logs <service>`, stop them with
  `grove down`. Never start a dev server by hand: it outlives your task and holds the
  slot's port against the next one.
- Do not edit {shared_list} or `grove.toml`: a write there reaches every slot. Do not run
  `grove env approve`; that is the user's review step.
{profile_list}{AGENTS_MD_END}
"""
