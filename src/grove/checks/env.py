"""Env integrity: shared links, drifted copies, the managed block."""

from __future__ import annotations

import os
from pathlib import Path

from grove import envfile, slotenv
from grove.checks import Finding, error, warning
from grove.slots import Grove


def check_slot(grove: Grove, n: int, tracked: set[str] | None = None) -> list[Finding]:
    findings: list[Finding] = []
    slot_dir = grove.slot_path(n)
    for shared in grove.config.shared:
        main_file = grove.main / shared
        if tracked and shared in tracked:
            continue
        if n == 0:
            if not main_file.exists():
                findings.append(
                    warning(
                        0,
                        "env.shared-missing",
                        f"{shared} does not exist in main",
                        f"create {main_file} (dev/staging values only); slots link to it",
                    )
                )
            elif main_file.is_symlink():
                findings.append(
                    warning(
                        0,
                        "env.shared-main-link",
                        f"main's {shared} is itself a link (-> {os.readlink(main_file)})",
                        "main should hold the real file",
                    )
                )
            continue
        findings += _check_link(grove, n, shared, slot_dir / shared, main_file)
    for name in grove.config.local_files:
        if (slot_dir / name).parent.is_dir():
            findings += _check_block(grove, n, slot_dir / name, name)
    return findings


def _check_link(grove: Grove, n: int, shared: str, link: Path, main_file: Path) -> list[Finding]:
    fix = f"grove refresh {n}"
    if not main_file.exists():
        return []  # reported once, for main
    if link.is_symlink():
        target = link.resolve()
        if target != main_file.resolve():
            outside = not target.is_relative_to(grove.main)
            return [
                error(
                    n,
                    "env.shared-outside-main" if outside else "env.shared-wrong-target",
                    f"{shared} links to {os.readlink(link)}, not to main's {shared}",
                    f"`{fix}` points it back at main",
                )
            ]
        return []
    if not link.exists():
        return [error(n, "env.shared-missing", f"{shared} is missing", f"`{fix}` links it")]
    if link.is_file():
        same = link.read_bytes() == main_file.read_bytes()
        return [
            error(
                n,
                "env.shared-not-link",
                f"{shared} is a regular file, not a link to main's"
                + ("" if same else " (and it has drifted from main's copy)"),
                f"`{fix}` keeps it as a backup and links main's",
            )
        ]
    return [error(n, "env.shared-not-link", f"{shared} is not a file", "remove it by hand")]


def _check_block(grove: Grove, n: int, local: Path, name: str) -> list[Finding]:
    fix = f"grove refresh {n}"
    try:
        text = envfile.read_text(local)
    except envfile.UnreadableEnvFile as exc:
        # Named with its line, never quoted: the row stays, the other checks still run.
        return [error(n, "env.unreadable", exc.message, exc.hint or "save it as UTF-8")]
    if text is None:
        return [error(n, "env.local-missing", f"{name} is missing", f"`{fix}` writes it")]
    block = envfile.read_block(text)
    if block is None:
        broken = envfile.BLOCK_BEGIN in text
        return [
            error(
                n,
                "env.block-broken" if broken else "env.block-missing",
                f"{name} has {'an unclosed' if broken else 'no'} grove block",
                f"`{fix}` writes it" if not broken else "restore '# <<< grove', then refresh",
            )
        ]
    try:
        expected = slotenv.managed_values(grove, n)
    except (KeyError, ValueError):
        return []
    if block != expected:
        stale = sorted(k for k in expected.keys() | block.keys() if block.get(k) != expected.get(k))
        return [
            error(
                n,
                "env.block-stale",
                f"{name}'s grove block is out of date ({', '.join(stale)})",
                f"`{fix}` rewrites it",
            )
        ]
    return []
