"""A slot's managed values as shell `export` lines, for processes grove does not start.

Node's dotenv, Next.js, Prisma, drizzle-kit and NestJS never override a variable the
process already has, so exporting the slot's ports and database into the shell fixes an
app whose loader reads only the shared `.env` (issue 14). Only the managed block's values
go out, never the shared file's: its secrets stay in the one file they live in. Read by
Claude Code's CLAUDE_ENV_FILE and by direnv's `.envrc`, both sourced by a shell.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from grove import envfile
from grove.slotenv import is_protected, managed_values
from grove.slots import Grove

# fullmatch: what `export` accepts. A pattern compiled on first use (re caches it): take
# loads this module without exporting anything.
SHELL_NAME = r"[A-Za-z_][A-Za-z0-9_]*"


def quote(value: str) -> str:
    """value single-quoted for a POSIX shell: nothing inside is expanded; a quote in the
    value closes the string, adds an escaped quote and reopens it."""
    return "'" + value.replace("'", "'\\''") + "'"


def exported_values(grove: Grove, n: int) -> dict[str, str]:
    """Slot n's managed values that a shell may export. The protected names (PATH,
    NODE_OPTIONS, ...) never go out, and a line break (refused in the block anyway) would
    split the one-line-per-key file."""
    return {
        key: value
        for key, value in managed_values(grove, n).items()
        if re.fullmatch(SHELL_NAME, key)
        and not is_protected(key)
        and not any(c in value for c in "\n\r\0")
    }


def export_lines(values: Mapping[str, str]) -> list[str]:
    return [f"export {key}={quote(value)}" for key, value in values.items()]


def envrc_block(n: int, values: Mapping[str, str]) -> str:
    """The managed block of a slot's .envrc: the local file's markers (shell comments too),
    so the block is found, replaced and recognised as grove's the same way."""
    return "\n".join([envfile.block_header(n), *export_lines(values), envfile.BLOCK_END]) + "\n"
