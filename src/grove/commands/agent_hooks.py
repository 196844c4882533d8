"""grove agents hook worktree-create|worktree-remove|session-start: Claude Code's hooks."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from grove.agents import hooks
from grove.errors import GroveError, UsageError
from grove.record import field, record


@record
class HookResult:
    event: str
    slot: int | None
    path: Path | None
    released: bool = False

    def as_json(self) -> dict[str, Any]:
        return {
            "event": self.event,
            "slot": self.slot,
            "path": str(self.path) if self.path else None,
            "released": self.released,
        }

    def as_text(self) -> str:
        # The contract: the worktree's absolute path is the last line on stdout.
        return str(self.path) if self.event == "worktree-create" and self.path else ""


def run(event: str, stdin_fd: int) -> tuple[HookResult | SessionStartResult, int]:
    if event == "session-start":
        return session_start(stdin_fd), 0
    from grove.lifecycle import release, take
    from grove.lifecycle.holders import Caller
    from grove.slots import open_grove

    payload = hooks.parse(hooks.read_event(stdin_fd))
    grove = open_grove(payload.cwd if payload.cwd and payload.cwd.is_dir() else None)
    if event == "worktree-create":
        label = f"claude: {payload.name}" if payload.name else "claude"
        taken = take.take(
            grove,
            branch=hooks.branch_for(payload.name),
            start=payload.base,
            label=label,
            pid=None,
            session=payload.session,
        )
        return HookResult(event, taken.slot, taken.path.resolve()), 0
    if payload.worktree_path is None:
        raise UsageError("WorktreeRemove input has no worktree_path")
    n = grove.index_for(payload.worktree_path)
    if n is None or n == 0:
        # Not one of ours: nothing to release, and the slot is never deleted anyway.
        return HookResult(event, None, payload.worktree_path), 0
    from grove.state import leases

    lease = leases.read(grove.state_dir, n)
    # Only this session's own lease ends: the slot may have been handed to another task.
    if lease is None or (lease.session != payload.session and payload.session is not None):
        return HookResult(event, n, grove.slot_path(n), False), 0
    caller = Caller(label=lease.label, force=False)
    released = release.release(grove, n, stale_only=False, caller=caller)
    return HookResult(event, n, grove.slot_path(n), bool(released.released)), 0


@record
class SessionStartResult:
    slot: int | None = None
    path: Path | None = None
    env_file: str | None = None
    exported: list[str] = field(default_factory=list)  # names only: values hold credentials
    written: bool = False  # False also when the file already had these exact lines
    ports: dict[str, int] = field(default_factory=dict)
    skipped: str | None = None  # why nothing was exported
    # [secrets] inject: the file gets a line that asks grove for them before each command,
    # never the values (grove.injected.shell_line)
    injected: bool = False

    def as_json(self) -> dict[str, Any]:
        return {
            "event": "session-start",
            "slot": self.slot,
            "path": str(self.path) if self.path else None,
            "env_file": self.env_file,
            "exported": self.exported,
            "written": self.written,
            "skipped": self.skipped,
            "injected": self.injected,
        }

    def as_text(self) -> str:
        # SessionStart's stdout becomes context for the agent: say where it is and what
        # its commands now see. Ports only; the database URL carries a password.
        if self.slot is None or not self.exported:
            return ""
        ports = ", ".join(f"{k}={v}" for k, v in self.ports.items())
        secrets = (
            " It also sees the secret manager's values ([secrets] inject), fetched for each "
            "command and kept in memory: never write them to a file."
            if self.injected
            else ""
        )
        return (
            f"grove: this session works in slot {self.slot} ({self.path}). Every Bash "
            f"command sees the slot's own ports and database ({ports}), so a plain "
            f"`npm start` uses them.{secrets} Start the slot's servers with `grove up` "
            "(`grove logs SERVICE`, `grove down`), not by hand."
        )


ENV_FILE_LIMIT = 1 << 20  # more than any hook writes; past it, append without looking


def session_start(stdin_fd: int) -> SessionStartResult:
    """Claude Code's SessionStart: export the session's slot's managed values through
    CLAUDE_ENV_FILE, which Claude Code sources before every Bash command. Anything else
    (no env file, not a slot, a broken config) exports nothing and exits 0: a session
    must never be blocked by grove."""
    env_file = os.environ.get("CLAUDE_ENV_FILE", "").strip()
    if not env_file:
        # Only SessionStart (and a few later events) get the variable; without it there is
        # nowhere to write, so stdin is not even read.
        return SessionStartResult(skipped="CLAUDE_ENV_FILE is not set")
    result = SessionStartResult(env_file=env_file)
    try:
        _export_slot(result, Path(env_file), stdin_fd)
    except (GroveError, OSError) as exc:
        from grove import output

        result.exported = []
        result.skipped = f"{type(exc).__name__}: {exc}"
        output.narrate(f"grove: the slot's environment was not exported: {exc}")
    return result


def _export_slot(result: SessionStartResult, env_file: Path, stdin_fd: int) -> None:
    from grove import shellenv
    from grove.slots import existing_slot, open_grove

    payload = hooks.parse(hooks.read_event(stdin_fd))
    # Builds differ: newer ones send the session's cwd; older ones only set
    # CLAUDE_PROJECT_DIR for the hook, which also runs in the project's folder.
    project = os.environ.get("CLAUDE_PROJECT_DIR", "").strip()
    folder = payload.cwd or (Path(project) if project else Path.cwd())
    if not folder.is_dir():
        result.skipped = f"{folder} is not a folder"
        return
    grove = open_grove(folder)
    n = grove.current
    if n is None:
        result.skipped = f"{grove.here} is not a grove slot"
        return
    slot = existing_slot(grove, n)
    values = shellenv.exported_values(grove, n)
    # With [secrets] inject, the values are never written here (the file is on disk): a
    # line asks grove for them each time the file is sourced, into the shell's memory.
    injected = grove.config.security.inject is not None
    if injected:
        from grove.injected import shell_line

    text = "\n".join(
        [
            f"# >>> grove (slot {n}): its managed values, from `grove agents hook session-start`",
            *shellenv.export_lines(values),
            *([shell_line(slot.path)] if injected else []),
            "# <<< grove",
        ]
    )
    result.slot, result.path = n, slot.path
    result.exported = list(values)
    result.injected = injected
    result.ports = grove.config.ports_for(n)
    result.written = _append_once(env_file, text + "\n")


def _append_once(path: Path, text: str) -> bool:
    """Append text unless grove's last block in the file is already this one: SessionStart
    fires again on resume, clear and compact. O_APPEND, because other hooks may write the
    same file at the same time. A new file is 0600: the lines carry the database password."""
    flags = os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC
    fd = os.open(path, flags, 0o600)
    data = text.encode()
    with os.fdopen(fd, "r+b") as handle:
        size = os.fstat(handle.fileno()).st_size
        current = handle.read() if size <= ENV_FILE_LIMIT else b""
        last = current.rfind(b"# >>> grove (slot ")
        if last != -1 and current[last : last + len(data)] == data:
            return False
        prefix = b"\n" if current and not current.endswith(b"\n") else b""
        handle.write(prefix + data)
    return True
