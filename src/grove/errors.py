"""Error kinds. Each carries a stable code, a message, a hint and an exit status."""

from __future__ import annotations

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing on --help's path
if TYPE_CHECKING:
    from collections.abc import Sequence


class GroveError(Exception):
    """An expected failure: reported as a message (or JSON), never as a traceback."""

    code = "error"
    exit_code = 1

    def __init__(self, message: str, hint: str = "", details: dict[str, object] | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.details = details or {}

    def as_json(self) -> dict[str, object]:
        body: dict[str, object] = {"code": self.code, "message": self.message, "hint": self.hint}
        body.update(self.details)
        return {"error": body}


class UsageError(GroveError):
    code = "usage"
    exit_code = 2


class ConfigError(GroveError):
    """grove.toml is wrong: names the file and the key, exits 2 before anything is written."""

    code = "config"
    exit_code = 2


class NotARepository(GroveError):
    code = "not-a-repository"
    exit_code = 2


class GitError(GroveError):
    code = "git"

    def __init__(self, argv: Sequence[str], returncode: int, stderr: str, hint: str = ""):
        last = stderr.strip().splitlines()
        reason = last[-1] if last else f"exit code {returncode}"
        super().__init__(
            f"git {' '.join(argv[1:])} failed: {reason}",
            hint,
            {"argv": list(argv), "returncode": returncode, "stderr": stderr.strip()},
        )


class Refused(GroveError):
    """Work would be lost; the message says what `--force` would discard."""

    code = "refused"


class LockTimeout(GroveError):
    code = "lock-timeout"


class StepFailed(GroveError):
    code = "step-failed"


class NoFreeSlot(GroveError):
    code = "no-free-slot"


class Claimed(GroveError):
    """The branch's claim on the team's git remote is another holder's (or just changed)."""

    code = "claimed"


class RemoteUnreachable(GroveError):
    """The team's git remote did not answer a claim's push or fetch."""

    code = "remote-unreachable"


class DatabaseError(GroveError):
    code = "database"


class DamagedState(GroveError):
    """A record grove keeps under git's common dir does not read as one. Never treated as
    empty and never overwritten: the message names the file and the command that repairs it."""

    code = "damaged-state"
    exit_code = 2


class UnsafePath(GroveError):
    """A path grove would write or delete passes through a symlink (or a file where a folder
    belongs). Content inside a slot may be hostile: grove never follows a link out of it."""

    code = "unsafe-path"


class Unapproved(GroveError):
    """The shared files changed since they were last approved, and the command would run
    steps (or hand out a slot) with them. Names the changed keys, never their values."""

    code = "unapproved"
