"""A slot's environment, computed: its managed block's values and what a process in it
sees. Pure: it reads files but writes none, so the database, the checks and the writers in
converge can all use it without importing each other."""

from __future__ import annotations

import os
from pathlib import Path

from grove import dbtarget, envfile
from grove.record import record
from grove.slots import Grove


def managed_values(grove: Grove, n: int) -> dict[str, str]:
    """What slot n's managed block holds: its ports, then the derived values."""
    values = {k: str(v) for k, v in grove.config.ports_for(n).items()}
    fields = grove.template_fields(n)
    for key, template in grove.config.derived:
        values[key] = template.format_map(fields)
    values.update(dbtarget.env_values(grove, n))
    values.update(rewritten_values(grove, n, values))
    return values


def shared_values(grove: Grove) -> dict[str, str]:
    return envfile.merge(envfile.parse_file(grove.main / name) for name in grove.config.shared)


def rewritten_values(grove: Grove, n: int, known: dict[str, str]) -> dict[str, str]:
    """[env.rewrite]: the slot's version of shared values, read from the shared file at write
    time, so credentials stay there and a rotation reaches the slot on the next refresh."""
    from grove.values import rewrite_value

    if not grove.config.rewrites:
        return {}
    shared = shared_values(grove)
    fields = grove.template_fields(n)
    bases = {spec.name: spec.base for spec in grove.config.ports}
    slot_ports = grove.config.ports_for(n)
    rewritten: dict[str, str] = {}
    for rule in grove.config.rewrites:
        value = shared.get(rule.key)
        if value is None:
            continue
        # `from`: init moved the base off another project's ports, the shared file did not.
        base = rule.from_port or (bases.get(rule.port_var) if rule.port_var else None)
        port = slot_ports.get(rule.port_var) if rule.port_var else None
        host = rule.host.format_map(fields) if rule.host else None
        rewritten[rule.key] = rewrite_value(value, base, port, host, known)
    return rewritten


def slot_env(grove: Grove, n: int) -> dict[str, str]:
    """The merged environment a process in slot n sees: local first, then shared files."""
    slot_dir = grove.slot_path(n)
    layers = [envfile.parse_file(slot_dir / name) for name in grove.config.local_files]
    layers += [envfile.parse_file(slot_dir / shared) for shared in grove.config.shared]
    return envfile.merge(layers)


def read_inputs(grove: Grove, n: int) -> list[tuple[Path, str]]:
    """Every file and folder that slot n's environment (and finding the repository, its
    config and the slot) was computed from, for the answer cache in state/envcache: each
    with how a change shows, its content (CONTENT) or only what it is (IDENTITY, for
    folders whose entries come and go while an agent works). A new read in open_grove,
    managed_values or slot_env must be added here; tests/test_env_cache.py checks that a
    change to each one is seen."""
    from grove.config import CONFIG_NAME, ENVRC
    from grove.dbtarget import cluster_password_path
    from grove.state.envcache import CONTENT, IDENTITY

    common, slot = grove.common_dir, grove.slot_path(n)
    found: list[tuple[Path, str]] = [
        # finding the repository and the slot: git's `.git` file or folder, the worktrees it
        # registered and where each one is, and the folders themselves
        (grove.here / ".git", _git_entry(grove.here)),
        (grove.here, IDENTITY),
        (grove.main, IDENTITY),
        (slot, IDENTITY),
        (slot / ".git", _git_entry(slot)),
        (common / "worktrees", CONTENT),
        # the config, checked against main's files and git's index (files git tracks)
        (grove.main / CONFIG_NAME, CONTENT),
        (common / "index", CONTENT),
        (grove.main / ENVRC, CONTENT),
        # grove's own records: the adopted slots, the database password
        (grove.state_dir, IDENTITY),
        (grove.state_dir / "registry.json", CONTENT),
        (cluster_password_path(grove), CONTENT),
    ]
    try:
        registered = sorted(p.name for p in (common / "worktrees").iterdir())
    except OSError:
        registered = []
    found += [(common / "worktrees" / name / "gitdir", CONTENT) for name in registered]
    names = (*grove.config.shared, *grove.config.local_files)
    found += [(grove.main / name, CONTENT) for name in names]
    found += [(slot / name, CONTENT) for name in names]
    return found


