"""Production secrets in the shared and local files, and shared files changed since approval."""

from __future__ import annotations

from pathlib import Path

from grove import approval, envfile, secretscan
from grove.checks import Finding, error, warning
from grove.slots import Grove


def files_to_scan(grove: Grove, slots: list[int]) -> list[tuple[int | None, Path, str]]:
    """(slot, resolved path, name shown) for every shared and local file, links followed.

    Common scanners skip symlinks; the shared link is exactly what must be read here. Main's
    shared files reach every slot, so their findings belong to no single slot (None).
    """
    seen: set[Path] = set()
    found: list[tuple[int | None, Path, str]] = []
    main_shared = {(grove.main / name).resolve() for name in grove.config.shared}
    for n in sorted(set(slots) | {0}):
        slot_dir = grove.slot_path(n)
        for name in (*grove.config.shared, *grove.config.local_files):
            path = slot_dir / name
            try:
                resolved = path.resolve(strict=True)
            except (FileNotFoundError, RuntimeError):
                continue
            if resolved in seen or not resolved.is_file():
                continue
            seen.add(resolved)
            if resolved in main_shared:
                found.append((None, resolved, name))
            else:
                found.append((n, resolved, name if n == 0 else f"{slot_dir.name}/{name}"))
    return found


def check_secrets(grove: Grove, slots: list[int]) -> list[Finding]:
    security = grove.config.security
    findings: list[Finding] = []
    for n, path, shown in files_to_scan(grove, slots):
        try:
            data = envfile.read_bytes(path)
        except OSError:
            continue  # missing, or not a file to read (a FIFO): the env checks say so
        try:
            text = envfile.decode(data, path)
        except envfile.UnreadableEnvFile as exc:
            # Readers disagree about such a file: say so by line, and still judge the rest.
            # A slot's own files get this finding from the env checks.
            if n is None:
                findings.append(
                    error(
                        n,
                        "env.unreadable",
                        f"{shown}: not UTF-8 (line {exc.details['line']}); its content is "
                        "not shown",
                        "save the file as UTF-8 (dotenv readers disagree about encodings)",
                    )
                )
            text = data.decode("utf-8", errors="replace")
        for hit in secretscan.scan_text(
            text, path, security.allow, security.production_aws_accounts
        ):
            detail = f", {hit.detail}" if hit.detail else ""
            make = error if hit.level == "error" else warning
            key = f" {hit.key}" if hit.key else ""  # a line too long to parse may show none
            findings.append(
                make(
                    n,
                    f"secrets.{hit.rule.id}",
                    f"{shown}:{hit.line}{key}: {hit.rule.what} ({hit.preview}{detail}; "
                    f"fingerprint {hit.fingerprint})",
                    _hint(hit),
                )
            )
    return findings


def _hint(hit: secretscan.Hit) -> str:
    names = f'"{hit.key}" or "{hit.fingerprint}"' if hit.key else f'"{hit.fingerprint}"'
    allow = f"add {names} to [security] allow, or end the line with `# grove:allow`"
    if hit.rule is secretscan.TOO_LONG:
        return (
            "shorten the line or keep the data in a file of its own (no program receives a "
            f"value over {secretscan.VALUE_LIMIT // 1024} KiB in its environment); if it is "
            f"expected, {allow}"
        )
    return (
        "the shared .env must hold dev/staging values only: move it to your secret manager; "
        f"if it is a false positive, {allow}"
    )


def check_protection(grove: Grove) -> list[Finding]:
    if not grove.config.protect:
        return []
    return [
        warning(
            None,
            "env.unprotected",
            f"main's {name} is writable although [env] protect is on",
            "`grove refresh` makes it read-only again; edit it with `grove env edit`",
        )
        for name in grove.config.shared
        if (grove.main / name).is_file() and (grove.main / name).stat().st_mode & 0o222
    ]


def check_approval(grove: Grove) -> list[Finding]:
    record = approval.read(grove)
    if record is None:
        return [
            warning(
                None,
                "env.not-approved",
                "the shared files have never been approved",
                "review them, then `grove env approve` records their state",
            )
        ]
    return [
        error(
            None,
            "env.changed-since-approval",
            change.summary(),
            "a write from any slot reaches every slot: review the change (`git diff` cannot "
            "see it), then `grove env approve`",
        )
        for change in approval.drift(grove, record)
    ]
