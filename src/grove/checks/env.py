"""Env integrity: shared links, drifted copies, the managed block."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit

from grove import envfile, slotenv
from grove.checks import Finding, error, warning
from grove.record import record
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
        try:
            same = envfile.read_bytes(link) == envfile.read_bytes(main_file)
        except OSError:  # one is a FIFO or too large: its own finding names it; no drift said
            same = True
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


# Which line wins when a local file sets a key twice. Within one file, the last definition
# wins: Node's dotenv (its default and its fast parser, 18.0.10 in tests/js) and python-dotenv
# assign key by key as they read, and `grove env` reads the same way. grove rewrites its block
# where it stands (or appends it), so a user line below the block beats grove's value, and one
# above it loses to the block. A loader that sets each line only while the key is unset
# (django-environ's read_env, django-dotenv) keeps the first definition instead. So every
# user line that sets a managed key is a warning, and the line Node's dotenv and python-dotenv
# end up with (the file's last definition) is an error when its value makes the slot collide
# with another; a first definition that would collide under such a loader says so.
_LOOPBACK = {"localhost", "127.0.0.1", "::1", "0.0.0.0"}
_DEFAULT_PORTS = {"postgres": 5432, "mysql": 3306, "redis": 6379, "http": 80, "https": 443}


@record(frozen=True)
class _Override:
    slot: int
    shown: str  # the file as the finding names it
    line: envfile.UserLine

    @property
    def key(self) -> str:
        return self.line.assignment.key

    @property
    def value(self) -> str:
        return self.line.assignment.value


def _url(value: str) -> tuple[str, str, int | None, str] | None:
    """(scheme, host, port, path) of a URL value, loopback names as one: what it points at,
    whoever logs in."""
    if "://" not in value:
        return None
    try:
        parts = urlsplit(value.strip())
        port = parts.port
    except ValueError:
        return None
    if not parts.hostname:
        return None
    host = "loopback" if parts.hostname in _LOOPBACK else parts.hostname
    scheme = parts.scheme.lower().removesuffix("ql")  # postgresql:// is postgres://
    return scheme, host, port or _DEFAULT_PORTS.get(scheme), parts.path.rstrip("/")


def _same_place(a: str, b: str) -> bool:
    url = _url(a)
    return url == _url(b) if url else a.strip() == b.strip()


def _user_overrides(grove: Grove, n: int) -> list[_Override]:
    """Lines outside grove's block, in slot n's local files, that set a key grove manages."""
    config = grove.config
    managed = {spec.name for spec in config.ports} | {key for key, _ in config.derived}
    managed |= {rule.key for rule in config.rewrites}
    slot_dir = grove.slot_path(n)
    found: list[_Override] = []
    for name in config.local_files:
        try:
            text = envfile.read_bytes(slot_dir / name).decode("utf-8")
        except (OSError, UnicodeDecodeError):
            continue  # a missing or unreadable file has findings of its own
        lines = envfile.user_lines(text)
        block = envfile.read_block(text) or {}
        shown = name if n == 0 else f"{slot_dir.name}/{name}"
        found += [
            _Override(n, shown, line)
            for line in lines or []  # no closed block: env.block-missing or -broken says so
            if line.assignment.key in managed or line.assignment.key in block
        ]
    return found


def _ports_in(values: set[str]) -> set[int]:
    return {int(v) for v in values if v.strip().isdigit()}


def _collision(
    o: _Override,
    seen: dict[int, dict[str, set[str]]],
    managed: dict[int, dict[str, str]],
    port_names: set[str],
) -> str | None:
    """What o's value would share with another slot, named without the value; else None."""
    value = o.value.strip()
    url = _url(value)
    # A port variable set to a port of another slot, or of another of this slot's variables.
    if o.key in port_names and value.isdigit():
        for m in sorted(seen, key=lambda m: m == o.slot):
            for key in sorted(port_names & seen[m].keys()):
                if (m, key) != (o.slot, o.key) and int(value) in _ports_in(seen[m][key]):
                    if m == o.slot:
                        return f"the port of this slot's {key}: two of its servers on one port"
                    return f"the port of slot {m}'s {key}: two slots on one port"
    # A local URL on another slot's port talks to that slot's server.
    if url and url[1] == "loopback" and url[2] is not None:
        for m in sorted(seen.keys() - {o.slot}):
            for key in sorted(port_names & seen[m].keys()):
                if url[2] in _ports_in(seen[m][key]):
                    return f"a local address on slot {m}'s {key}: it talks to that slot's server"
    # A key grove gives each slot its own value for (a database URL, a project name), set to
    # the value of another slot.
    if len({values.get(o.key) for values in managed.values()} - {None}) > 1:
        for m in sorted(seen.keys() - {o.slot}):
            if any(_same_place(value, v) for v in seen[m].get(o.key, set())):
                what = "database" if url and url[0] == "postgres" else "value"
                return f"slot {m}'s {o.key}: two slots on one {what}"
    return None


def check_overrides(grove: Grove, slots: list[int], present: list[int]) -> list[Finding]:
    """A user line in a slot's local file that overrides a managed variable (a warning), and
    one that makes the slot collide with another (an error). See the rule above."""
    overrides = {n: _user_overrides(grove, n) for n in present}
    if not any(overrides.get(n) for n in slots):
        return []
    port_names = {spec.name for spec in grove.config.ports}
    # What each slot's processes may see for each managed key: grove's value, and the value
    # of any user line that dotenv readers end up with.
    managed: dict[int, dict[str, str]] = {}
    seen: dict[int, dict[str, set[str]]] = {}
    for n in sorted({*present, *range(grove.config.slots)}):
        try:
            managed[n] = slotenv.managed_values(grove, n)
        except (KeyError, ValueError):
            continue
        seen[n] = {key: {value} for key, value in managed[n].items()}
        for o in overrides.get(n, []):
            if o.line.last:
                seen[n].setdefault(o.key, set()).add(o.value.strip())
    findings: list[Finding] = []
    for n in slots:
        for o in overrides.get(n, []):
            where = f"{o.shown}:{o.line.assignment.line} {o.key}"
            shared = _collision(o, seen, managed, port_names)
            if o.line.last and shared:
                findings.append(
                    error(
                        n,
                        "env.override-collision",
                        f"{where}: a line of yours overrides grove's value with {shared}",
                        f"remove the line from {o.shown}, or set [ports]/[env] in grove.toml "
                        "and `grove refresh`",
                    )
                )
                continue
            if o.line.last:
                how = "overrides grove's value (the last line that sets a key wins)"
            elif o.line.first:
                how = (
                    "sets a key grove manages; a later line (grove's block or yours) wins for "
                    "Node's dotenv and python-dotenv, but a loader that keeps the first "
                    "definition reads this one"
                )
                if shared:
                    how += f", which would give {shared}"
            else:
                how = "sets a key grove manages; lines before and after it set it too"
            findings.append(
                warning(
                    n,
                    "env.local-override",
                    f"{where}: a line of yours {how}",
                    f"remove it from {o.shown} so grove's block decides; to change the value "
                    "for every slot, change grove.toml and `grove refresh`",
                )
            )
    return findings
