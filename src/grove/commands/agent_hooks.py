"""grove agents hook worktree-create|worktree-remove: Claude Code's worktree hooks."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grove.agents import hooks
from grove.errors import UsageError


@dataclass
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


def run(event: str, stdin_fd: int) -> tuple[HookResult, int]:
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
