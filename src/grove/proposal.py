"""What `grove init` proposes for a repository, with the reason for each choice."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import PurePosixPath
from typing import Any

from grove import detect
from grove.config import DEFAULT_PORTS
from grove.record import field, record

STRIDES = (1, 10, 100, 1000)

ORMS: tuple[tuple[str, tuple[str, ...], dict[str, str]], ...] = (
    (
        "prisma",
        ("schema.prisma",),
        {
            "migrate": "npx prisma migrate deploy",
            "migrate_status": "npx prisma migrate status",
            "seed": "npx prisma db seed",
            "migrations": "prisma/migrations/**",
        },
    ),
    (
        "drizzle",
        ("drizzle.config.ts", "drizzle.config.js", "drizzle.config.mjs"),
        {
            "migrate": "npx drizzle-kit migrate",
            "migrations": "drizzle/**",
        },
    ),
    (
        "knex",
        ("knexfile.js", "knexfile.ts", "knexfile.cjs"),
        {
            "migrate": "npx knex migrate:latest",
            "migrate_status": "npx knex migrate:status",
            "seed": "npx knex seed:run",
            "migrations": "migrations/**",
        },
    ),
    (
        "typeorm",
        ("ormconfig.json", "ormconfig.ts", "data-source.ts"),
        {
            "migrate": "npx typeorm migration:run -d <your data source>",
            "migrate_status": "npx typeorm migration:show -d <your data source>",
        },
    ),
    (
        "sequelize",
        (".sequelizerc",),
        {
            "migrate": "npx sequelize-cli db:migrate",
            "migrate_status": "npx sequelize-cli db:migrate:status",
            "seed": "npx sequelize-cli db:seed:all",
            "migrations": "migrations/**",
        },
    ),
    (
        "alembic",
        ("alembic.ini",),
        {
            "migrate": "alembic upgrade head",
            "migrate_status": "alembic check",
            "migrations": "alembic/versions/**",
        },
    ),
    (
        "django",
        ("manage.py",),
        {
            "migrate": "python manage.py migrate --no-input",
            "migrate_status": "python manage.py migrate --check",
            "migrations": "**/migrations/*.py",
        },
    ),
)


@record
class ServiceProposal:
    """One [services] entry init proposes, with the reasons written above it."""

    name: str
    run: str
    port: str | None
    why: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {"name": self.name, "run": self.run, "port": self.port, "why": self.why}


@record
class Proposal:
    shared: list[str] = field(default_factory=list)
    local: list[str] = field(default_factory=list)
    ports: dict[str, int] = field(default_factory=dict)
    port_sources: dict[str, list[str]] = field(default_factory=dict)
    stride: int = 1
    stride_reason: str = ""
    rewrites: dict[str, str | None] = field(default_factory=dict)  # key -> port variable
    rewrite_sources: dict[str, str] = field(default_factory=dict)
    compose_files: list[str] = field(default_factory=list)
    package_manager: str | None = None
    setup_run: list[str] = field(default_factory=list)
    setup_copy: list[str] = field(default_factory=list)
    orm: str | None = None
    database: dict[str, str] = field(default_factory=dict)
    auth: list[str] = field(default_factory=list)
    protect_reasons: list[str] = field(default_factory=list)
    services: list[ServiceProposal] = field(default_factory=list)
    services_reason: str = ""
    notes: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "shared": self.shared,
            "local": self.local,
            "ports": [
                {"name": k, "base": v, "found_in": self.port_sources.get(k, [])}
                for k, v in self.ports.items()
            ],
            "stride": self.stride,
            "stride_reason": self.stride_reason,
            "rewrites": [
                {"key": k, "port": v, "found_in": self.rewrite_sources.get(k)}
                for k, v in self.rewrites.items()
            ],
            "compose_files": self.compose_files,
            "package_manager": self.package_manager,
            "setup": {"run": self.setup_run, "copy": self.setup_copy},
            "orm": self.orm,
            "database": self.database,
            "auth": self.auth,
            "protect": bool(self.protect_reasons),
            "protect_reasons": self.protect_reasons,
            "services": [service.as_json() for service in self.services],
            "services_reason": self.services_reason,
            "notes": self.notes,
        }


def _dir_file(directory: str, name: str) -> str:
    return name if directory == "." else f"{directory}/{name}"


def _port_name_for(key: str, taken: dict[str, int]) -> str:
    stem = re.sub(r"_(URL|URI|HOST|DOMAIN|ADDR|ADDRESS|ENDPOINT|ORIGIN)$", "", key)
    name = f"{stem}_PORT"
    counter = 2
    while name in taken:
        name = f"{stem}_PORT_{counter}"
        counter += 1
    return name


def choose_stride(ports: dict[str, int], slots: int) -> tuple[int, str]:
    for stride in STRIDES:
        seen: set[int] = set()
        fits = True
        for base in ports.values():
            for n in range(slots):
                port = base + n * stride
                if port in seen or port > 65535:
                    fits = False
                seen.add(port)
        if fits:
            if stride == 1:
                return 1, f"no two of these ports are within {slots} of each other"
            return stride, (
                f"some bases sit closer than {slots} apart (a stride of 1 would make "
                f"slot 1's port another variable's main port), so slots step by {stride}"
            )
    return 1000, "bases crowd each other; review the ranges"


def propose(repo: detect.Repo, slots: int) -> Proposal:
    p = Proposal()
    dirs = repo.package_dirs or ["."]
    p.shared = [_dir_file(d, ".env") for d in dirs]
    p.local = [_dir_file(d, ".env.local") for d in dirs]
    _collect_ports(repo, p)
    if not p.ports:
        p.ports = dict(DEFAULT_PORTS)
        p.notes.append("no port variables found: the seed's default table is proposed")
    p.stride, p.stride_reason = choose_stride(p.ports, slots)
    p.compose_files = repo.compose_files
    _setup(repo, p)
    _database(repo, p)
    _services(repo, p)
    deps = repo.dependencies()
    p.auth = [name for name in detect.AUTH_PACKAGES if name in deps]
    for relative, line, name, command in repo.scripts():
        if detect.writes_shared_env(command):
            p.protect_reasons.append(f"{relative}:{line} script {name!r} writes .env")
        for port in detect.script_ports(command):
            p.notes.append(
                f"{relative}:{line} script {name!r} fixes port {port}: the same in "
                "every slot; read it from the environment instead"
            )
    for compose in repo.compose_files:
        for ref in repo.compose_ports(compose):
            if ref.port is not None:
                p.notes.append(
                    f"{compose}:{ref.line} host port {ref.port} is fixed: write "
                    f"${{VAR:-{ref.port}}} so each slot publishes its own"
                )
    return p


def _collect_ports(repo: detect.Repo, p: Proposal) -> None:
    sources = [*repo.examples, *repo.env_files]
    entries = [e for f in sources for e in repo.entries(f)]
    for e in entries:
        if detect.PORT_KEY.search(e.key) and e.value.strip().isdigit():
            port = int(e.value)
            if 1 <= port <= 65535 and e.key not in p.ports:
                p.ports[e.key] = port
            p.port_sources.setdefault(e.key, []).append(f"{e.file}:{e.line}")
    for compose in repo.compose_files:
        for ref in repo.compose_ports(compose):
            if ref.var is None:
                continue
            if ref.var not in p.ports and ref.default is not None:
                p.ports[ref.var] = ref.default
            if ref.var in p.ports:
                p.port_sources.setdefault(ref.var, []).append(f"{compose}:{ref.line}")
            else:
                p.notes.append(
                    f"{compose}:{ref.line} uses ${{{ref.var}}} with no value or "
                    "default to learn its base from"
                )
    by_base = {base: name for name, base in p.ports.items()}
    for e in entries:
        if e.key in p.ports or e.key in p.rewrites:
            continue
        found = detect.embedded_ports(e.value)
        refs = [r for r in detect.var_refs(e.value) if r in p.ports]
        if found:
            port = found[0]
            var = by_base.get(port)
            if var is None:
                var = _port_name_for(e.key, p.ports)
                p.ports[var] = port
                by_base[port] = var
                p.port_sources.setdefault(var, []).append(f"{e.file}:{e.line} (inside {e.key})")
            p.rewrites[e.key] = var
            p.rewrite_sources[e.key] = f"{e.file}:{e.line}"
        elif refs:
            p.rewrites[e.key] = None
            p.rewrite_sources[e.key] = f"{e.file}:{e.line} (references ${{{refs[0]}}})"


def _setup(repo: detect.Repo, p: Proposal) -> None:
    present = set(repo.files)
    for lockfile, manager, command in detect.LOCKFILE_INSTALL:
        if lockfile in present:
            p.package_manager = manager
            berry = manager == "yarn" and ".yarnrc.yml" in present
            p.setup_run = ["yarn install --immutable" if berry else command]
            break
    p.setup_copy = list(repo.node_modules)
    if not p.setup_copy and "package.json" in present:
        p.setup_copy = ["node_modules"]


def _database(repo: detect.Repo, p: Proposal) -> None:
    names = {PurePosixPath(f).name for f in repo.files}
    deps = repo.dependencies()
    for orm, markers, commands in ORMS:
        aliases = {orm, f"{orm}-cli", f"{orm}-orm", f"{orm}-kit", f"@{orm}/client"}
        if any(m in names for m in markers) or aliases & deps:
            p.orm = orm
            p.database = dict(commands)
            return


# Scripts that start a server, best first: `dev` reloads on change, which is what a task
# needs; `start` often serves a production build.
SERVER_SCRIPTS = ("dev", "start")
MAX_SERVICES = 8
# What a JS package manager runs a script with; any other lockfile (uv, poetry) means npm.
SCRIPT_RUNNERS = {"pnpm": "pnpm run", "yarn": "yarn run", "bun": "bun run"}
# Listening port variables, by name, after PORT and <SERVICE>_PORT.
LISTEN_PORT_NAMES = ("APP_PORT", "SERVER_PORT", "HTTP_PORT", "WEB_PORT")
# Dev servers that never read $PORT: `up` would wait on the slot's port in vain.
IGNORES_PORT_ENV = re.compile(r"(?:^|[\s;&|(])(vite|astro|ng serve)\b")


def _services(repo: detect.Repo, p: Proposal) -> None:
    """One service per package.json with a `dev` or `start` script. In a workspace the
    root's script starts every app at once (turbo, nx, npm -ws), and `grove up` could wait
    for one port only, so each app becomes its own service instead."""
    found: list[tuple[str, str, str]] = []  # (folder, script, command)
    for relative, data in repo.package_jsons.items():
        scripts = data.get("scripts")
        if not isinstance(scripts, dict):
            continue
        script = next((s for s in SERVER_SCRIPTS if isinstance(scripts.get(s), str)), None)
        if script is not None:
            found.append((str(PurePosixPath(relative).parent), script, scripts[script]))
    found.sort(key=lambda f: (f[0] != ".", f[0]))
    root = next((f for f in found if f[0] == "."), None)
    nested = [f for f in found if f[0] != "."]
    if root is not None and nested and _is_workspace(repo):
        p.services_reason = (
            f'one service per app, each waited for on its own port: the root\'s "{root[1]}" '
            f"({root[2]}) starts them all as one command"
        )
        chosen = nested
    elif root is not None:
        chosen = [root]  # a nested package.json outside a workspace is a tool or an example
    else:
        chosen = nested
    chosen = chosen[:MAX_SERVICES]
    names: list[str] = []
    for folder, _, _ in chosen:
        names.append(_service_name(folder, set(names)))
    # A package's own env file names its port before any package falls back to PORT.
    ports = [_own_port(p, folder, name) for (folder, _, _), name in zip(chosen, names, strict=True)]
    claimed = {port for port, _ in ports if port is not None}
    for i, (port, _) in enumerate(ports):
        if port is None and "PORT" in p.ports and "PORT" not in claimed:
            ports[i] = ("PORT", "the variable most servers read")
            claimed.add("PORT")
    for (folder, script, command), name, (port, source) in zip(chosen, names, ports, strict=True):
        where = _dir_file(folder, "package.json")
        why = [f'{name}: {where} script "{script}"']
        if script == "dev" and "start" in (repo.package_jsons[where].get("scripts") or {}):
            why[0] += ' (rather than "start": dev reloads on change)'
        if port is not None:
            why[0] += f"; listens on {port} ({source})"
        else:
            why.append(f'{name}: no port variable found: add port = "..." so `grove up` waits')
        for fixed in detect.script_ports(command):
            why.append(f"{name}: the script fixes port {fixed}, the same in every slot: use $PORT")
        tool = IGNORES_PORT_ENV.search(command)
        if tool and port is not None and "PORT" not in command:
            why.append(
                f"{name}: {tool.group(1)} does not read ${port}: add --port ${port} to its "
                "script, or `grove up` waits in vain"
            )
        p.services.append(ServiceProposal(name, _script_command(p, folder, script), port, why))
    if len(found) > MAX_SERVICES:
        p.notes.append(f"only {MAX_SERVICES} packages with a dev or start script got a service")


def _is_workspace(repo: detect.Repo) -> bool:
    root = repo.package_jsons.get("package.json", {})
    return "workspaces" in root or "pnpm-workspace.yaml" in repo.files


def _service_name(folder: str, taken: set[str]) -> str:
    """A valid service name: `web` for the root, else the package folder's own name."""
    base = "web" if folder == "." else PurePosixPath(folder).name.lower()
    base = re.sub(r"[^a-z0-9_-]+", "-", base).strip("-_")[:28] or "app"
    if not base[0].isalpha():
        base = f"app-{base}"[:28]
    name, counter = base, 2
    while name in taken:
        name = f"{base}-{counter}"
        counter += 1
    return name


def _own_port(p: Proposal, folder: str, name: str) -> tuple[str | None, str]:
    """The [ports] variable one of the package's own env files names for listening
    (PORT, <NAME>_PORT, APP_PORT, ...), and where; a port inside a URL is one it connects
    to, not one it listens on."""
    own: dict[str, str] = {}
    for var, sources in p.port_sources.items():
        for source in sources:
            file = source.split(":", 1)[0]
            if "(inside" not in source and str(PurePosixPath(file).parent) == folder:
                own.setdefault(var, source)
    for var in ("PORT", f"{name.upper().replace('-', '_')}_PORT", *LISTEN_PORT_NAMES):
        if var in own:
            return var, f"found in {own[var]}"
    return None, ""


def _script_command(p: Proposal, folder: str, script: str) -> str:
    runner = SCRIPT_RUNNERS.get(p.package_manager or "", "npm run")
    command = f"{runner} {script}"
    if folder != ".":
        command = f"cd {shlex.quote(folder)} && {command}"
    return command.replace("{", "{{").replace("}", "}}")  # run is a template


def toml_string(value: str) -> str:
    return json.dumps(value)
