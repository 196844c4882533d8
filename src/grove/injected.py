"""[secrets] inject: a secret manager's values in a process's environment, never in a file.

The command (say `doppler secrets download --no-file --format env`) runs through proc from
main's folder each time a process is started with the slot's environment: `grove exec`,
`compose`, `shell`, `grove up`, and a Claude Code session's commands (the SessionStart hook
writes only a line that asks grove again, see shell_line). Its stdout is parsed in memory
with the dotenv reader and judged in memory by the production rules of the shared file
(secretscan, with [security] allow). Nothing it prints is written anywhere: not in the
repository, not in .git/grove, not in a log or a temporary file; its stdout is never shown.

Precedence, first wins: the slot's local files (the managed block's ports and database, and
the user's own lines there), then the injected values, then the shared files. A manager's
value replaces the shared file's dev value, and a manager's PORT never breaks a slot's
isolation. The protected variables (PATH, NODE_OPTIONS, ...) stay the user's, as for files.

A command that fails, times out, is not found, prints something that is not dotenv, or
prints a production value refuses the start: nothing is started.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from grove import envfile, output, proc, secretscan
from grove.errors import Refused, StepFailed
from grove.record import field, record
from grove.slots import Grove

SOURCE = "[secrets] inject"  # where findings say the values came from (no file holds them)
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")  # fullmatch: a name every shell can export
_STDERR_LINES = 3
_STDERR_CHARS = 200
_LONG_TOKEN = re.compile(r"[A-Za-z0-9_+/=.:-]{20,}")  # may be a credential: masked if shown


@record
class Injected:
    """What the manager printed, judged: its values, and what is worth a word on stderr."""

    command: str
    values: dict[str, str]
    warnings: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)  # names no process is given

    def keys(self) -> list[str]:
        return list(self.values)


def configured(grove: Grove) -> bool:
    return grove.config.security.inject is not None


def fetch(grove: Grove) -> Injected | None:
    """Run the inject command and judge its output, in memory; None when none is set.
    Raises StepFailed (the command failed, timed out, was not found, or printed something
    that is not dotenv) or Refused (a production value): then nothing may start."""
    security = grove.config.security
    command = security.inject
    if command is None:
        return None
    done = proc.run_bounded(["/bin/sh", "-c", command], grove.main, security.inject_timeout)
    if done is None:
        raise StepFailed(
            f"{SOURCE} `{command}` did not finish within {security.inject_timeout:g}s and was "
            "stopped; nothing was started",
            hint="check the secret manager's login and network; [secrets] inject_timeout in "
            "grove.toml sets the limit",
            details={"command": command, "timed_out": True},
        )
    if done.returncode != 0:
        tail = stderr_tail(done.stderr)
        missing = done.returncode == 127
        raise StepFailed(
            f"{SOURCE} `{command}` "
            + ("was not found" if missing else f"exited with {done.returncode}")
            + "; nothing was started"
            + (f": {' | '.join(tail)}" if tail else ""),
            hint="install the secret manager's CLI and put it on PATH"
            if missing
            else "check that the secret manager's CLI is logged in and the config exists",
            details={"command": command, "returncode": done.returncode, "stderr": tail},
        )
    return judge(grove, command, done.stdout)


def judge(grove: Grove, command: str, text: str) -> Injected:
    """The values of a dotenv text, refused on a line that is not KEY=value or on a
    production finding. Messages name keys and line numbers and mask values."""
    security = grove.config.security
    if text and not text.endswith("\n"):
        text += "\n"
    for binding in envfile.parse_stream(text):
        if binding.error:
            raise StepFailed(
                f"{SOURCE} `{command}` printed a line that is not KEY=value (line "
                f"{binding.original.line}); nothing was started",
                hint="make the command print dotenv format (e.g. --format env)",
            )
    accounts = security.production_aws_accounts
    hits = secretscan.scan_text(text, Path(SOURCE), security.allow, accounts)
    blocking = [h for h in hits if h.level == secretscan.ERROR]
    if blocking:
        listed = "; ".join(
            f"{h.key or f'line {h.line}'}: {h.rule.what} ({h.preview}, fingerprint {h.fingerprint})"
            for h in blocking
        )
        raise Refused(
            f"{SOURCE} printed production secrets, so nothing was started: {listed}",
            hint="point the command at your secret manager's dev/staging config; if a finding "
            "is a false positive, add its key or fingerprint to [security] allow",
            details={"findings": [h.as_finding() for h in blocking]},
        )
    values: dict[str, str] = {}
    dropped: list[str] = []
    for key, value in envfile.parse_text(text).items():
        if _NAME.fullmatch(key) and "\0" not in value:
            values[key] = value
        else:
            dropped.append(key)
    warnings = [h.named() for h in hits]
    if not values and not dropped:
        warnings.append("the command printed no KEY=value lines")
    return Injected(command, values, warnings, dropped)


def stderr_tail(stderr: str) -> list[str]:
    """The last lines of the command's stderr, fit to show: cut short, control characters
    out, and any long token masked (a CLI may echo a token in its error)."""
    lines = [line for line in stderr.strip().splitlines() if line.strip()][-_STDERR_LINES:]
    shown = []
    for line in lines:
        printable = "".join(c for c in line if c.isprintable())[:_STDERR_CHARS]
        shown.append(_LONG_TOKEN.sub(lambda m: output.mask(m.group(0)), printable))
    return shown


def local_keys(grove: Grove, n: int) -> set[str]:
    """The keys slot n's local files set: they win over the injected values."""
    slot = grove.slot_path(n)
    keys: set[str] = set()
    for name in grove.config.local_files:
        keys |= set(envfile.parse_file(slot / name))
    return keys


