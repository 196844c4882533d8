"""Rendering: results as aligned text or as one JSON document; narration on stderr."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Sequence
from typing import Any, Protocol


class Result(Protocol):
    def as_json(self) -> dict[str, Any]: ...

    def as_text(self) -> str: ...


# C0 and C1 control characters except tab and newline, and the bidirectional overrides
# ("Trojan source"): from a label, a file name or a value, any of them could move the
# cursor, retitle the terminal, recolour output or make text read differently than it is.
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def safe(text: str) -> str:
    """Text that is safe for a terminal: each control character becomes a visible escape."""
    return _UNSAFE.sub(_escape, text)


def _escape(found: re.Match[str]) -> str:
    code = ord(found.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def narrate(message: str) -> None:
    """Progress and logs: always stderr, so stdout stays the answer."""
    print(f"grove: {safe(message)}", file=sys.stderr, flush=True)


def to_json(data: dict[str, Any]) -> str:
    return json.dumps(data, indent=2, default=str)


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """An aligned table without borders (rich, imported only when text is rendered)."""
    import io

    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    # No colour: every cell is plain text, and the whole output passes through safe().
    grid = Table(box=None, pad_edge=False, show_edge=False, header_style="")
    for header in headers:
        grid.add_column(header, overflow="fold")
    for row in rows:
        # Text, not str: rich would read "[env] protect" in a message as markup and drop it.
        grid.add_row(*(Text(safe(str(cell))) for cell in row))
    buffer = io.StringIO()
    Console(file=buffer, width=200, color_system=None, force_terminal=False).print(grid)
    return "\n".join(line.rstrip() for line in buffer.getvalue().splitlines())


def mask(value: str) -> str:
    """A preview that never reveals a secret: a short prefix only for long values."""
    if len(value) >= 16:
        return f"{value[:4]}...({len(value)} chars)"
    return "****" if value else ""
