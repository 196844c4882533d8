"""grove logs [N] SERVICE [-f] [--tail K]: a service's log, kept under git's common dir
and capped in size (one older file is kept beside it)."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from grove import output
from grove.lifecycle import services
from grove.record import record
from grove.slots import Grove
from grove.state import services as records


@record
class LogResult:
    slot: int
    service: str
    log: str
    lines: list[str]
    followed: bool = False  # already printed as it came

    def as_json(self) -> dict[str, Any]:
        return {"slot": self.slot, "service": self.service, "log": self.log, "lines": self.lines}

    def as_text(self) -> str:
        if self.followed:
            return ""
        return "\n".join(self.lines) if self.lines else f"({self.service} has logged nothing)"


def run(grove: Grove, n: int | None, name: str, tail: int) -> LogResult:
    slot = grove.resolve_slot(n)
    if name not in records.recorded_names(grove.state_dir, slot):
        services.specs(grove, [name])  # an unknown name is a usage error naming the known
    log = records.log_path(grove.state_dir, slot, name)
    return LogResult(slot, name, str(log), services.log_tail(grove, slot, name, tail))


def follow(grove: Grove, n: int | None, name: str, tail: int) -> LogResult:
    """Print the last lines, then what the service writes, until interrupted. Each line
    passes through output.safe: a service's output is not trusted with the terminal."""
    shown = run(grove, n, name, tail)
    for text in shown.lines:
        print(output.safe(text), flush=True)
    path = records.log_path(grove.state_dir, shown.slot, name)
    position, inode = _end(path)
    partial = b""
    try:
        while True:
            now_position, now_inode = _end(path)
            if now_inode != inode or now_position < position:
                position, inode = 0, now_inode  # rotated or truncated: read the new file
            if now_position > position:
                with path.open("rb") as handle:
                    handle.seek(position)
                    data = handle.read(now_position - position)
                position += len(data)
                *complete, partial = (partial + data).split(b"\n")
                for raw in complete:
                    sys.stdout.write(output.safe(raw.decode("utf-8", "replace")) + "\n")
                sys.stdout.flush()
                partial = partial[-4096:]
            time.sleep(0.2)
    except KeyboardInterrupt:
        pass
    shown.followed = True
    return shown


def _end(path: Path) -> tuple[int, int | None]:
    try:
        info = path.stat()
    except OSError:
        return 0, None
    return info.st_size, info.st_ino
