"""Services: the slot's database answers, and its migrations are not pending."""

from __future__ import annotations

from grove.checks import Finding, error, warning
from grove.errors import GroveError
from grove.slots import Grove


def check_slot(grove: Grove, n: int) -> list[Finding]:
    return check_database(grove, n) + check_compose_state(grove, n)


def check_database(grove: Grove, n: int) -> list[Finding]:
    if grove.config.database is None:
        return []
    from grove import database

    try:
        state = database.status(grove, n)
    except GroveError as exc:
        return [error(n, "services.db-unavailable", exc.message, exc.hint)]
    if not state.provisioned:
        return [
            warning(
                n,
                "services.db-missing",
                f"slot {n} has no database yet ({state.database})",
                f"`grove refresh {n}` clones it from the template",
            )
        ]
    if not state.running:
        return [
            warning(
                n,
                "services.db-down",
                f"slot {n}'s database is not answering on {state.host}:{state.port}",
                f"`grove db start {n}`",
            )
        ]
    pending = database.migrate_status(grove, n)
    if pending is not None and pending.returncode != 0:
        tail = (pending.stdout + pending.stderr).strip().splitlines()[-3:]
        return [
            warning(
                n,
                "services.migrations-pending",
                f"`{grove.config.database.migrate_status}` exited {pending.returncode}"
                + (f": {' | '.join(tail)}" if tail else ""),
                f"`grove refresh {n}` runs [database] migrate",
            )
        ]
    return []


COMPOSE_FILES = ("compose.yaml", "compose.yml", "docker-compose.yaml", "docker-compose.yml")


def compose_file(grove: Grove, n: int) -> str | None:
    return next((f for f in COMPOSE_FILES if (grove.slot_path(n) / f).is_file()), None)


def compose_project(grove: Grove, n: int) -> str:
    """The project name compose uses for slot n: COMPOSE_PROJECT_NAME, else the folder name."""
    import re

    from grove import slotenv

    name = slotenv.slot_env(grove, n).get("COMPOSE_PROJECT_NAME")
    if name:
        return name
    # compose's default: the project directory's name, lowercased, [a-z0-9_-] only
    return re.sub(r"[^a-z0-9_-]", "", grove.slot_path(n).name.lower())


def check_compose_projects(grove: Grove, slots: list[int]) -> list[Finding]:
    """Two slots sharing a compose project share containers and volumes: `down -v` in one
    deletes the other's data."""
    owners: dict[str, int] = {}
    findings: list[Finding] = []
    for n in slots:
        if compose_file(grove, n) is None:
            continue
        project = compose_project(grove, n)
        if project in owners:
            findings.append(
                error(
                    n,
                    "services.compose-shared-project",
                    f"slot {n} and slot {owners[project]} both use compose project '{project}'",
                    'set [env.derived] COMPOSE_PROJECT_NAME = "{name}-wt{n}", then '
                    "`grove refresh --all`",
                )
            )
        owners.setdefault(project, n)
    return findings


def check_compose_state(grove: Grove, n: int) -> list[Finding]:
    """Containers of the slot's compose project that are not running or not healthy."""
    import json
    import shutil

    from grove import proc, slotenv

    if compose_file(grove, n) is None or shutil.which("docker") is None:
        return []
    project = compose_project(grove, n)
    slot_dir = grove.slot_path(n)
    argv = ["docker", "compose", "--project-directory", str(slot_dir), "-p", project]
    for env_name in (*grove.config.shared, grove.config.local):
        if (slot_dir / env_name).exists():
            argv += ["--env-file", str(slot_dir / env_name)]
    result = proc.run(
        [*argv, "ps", "--all", "--format", "json"], cwd=slot_dir, env=slotenv.process_env(grove, n)
    )
    if result.returncode != 0:
        tail = " | ".join(result.stderr.strip().splitlines()[-2:])
        return [
            warning(
                n,
                "services.compose-unavailable",
                f"could not read compose project '{project}': {tail}",
                _compose_hint(result.stderr),
            )
        ]
    text = result.stdout.strip()
    try:
        rows = (
            json.loads(text)
            if text.startswith("[")
            else [json.loads(line) for line in text.splitlines() if line.strip()]
        )
    except json.JSONDecodeError:
        return [
            warning(
                n,
                "services.compose-unavailable",
                f"could not parse `docker compose ps` output for '{project}'",
            )
        ]
    findings: list[Finding] = []
    for row in rows if isinstance(rows, list) else []:
        service = row.get("Service") or row.get("Name") or "?"
        state = str(row.get("State", "")).lower()
        health = str(row.get("Health", "")).lower()
        if state and state != "running":
            findings.append(
                warning(
                    n,
                    "services.compose-down",
                    f"compose service {service} in '{project}' is {state}",
                    f"`grove exec {n} -- docker compose up -d {service}`",
                )
            )
        elif health == "unhealthy":
            findings.append(
                warning(
                    n,
                    "services.compose-unhealthy",
                    f"compose service {service} in '{project}' is unhealthy",
                    f"`grove exec {n} -- docker compose logs {service}`",
                )
            )
    return findings


def _compose_hint(stderr: str) -> str:
    """What the failure most likely means: the plugin, the engine, or neither."""
    text = stderr.lower()
    if "is not a docker command" in text or "unknown command" in text:
        return "the Docker Compose plugin is missing: `docker compose version` fails; install it"
    if "cannot connect to the docker daemon" in text or "docker.sock" in text:
        return "is the Docker engine running?"
    return "run the same `docker compose ps` in the slot to see why"
