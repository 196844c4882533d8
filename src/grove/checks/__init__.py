"""validate: each family returns findings; none of them writes a file or takes a git lock."""

from __future__ import annotations

from grove.record import asdict, record


@record(frozen=True)
class Finding:
    slot: int | None
    check: str  # a stable id, e.g. "env.shared-not-link"
    level: str  # "error" | "warning"
    message: str
    hint: str = ""

    def as_json(self) -> dict[str, object]:
        return asdict(self)


def error(slot: int | None, check: str, message: str, hint: str = "") -> Finding:
    return Finding(slot, check, "error", message, hint)


def warning(slot: int | None, check: str, message: str, hint: str = "") -> Finding:
    return Finding(slot, check, "warning", message, hint)
