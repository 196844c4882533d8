"""grove's commands by name, and the top-level help. Imports nothing: `grove --help` and
`grove --version` are answered from here before argparse or anything else loads."""

from __future__ import annotations

DESCRIPTION = "Evergreen git worktrees, each with its own ports, env and database."

# Every command and its one-line help, in the order `grove --help` lists them.
COMMAND_HELP: dict[str, str] = {
    "init": "write a commented grove.toml",
    "create": "add the lowest free slot (or slot N)",
    "refresh": "converge slots (idempotent)",
    "validate": "read-only health check",
    "list": "every slot: branch, state, ports, env",
    "peek": "what slot N is doing, read-only",
    "env": "the merged environment of slot N; `env approve`",
    "secrets": "a secret manager: pull, check, export",
    "exec": "run a command in slot N with its env",
    "compose": "docker compose for slot N",
    "shell": "$SHELL in slot N with its env",
    "switch": "move BRANCH into slot N",
    "take": "hand a free slot to a new task",
    "release": "end a slot's lease (the slot stays)",
    "agents": "install grove into coding agents",
    "db": "the per-slot PostgreSQL databases",
    "remove": "remove slot N (refuses to lose work)",
    "up": "start slot N's services in the background",
    "down": "stop slot N's services",
    "logs": "a service's log",
    "claims": "the team's branch claims on the git remote",
}

OPTIONS = (
    ("-h, --help", "show this help (or a command's, after its name)"),
    ("--json", "print one JSON document on stdout (logs go to stderr)"),
    ("--version", "print grove's version"),
)


def top_help() -> str:
    width = max(len(name) for name in COMMAND_HELP) + 2
    option_width = max(len(flag) for flag, _ in OPTIONS) + 2
    lines = [
        "usage: grove [-h] [--json] [--version] COMMAND ...",
        "",
        DESCRIPTION,
        "",
        "commands:",
        *(f"  {name:<{width}}{text}" for name, text in COMMAND_HELP.items()),
        "",
        "options:",
        *(f"  {flag:<{option_width}}{text}" for flag, text in OPTIONS),
        "",
        "`grove COMMAND --help` shows a command's arguments.",
    ]
    return "\n".join(lines)


def early_answer(argv: list[str]) -> str | None:
    """The help or version text when argv asks for one before naming a command, else None.
    Everything after `--` belongs to the command grove runs."""
    for arg in argv:
        if arg == "--":
            return None
        if arg in ("-h", "--help"):
            return top_help()
        if arg == "--version":
            from grove import __version__

            return f"grove {__version__}"
        if not arg.startswith("-"):
            return None
    return top_help() if not argv or argv == ["--json"] else None