def overlay(grove: Grove, n: int, injected: Injected | None) -> dict[str, str]:
    """What the injected values add to slot n's process environment (slotenv.process_env),
    precedence applied: not the keys its local files set, not the protected names."""
    from grove.slotenv import is_protected

    if injected is None:
        return {}
    mine = local_keys(grove, n)
    return {
        key: value
        for key, value in injected.values.items()
        if key not in mine and not is_protected(key)
    }


def for_slot(grove: Grove, n: int) -> dict[str, str]:
    """Run the manager and return slot n's overlay; {} when inject is not set. Warnings
    (a finding that is not an error, a name that cannot be exported) go to stderr."""
    injected = fetch(grove)
    if injected is None:
        return {}
    for warning in injected.warnings:
        output.narrate(f"warning: {SOURCE}: {warning}")
    if injected.dropped:
        output.narrate(
            f"{SOURCE}: left out {len(injected.dropped)} name(s) that are not "
            f"environment variable names: {', '.join(sorted(injected.dropped))}"
        )
    return overlay(grove, n, injected)


def shell_line(slot_path: Path) -> str:
    """The line the SessionStart hook writes into CLAUDE_ENV_FILE when inject is set. Claude
    Code sources that file before each Bash command: the line asks `grove secrets export`
    for the values then, through a pipe into the shell's memory, so the file holds only
    this command. When grove refuses (a failing manager, a production value), the command
    still runs, without the values, and grove's reason is on its stderr."""
    from grove.shellenv import quote

    return (
        f"__grove_secrets=$(cd {quote(str(slot_path))} && grove secrets export) && "
        'eval "$__grove_secrets"; unset __grove_secrets'
    )


@record
class CheckResult:
    """`grove secrets check`: what the manager gives slot n, values masked."""

    slot: int
    command: str
    keys: list[dict[str, Any]]
    warnings: list[str]

    def as_json(self) -> dict[str, Any]:
        return {
            "slot": self.slot,
            "command": self.command,
            "keys": self.keys,
            "warnings": self.warnings,
        }

    def as_text(self) -> str:
        lines = [f"{SOURCE} `{self.command}`: {len(self.keys)} key(s), no production value"]
        wins = {
            "local file": f"slot {self.slot}'s local file wins",
            "caller": "protected: the caller's own value stays",
        }
        for entry in self.keys:
            note = f"  ({wins[entry['overridden_by']]})" if entry["overridden_by"] else ""
            lines.append(f"  {entry['key']}={entry['preview']}{note}")
        lines += [f"warning: {w}" for w in self.warnings]
        return "\n".join(lines)


def check(grove: Grove, n: int) -> CheckResult:
    from grove.slotenv import is_protected

    injected = fetch(grove)
    assert injected is not None  # the caller checked configured()
    mine = local_keys(grove, n)
    keys = []
    for key, value in injected.values.items():
        overridden = "local file" if key in mine else "caller" if is_protected(key) else None
        keys.append({"key": key, "preview": secretscan.preview(value), "overridden_by": overridden})
    warnings = list(injected.warnings)
    if injected.dropped:
        warnings.append(f"not environment variable names, left out: {', '.join(injected.dropped)}")
    return CheckResult(n, injected.command, keys, warnings)
