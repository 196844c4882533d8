"""grove env: the merged environment a process in slot N sees (local over shared)."""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grove import envfile, output, slotenv
from grove.commands import existing_slot
from grove.slots import Grove

FORMATS = ("dotenv", "shell", "json")


@dataclass
class EnvResult:
    slot: int
    path: Path
    env: dict[str, str]
    managed: set[str]
    ports: dict[str, int]
    fmt: str
    reveal: bool

    def shown(self) -> dict[str, str]:
        """Values grove manages are shown; the rest may be secrets, masked unless --reveal."""
        if self.reveal:
            return dict(self.env)
        return {k: v if k in self.managed else output.mask(v) for k, v in self.env.items()}

    def masked_keys(self) -> list[str]:
        return [] if self.reveal else sorted(k for k in self.env if k not in self.managed)

    def as_json(self) -> dict[str, Any]:
        return {
            "slot": self.slot,
            "path": str(self.path),
            "ports": self.ports,
            "env": self.shown(),
            "masked": self.masked_keys(),
        }

    def as_text(self) -> str:
        shown = self.shown()
        if self.fmt == "json":
            return json.dumps(self.as_json(), indent=2)
        if self.fmt == "shell":
            return "\n".join(f"export {k}={shlex.quote(v)}" for k, v in shown.items())
        lines = []
        for key, value in shown.items():
            try:
                lines.append(envfile.format_assignment(key, value))
            except envfile.UnsafeValue:
                lines.append(f"{key}={json.dumps(value)}")
        return "\n".join(lines)


def run(grove: Grove, n: int | None, fmt: str, reveal: bool) -> EnvResult:
    n = grove.resolve_slot(n)
    slot = existing_slot(grove, n)
    values = slotenv.managed_values(grove, n)
    env = slotenv.slot_env(grove, n)
    # Rewritten shared values and database passwords carry credentials: masked like the rest.
    secret = {rule.key for rule in grove.config.rewrites} | {"PGPASSWORD"}
    if "PGPASSWORD" in values:
        secret.add("DATABASE_URL")
    # Masking follows where the value came from, not the key's name: a key grove manages is
    # shown only while the slot really sees grove's value. With the local file missing, or
    # a user line overriding it, the value comes from elsewhere (the shared file, say a
    # production URL) and is masked like any other.
    managed = {key for key in set(values) - secret if env.get(key) == values[key]}
    return EnvResult(n, slot.path, env, managed, grove.config.ports_for(n), fmt, reveal)
