"""Rendering: results as aligned text or as one JSON document; narration on stderr."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Sequence

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing
if TYPE_CHECKING:
    from typing import Any, Protocol

    class Result(Protocol):  # annotations only: no isinstance check needs it at run time
        def as_json(self) -> dict[str, Any]: ...

        def as_text(self) -> str: ...


# C0 and C1 control characters except tab and newline, and the bidirectional overrides
# ("Trojan source"): from a label, a file name or a value, any of them could move the
# cursor, retitle the terminal, recolour output or make text read differently than it is.
# A pattern compiled on first use (re caches it): a --json call that narrates nothing never
# needs it.
_UNSAFE = "[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]"


def safe(text: str) -> str:
    """Text that is safe for a terminal: each control character becomes a visible escape."""
    return re.sub(_UNSAFE, _escape, text)


def _escape(found: re.Match[str]) -> str:
    code = ord(found.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def narrate(message: str) -> None:
    """Progress and logs: always stderr, so stdout stays the answer."""
    print(narration(message), end="", file=sys.stderr, flush=True)


def narration(message: str) -> str:
    """The line narrate writes."""
    return f"grove: {safe(message)}\n"


# (below this many seconds, the unit, its seconds)
_UNITS = ((120, "s", 1), (7200, "m", 60), (172800, "h", 3600), (float("inf"), "d", 86400))


def duration(seconds: float, nearest: bool = False) -> str:
    """A duration in its largest sensible unit: 90s, 45m, 5h, 3d. Whole units passed (an
    age: "5m ago" once five minutes have passed), or with nearest the nearest one (a fresh
    8h claim "expires in 8h", not 7h)."""
    unit, size = next((unit, size) for below, unit, size in _UNITS if seconds < below)
    value = seconds / size
    return f"{round(value) if nearest else int(value)}{unit}"


def to_json(data: dict[str, Any]) -> str:
    return json.dumps(data, indent=2, default=str)


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """An aligned table without borders: columns two spaces apart, measured in terminal
    cells. Not rich: importing it cost 40-80 ms of every text call, more than the command."""
    # One line per row: a newline or tab inside a cell would break every column after it.
    cells = [[_one_line(safe(str(cell))) for cell in row] for row in [headers, *rows]]
    widths = [max(display_width(row[i]) for row in cells) for i in range(len(headers))]
    lines = []
    for row in cells:
        padded = [
            cell + " " * (width - display_width(cell))
            for cell, width in zip(row, widths, strict=True)
        ]
        lines.append("  ".join(padded).rstrip())
    return "\n".join(lines)


def _one_line(text: str) -> str:
    return text.replace("\n", " ").replace("\t", " ")  # safe() already escaped \r


def display_width(text: str) -> int:
    """Terminal cells text takes: wide East Asian characters two, combining marks none."""
    if text.isascii():
        return len(text)
    import unicodedata

    return sum(
        0 if unicodedata.combining(ch) else 2 if unicodedata.east_asian_width(ch) in "WF" else 1
        for ch in text
    )


def mask(value: str) -> str:
    """A preview that never reveals a secret: a short prefix only for long values."""
    if len(value) >= 16:
        return f"{value[:4]}...({len(value)} chars)"
    return "****" if value else ""
