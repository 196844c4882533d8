"""Env files that try to steer grove's own processes, and an approval record whose hashes
can be reversed.

grove takes the protected variables (slotenv.PROTECTED_NAMES: PATH, LD_PRELOAD,
NODE_OPTIONS, ...) from the user's environment only. A shared file that sets one is an
error even so: any slot can write it, and other tools that load it (a dev server's dotenv
with override, a shell that sources it) may not be as careful.
"""

from __future__ import annotations

from pathlib import Path

from grove import approval, envfile, slotenv
from grove.checks import Finding, error, warning
from grove.errors import GroveError
from grove.slots import Grove

HINT = (
    "remove it from the file; a command that needs it gets it from your shell "
    "(`NODE_OPTIONS=... grove exec -- ...`)"
)


def _protected_keys(path: Path) -> list[str]:
    try:
        data = envfile.read_bytes(path)
    except OSError:
        return []  # missing or not a file: the env checks report that
    # Decoded leniently: a file that is not UTF-8 is named by env.unreadable, and its other
    # lines are still judged here.
    values = envfile.parse_text(data.decode("utf-8", errors="replace"))
    return sorted(key for key in values if slotenv.is_protected(key))


def check_files(grove: Grove, slots: list[int]) -> list[Finding]:
    findings: list[Finding] = []
    for name in grove.config.shared:
        keys = _protected_keys(grove.main / name)
        if keys:
            findings.append(
                error(
                    None,
                    "env.protected-variable",
                    f"{name} sets {', '.join(keys)}: variables that decide which programs run "
                    "or what they load; every slot can write this file. grove's commands "
                    "ignore them",
                    HINT,
                )
            )
    for n in slots:
        slot_dir = grove.slot_path(n)
        for name in grove.config.local_files:
            keys = _protected_keys(slot_dir / name)
            if keys:
                shown = name if n == 0 else f"{slot_dir.name}/{name}"
                findings.append(
                    warning(
                        n,
                        "env.protected-variable",
                        f"{shown} sets {', '.join(keys)}: grove's commands ignore them (they "
                        "come from your environment only)",
                        HINT,
                    )
                )
    return findings


def check_approval_format(grove: Grove) -> list[Finding]:
    try:
        record = approval.read(grove)
    except GroveError:
        return []  # a damaged record is reported by the approval check
    if record is None or not record.legacy:
        return []
    return [
        warning(
            None,
            "env.approval-unkeyed",
            f"{approval.RECORD} holds unkeyed hashes of the shared values (an older grove wrote "
            "it): short values such as PINs can be recovered from it by guessing",
            "`grove env approve` rewrites it keyed; so does the next command that runs steps, "
            "while the shared files are exactly as approved",
        )
    ]


def check(grove: Grove, slots: list[int]) -> list[Finding]:
    return check_files(grove, slots) + check_approval_format(grove)
