"""Rendering: results as aligned text or as one JSON document; narration on stderr."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from typing import Any, Protocol


class Result(Protocol):
    def as_json(self) -> dict[str, Any]: ...

    def as_text(self) -> str: ...


def narrate(message: str) -> None:
    """Progress and logs: always stderr, so stdout stays the answer."""
    print(f"grove: {message}", file=sys.stderr, flush=True)


def use_color() -> bool:
    return sys.stdout.isatty() and "NO_COLOR" not in os.environ


def to_json(data: dict[str, Any]) -> str:
    return json.dumps(data, indent=2, default=str)


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """An aligned table without borders (rich, imported only when text is rendered)."""
    import io

    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    grid = Table(
        box=None, pad_edge=False, show_edge=False, header_style="bold" if use_color() else ""
    )
    for header in headers:
        grid.add_column(header, overflow="fold")
    for row in rows:
        # Text, not str: rich would read "[env] protect" in a message as markup and drop it.
        grid.add_row(*(Text(str(cell)) for cell in row))
    buffer = io.StringIO()
    Console(
        file=buffer,
        width=200,
        color_system="auto" if use_color() else None,
        force_terminal=use_color(),
    ).print(grid)
    return "\n".join(line.rstrip() for line in buffer.getvalue().splitlines())


def mask(value: str) -> str:
    """A preview that never reveals a secret: a short prefix only for long values."""
    if len(value) >= 16:
        return f"{value[:4]}...({len(value)} chars)"
    return "****" if value else ""
