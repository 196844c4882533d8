"""Claude Code's WorktreeCreate / WorktreeRemove hooks, answered with evergreen slots.

Claude Code runs the hook instead of `git worktree add`: JSON on stdin, the worktree's
absolute path as the last stdout line, any non-zero exit aborts. The payload's field names
have changed across Claude Code versions (`worktree_name` or `name`; `source_ref`,
`base_ref` or `base_commit`), so every known spelling is accepted.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from grove.errors import UsageError
from grove.record import record


@record(frozen=True)
class HookInput:
    event: str | None
    name: str | None
    base: str | None
    cwd: Path | None
    session: str | None
    worktree_path: Path | None


EVENT_LIMIT = 1 << 20  # a hook payload is a few hundred bytes; more is not Claude's


def read_event(fd: int) -> str:
    """One JSON object from fd, returned as soon as it is complete: the caller may keep
    its end open (Claude Code builds differ), so waiting for end of input could hang."""
    decoder = json.JSONDecoder()
    buffer = b""
    while len(buffer) <= EVENT_LIMIT:
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        buffer += chunk
        text = buffer.decode("utf-8", errors="replace").lstrip()
        if not text.startswith("{"):
            break  # not an object: parse() says so
        try:
            decoder.raw_decode(text)
        except json.JSONDecodeError:
            continue  # incomplete so far
        return text
    if len(buffer) > EVENT_LIMIT:
        raise UsageError(f"hook input is larger than {EVENT_LIMIT} bytes; expected one object")
    return buffer.decode("utf-8", errors="replace")


def parse(text: str) -> HookInput:
    try:
        data: Any = json.JSONDecoder().raw_decode(text.lstrip())[0] if text.strip() else {}
    except json.JSONDecodeError as exc:
        raise UsageError(f"hook input is not JSON: {exc.msg}") from None
    if not isinstance(data, dict):
        raise UsageError("hook input must be a JSON object")

    def first(*keys: str) -> str | None:
        for key in keys:
            value = data.get(key)
            if isinstance(value, str) and value.strip():
                return value.strip()
        return None

    cwd = first("cwd")
    path = first("worktree_path")
    return HookInput(
        event=first("hook_event_name"),
        name=first("worktree_name", "name"),
        base=first("source_ref", "base_ref", "base_commit"),
        cwd=Path(cwd) if cwd else None,
        session=first("session_id"),
        worktree_path=Path(path) if path else None,
    )


def branch_for(name: str | None) -> str | None:
    """The task's branch: Claude's proposed name, made a safe ref name."""
    if not name:
        return None
    cleaned = re.sub(r"[^A-Za-z0-9._/-]+", "-", name).strip("-./")
    cleaned = re.sub(r"\.\.+", ".", cleaned)
    return cleaned or None