def _git_entry(worktree: Path) -> str:
    """main's `.git` is a folder whose entries change with every git command there (its
    lock files): what it is matters. A worktree's is a file naming its git dir."""
    from grove.state.envcache import CONTENT, IDENTITY

    return IDENTITY if (worktree / ".git").is_dir() else CONTENT


# Variables that decide which program runs, what it loads before its own code, whose
# account and config it uses, or how a shell parses: the environment of every process grove
# starts takes them from the user's environment only, never from an env file. Any slot can
# write the shared .env through its link; `PATH=<an agent's folder>:...` there once made
# `grove refresh 0` run that folder's `npm` as the person refreshing (issue 13). The local
# file is the slot's too, so it gets the same rule. docs/lifecycle.md lists them.
PROTECTED_NAMES = frozenset(
    {
        # which program runs, and as whom
        "PATH", "HOME", "SHELL", "USER", "LOGNAME", "TMPDIR", "XDG_CONFIG_HOME",
        # shells: startup files and parsing
        "BASH_ENV", "ENV", "ZDOTDIR", "IFS", "PS4", "PROMPT_COMMAND", "SHELLOPTS",
        "BASHOPTS", "CDPATH",
        # interpreters: code loaded before the program's own
        "NODE_OPTIONS", "NODE_PATH", "PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP",
        "PYTHONUSERBASE", "PERL5OPT", "PERL5LIB", "PERLLIB", "RUBYOPT", "RUBYLIB",
        "JAVA_TOOL_OPTIONS", "_JAVA_OPTIONS", "JDK_JAVA_OPTIONS", "GOFLAGS",
        # programs other programs start
        "EDITOR", "VISUAL", "PAGER", "BROWSER", "SSH_ASKPASS", "SUDO_ASKPASS",
        "DOCKER_HOST", "DOCKER_CONFIG", "DOCKER_CONTEXT",
    }
)  # fmt: skip
# Whole families: the dynamic linker's (LD_PRELOAD, DYLD_INSERT_LIBRARIES), git's
# (GIT_DIR, GIT_SSH_COMMAND, GIT_CONFIG_*) and npm's configuration (npm_config_script_shell).
PROTECTED_PREFIXES = ("LD_", "DYLD_", "GIT_", "NPM_CONFIG_")


def is_protected(key: str) -> bool:
    """A variable an env file may never set for grove's own processes. Compared in upper
    case: npm reads npm_config_* in any case, and a near-miss costs nothing."""
    upper = key.upper()
    return upper in PROTECTED_NAMES or upper.startswith(PROTECTED_PREFIXES)


def process_env(grove: Grove, n: int) -> dict[str, str]:
    """The user's environment with the slot's values on top (they win over inherited ones),
    except the protected variables, which stay the user's (or unset)."""
    env = dict(os.environ)
    env.update({k: v for k, v in slot_env(grove, n).items() if not is_protected(k)})
    return env


@record
class CommandRun:
    """A command grove ran in a slot as a child (`exec --json`, `compose --json`)."""

    slot: int
    command: list[str]
    exit_code: int

    def as_json(self) -> dict[str, object]:
        return {"slot": self.slot, "command": self.command, "exit_code": self.exit_code}

    def as_text(self) -> str:
        return ""  # its output went to stderr as it ran


@record(frozen=True)
class PreparedCommand:
    slot: int
    path: Path
    env: dict[str, str]
    program: str


def prepare_command(grove: Grove, n: int | None, command: list[str], usage: str) -> PreparedCommand:
    """What running `command` in slot n takes: the slot's folder and environment, and the
    program found on that environment's PATH."""
    import shutil

    from grove.errors import UsageError
    from grove.slots import existing_slot

    if not command:
        raise UsageError("nothing to run", hint=usage)
    n = grove.resolve_slot(n)
    slot = existing_slot(grove, n)
    env = process_env(grove, n)
    program = shutil.which(command[0], path=env.get("PATH"))
    if program is None:
        raise UsageError(
            f"command not found: {command[0]}", hint="check PATH or the command's name"
        )
    return PreparedCommand(n, slot.path, env, program)
