"""grove env: the merged environment a process in slot N sees (local over shared)."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

from grove import envfile, output, slotenv
from grove.commands import existing_slot
from grove.record import record
from grove.slots import Grove

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing
if TYPE_CHECKING:
    from typing import Any

FORMATS = ("dotenv", "shell", "json")


@record
class EnvResult:
    slot: int
    path: Path
    env: dict[str, str]
    managed: set[str]  # keys whose value is grove's own and carries no credential
    ports: dict[str, int]
    fmt: str
    reveal: bool
    # What the answer was computed from, for the answer cache (none with --reveal: a
    # revealed value is never written to disk).
    inputs: list[tuple[Path, str]]
    state_dir: Path

    def shown(self) -> dict[str, str]:
        """Values grove writes are shown; the rest may be secrets, masked unless --reveal. A
        URL keeps its host, port and path and loses only its password."""
        if self.reveal:
            return dict(self.env)
        return {k: v if k in self.managed else _masked(v) for k, v in self.env.items()}

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
        note = self.note()
        if note:
            output.narrate(note)
        return self.render()

    def render(self) -> str:
        """The answer in the asked format, without the note as_text writes to stderr."""
        if self.fmt == "json":
            return json.dumps(self.as_json(), indent=2)
        # dotenv and shell are read by `eval`, `source` and dotenv readers: a masked value
        # there would be taken for the value. Masked keys are left out, and stderr says so.
        masked = set(self.masked_keys())
        shown = {k: v for k, v in self.shown().items() if k not in masked}
        if self.fmt == "shell":
            return "\n".join(f"export {k}={shlex.quote(v)}" for k, v in shown.items())
        lines = []
        for key, value in shown.items():
            try:
                lines.append(envfile.format_assignment(key, value))
            except envfile.UnsafeValue:
                lines.append(f"{key}={json.dumps(value)}")
        return "\n".join(lines)

    def note(self) -> str:
        """What the text formats say on stderr: the keys they leave out."""
        masked = self.masked_keys()
        if self.fmt == "json" or not masked:
            return ""
        return f"left out {len(masked)} masked value(s): {', '.join(masked)}; --reveal prints them"


def _masked(value: str) -> str:
    """A URL with a password keeps everything but the password; anything else is masked."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(value)
        if parts.scheme and parts.password and parts.hostname:
            userinfo = f"{parts.username}:****@" if parts.username else "****@"
            netloc = userinfo + parts.netloc.rpartition("@")[2]
            return parts._replace(netloc=netloc).geturl()
    except ValueError:
        pass
    return output.mask(value)


def _carries_credentials(value: str) -> bool:
    from urllib.parse import urlsplit

    try:
        return bool(urlsplit(value).password)
    except ValueError:
        return False


def run(grove: Grove, n: int | None, fmt: str, reveal: bool) -> EnvResult:
    n = grove.resolve_slot(n)
    slot = existing_slot(grove, n)
    values = slotenv.managed_values(grove, n)
    env = slotenv.slot_env(grove, n)
    # Masking follows where the value came from, not the key's name: a key grove manages is
    # shown only while the slot really sees grove's own value (with the local file missing,
    # or a user line overriding it, the value comes from elsewhere, say a production URL in
    # the shared file). Of grove's own values only credentials are masked: the database
    # password, and a URL that carries one (a rewritten shared value keeps its password).
    managed = {
        key
        for key, value in values.items()
        if env.get(key) == value and key != "PGPASSWORD" and not _carries_credentials(value)
    }
    inputs = [] if reveal else slotenv.read_inputs(grove, n)
    ports = grove.config.ports_for(n)
    return EnvResult(n, slot.path, env, managed, ports, fmt, reveal, inputs, grove.state_dir)
