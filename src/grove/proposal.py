"""What `grove init` proposes for a repository, with the reason for each choice."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import PurePosixPath
from typing import Any

from grove import detect, values
from grove.config import DEFAULT_PORTS
from grove.record import field, record

STRIDES = (1, 10, 100, 1000)
# PostgreSQL's default port: a system or compose server usually listens there, so grove's
# own server for main would not start on it.
PG_DEFAULT_PORT = 5432
# The package managers whose install writes node_modules (and npm ci deletes it first).
NODE_MANAGERS = ("npm", "pnpm", "yarn", "bun")


@record
class MigrationTool:
    """A migration tool found, its commands, and where each choice came from."""

    name: str
    source: str  # the file its settings were read from
    migrate: list[str] = field(default_factory=list)
    migrate_status: str | None = None
    status_why: str = ""  # why this status command, or why there is none
    seed: list[str] = field(default_factory=list)
    migrations: list[str] = field(default_factory=list)
    migrations_source: str = ""

    def as_json(self) -> dict[str, Any]:
        return {
            "tool": self.name,
            "found_in": self.source,
            "migrate": self.migrate,
            "migrate_status": self.migrate_status,
            "migrate_status_why": self.status_why,
            "seed": self.seed,
            "migrations": self.migrations,
            "migrations_found_in": self.migrations_source,
        }


@record
class DatabaseProposal:
    """An active [database]: the repository uses PostgreSQL."""

    reasons: list[str]
    name: str = "app"
    name_source: str = ""
    port_var: str = "DB_PORT"
    port_source: str = ""
    env: dict[str, str] = field(default_factory=dict)  # the app's variable -> target field
    env_sources: dict[str, str] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "engine": "postgres",
            "why": self.reasons,
            "name": self.name,
            "name_found_in": self.name_source,
            "port": self.port_var,
            "env": self.env,
        }


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
    aliases: dict[str, str] = field(default_factory=dict)  # a copy -> the port variable
    alias_sources: dict[str, str] = field(default_factory=dict)
    not_per_slot: dict[str, str] = field(default_factory=dict)  # key -> why, where
    moved: dict[str, tuple[int, int, str]] = field(default_factory=dict)  # var -> old, new, why
    stride: int = 1
    stride_reason: str = ""
    rewrites: dict[str, str | None] = field(default_factory=dict)  # key -> port variable
    rewrite_sources: dict[str, str] = field(default_factory=dict)
    rewrite_from: dict[str, int] = field(default_factory=dict)  # key -> the shared file's port
    compose_files: list[str] = field(default_factory=list)
    package_manager: str | None = None
    setup_run: list[str] = field(default_factory=list)
    setup_copy: list[str] = field(default_factory=list)
    setup_reason: str = ""
    orm: str | None = None
    tool: MigrationTool | None = None
    db: DatabaseProposal | None = None
    auth: list[str] = field(default_factory=list)
    session_var: str | None = None  # the variable that decides the cookies' host
    session_hint: str = ""
    protect_reasons: list[str] = field(default_factory=list)
    services: list[ServiceProposal] = field(default_factory=list)
    services_reason: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def database(self) -> dict[str, Any]:
        found: dict[str, Any] = self.tool.as_json() if self.tool else {}
        if self.db is not None:
            found.update(self.db.as_json())
        return found

    def as_json(self) -> dict[str, Any]:
        return {
            "shared": self.shared,
            "local": self.local,
            "ports": [
                {"name": k, "base": v, "found_in": self.port_sources.get(k, [])}
                for k, v in self.ports.items()
            ],
            "aliases": [
                {"key": k, "port": v, "found_in": self.alias_sources.get(k)}
                for k, v in self.aliases.items()
            ],
            "not_per_slot": [{"key": k, "why": v} for k, v in self.not_per_slot.items()],
            "moved": [
                {"name": k, "from": old, "to": new, "why": why}
                for k, (old, new, why) in self.moved.items()
            ],
            "stride": self.stride,
            "stride_reason": self.stride_reason,
            "rewrites": [
                {"key": k, "port": v, "found_in": self.rewrite_sources.get(k)}
                for k, v in self.rewrites.items()
            ],
            "compose_files": self.compose_files,
            "package_manager": self.package_manager,
            "setup": {"run": self.setup_run, "copy": self.setup_copy, "why": self.setup_reason},
            "orm": self.orm,
            "database": self.database,
            "database_active": self.db is not None,
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


def propose(repo: detect.Repo, slots: int, taken: dict[int, str] | None = None) -> Proposal:
    """taken: ports other projects on this machine use, each with who uses it."""
    p = Proposal()
    dirs = repo.package_dirs or ["."]
    p.shared = [_dir_file(d, ".env") for d in dirs]
    p.local = [_dir_file(d, ".env.local") for d in dirs]
    entries = [e for f in [*repo.examples, *repo.env_files] for e in repo.entries(f)]
    p.compose_files = repo.compose_files
    _collect_ports(repo, p, entries)
    p.tool = _migration_tool(repo)
    p.orm = p.tool.name if p.tool else None
    _database(repo, p, entries)
    if not p.ports:
        p.ports = dict(DEFAULT_PORTS)
        p.notes.append("no port variables found: the seed's default table is proposed")
    p.stride, p.stride_reason = choose_stride(p.ports, slots)
    _avoid_taken(p, slots, dict(taken or {}))
    _setup(repo, p)
    _services(repo, p)
    deps = repo.dependencies()
    p.auth = [name for name in detect.AUTH_PACKAGES if name in deps]
    if p.auth:
        p.session_var, p.session_hint = detect.session_setting(repo, p.auth)
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


def _collect_ports(repo: detect.Repo, p: Proposal, entries: list[detect.EnvEntry]) -> None:
    by_file: dict[str, dict[str, str]] = {}
    for e in entries:
        by_file.setdefault(e.file, {})[e.key] = e.value
    found: dict[str, int] = {}  # every port variable, aliases included, in order found
    for e in entries:
        if not (detect.PORT_KEY.search(e.key) and e.value.strip().isdigit()):
            continue
        port = int(e.value)
        if not 1 <= port <= 65535 or e.key in p.not_per_slot:
            continue
        why = detect.not_per_slot(e.key, e.value, by_file[e.file])
        if why is not None and e.key not in found:
            p.not_per_slot[e.key] = f"{e.file}:{e.line} {e.key}={port}: {why}"
            continue
        found.setdefault(e.key, port)
        p.port_sources.setdefault(e.key, []).append(f"{e.file}:{e.line}")
    for compose in repo.compose_files:
        for ref in repo.compose_ports(compose):
            if ref.var is None or ref.var in p.not_per_slot:
                continue
            if ref.var not in found and ref.default is not None:
                found[ref.var] = ref.default
            if ref.var in found:
                p.port_sources.setdefault(ref.var, []).append(f"{compose}:{ref.line}")
            else:
                p.notes.append(
                    f"{compose}:{ref.line} uses ${{{ref.var}}} with no value or "
                    "default to learn its base from"
                )
    _merge_aliases(p, found)
    by_base = {base: name for name, base in p.ports.items()}
    for e in entries:
        if e.key in found or e.key in p.rewrites or e.key in p.not_per_slot:
            continue
        embedded = values.embedded_ports(e.value)
        refs = [r for r in values.var_refs(e.value) if r in p.ports or r in p.aliases]
        if embedded:
            port = embedded[0]
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


def _merge_aliases(p: Proposal, found: dict[str, int]) -> None:
    """Variables with one value name one listening port (a server's PORT and its
    NEXT_PUBLIC_ copy, an app's DB_PORT and compose's POSTGRES_PORT): one of them becomes
    the port variable and the others are derived from it. Two port variables with one base
    would be two ranges over the same ports, which grove refuses (issue 15)."""
    groups: dict[int, list[str]] = {}
    for key, port in found.items():
        groups.setdefault(port, []).append(key)
    for port, keys in groups.items():
        # The server-side name is the one the server reads; a public copy follows it.
        primary = min(keys, key=lambda k: (bool(detect.public_prefix(k)), keys.index(k)))
        p.ports[primary] = port
        for key in keys:
            if key != primary:
                p.aliases[key] = primary
                where = ", ".join(p.port_sources.pop(key, []))
                p.alias_sources[key] = f"{where}: {key}={port} is {primary}'s port"
    p.ports = {k: v for k, v in found.items() if k in p.ports}  # in the order found


def _avoid_taken(p: Proposal, slots: int, taken: dict[int, str]) -> None:
    """Move each base whose slots would use a port another project on this machine uses
    (or, for grove's own PostgreSQL, 5432). A moved base keeps its [env.rewrite] values
    right: they swap the port the shared file says (`from`) for the slot's."""
    if p.db is not None:
        taken.setdefault(
            PG_DEFAULT_PORT, "PostgreSQL's default port (a system or compose server listens there)"
        )

    def span(base: int) -> set[int]:
        return {base + n * p.stride for n in range(slots)}

    def clash(name: str, base: int) -> str | None:
        if p.db is None or name == p.db.port_var:
            hits = sorted(span(base) & set(taken))
        else:
            hits = sorted(port for port in span(base) & set(taken) if port != PG_DEFAULT_PORT)
        return f"{hits[0]} is used by {taken[hits[0]]}" if hits else None

    reasons = {name: clash(name, base) for name, base in p.ports.items()}
    own: set[int] = set()
    for name, base in p.ports.items():
        if reasons[name] is None:
            own |= span(base)
    step = max(10, -(-p.stride * slots // 10) * 10)
    for name, base in p.ports.items():
        why = reasons[name]
        if why is None:
            continue
        candidate = base + step
        while candidate + (slots - 1) * p.stride <= 65535:
            if not span(candidate) & (own | set(taken)):
                break
            candidate += step
        else:
            p.notes.append(f"{name}: {why}, and no free base was found above it")
            continue
        own |= span(candidate)
        p.ports[name] = candidate
        p.moved[name] = (base, candidate, why)
    for key, var in p.rewrites.items():
        if var in p.moved:
            p.rewrite_from[key] = p.moved[var][0]


def _setup(repo: detect.Repo, p: Proposal) -> None:
    """Install or copy, never both on one tree: `npm ci` deletes the node_modules a copy
    just brought (issue 15: create took 116-145 s instead of 24 s). A copy is taken only
    when main's tree is what the lockfile installs."""
    present = set(repo.files)
    install: str | None = None
    lockfile = ""
    for lockfile, manager, command in detect.LOCKFILE_INSTALL:
        if lockfile in present:
            p.package_manager = manager
            berry = manager == "yarn" and ".yarnrc.yml" in present
            install = "yarn install --immutable" if berry else command
            break
    trees = list(repo.node_modules)
    if install is None:
        p.setup_copy = trees or (["node_modules"] if "package.json" in present else [])
        if p.setup_copy:
            p.setup_reason = "no lockfile to install from: node_modules is copied from main"
        return
    if p.package_manager not in NODE_MANAGERS:
        p.setup_run = [install]
        p.setup_copy = trees
        p.setup_reason = f"{lockfile} found: installed in each new slot"
        return
    if not trees:
        p.setup_run = [install]
        p.setup_reason = "main has no node_modules to copy: installed in each new slot"
        return
    if p.package_manager == "npm":
        folders = [str(PurePosixPath(t).parent) for t in trees]
        checks = [detect.npm_tree_matches_lock(repo, f) for f in folders if f == "."]
        matches, why = checks[0] if checks else (False, "no node_modules beside package-lock.json")
    elif p.package_manager == "pnpm":
        matches, why = detect.pnpm_tree_matches_lock(repo)
    else:
        matches, why = False, f"{p.package_manager} leaves no record of what it installed"
    if matches:
        p.setup_copy = trees
        p.setup_reason = (
            f"{why}: main's node_modules matches {lockfile}, so it is copied, not installed "
            f"again; after a lockfile change run `{install}` in the slot"
        )
    else:
        p.setup_run = [install]
        p.setup_reason = (
            f"{why}, so main's node_modules may not match {lockfile}: installed in each new "
            "slot, nothing copied (an install deletes a copy)"
        )


# The app's own connection variables, by spelling: DB_HOST, DATABASE_NAME, POSTGRES_DB, ...
_DB_VAR = re.compile(
    r"^(?:DB|DATABASE|POSTGRES|POSTGRESQL|PSQL)_"
    r"(HOST|HOSTNAME|SERVER|PORT|NAME|DATABASE|DB|USER|USERNAME|PASSWORD|PASS)$"
)
_DB_FIELD = {
    "HOST": "host",
    "HOSTNAME": "host",
    "SERVER": "host",
    "PORT": "port",
    "NAME": "dbname",
    "DATABASE": "dbname",
    "DB": "dbname",
    "USER": "user",
    "USERNAME": "user",
    "PASSWORD": "password",
    "PASS": "password",
}
# What grove writes for [database] anyway.
GROVE_DB_VARS = frozenset(
    {"DATABASE_URL", "PGHOST", "PGPORT", "PGUSER", "PGDATABASE", "PGPASSWORD"}
)


def database_var_field(key: str, value: str) -> str | None:
    """Which part of grove's database an app variable carries (host, port, user, password,
    dbname, url), or None."""
    if key in GROVE_DB_VARS or key.startswith("SHADOW"):
        return None
    match = _DB_VAR.match(key)
    if match:
        return _DB_FIELD[match.group(1)]
    return "url" if detect.is_pg_url(value) else None


def database_name(value: str) -> str | None:
    """A name [database] name accepts, from the repository's own: lower case, _ for the rest."""
    name = re.sub(r"[^a-z0-9_]", "_", value.strip().strip("'\"").lower())[:40]
    if not name or "$" in value:
        return None
    return name if not name[0].isdigit() else f"db_{name}"[:40]


def _database(repo: detect.Repo, p: Proposal, entries: list[detect.EnvEntry]) -> None:
    """An active [database] when the repository uses PostgreSQL: named as the repository
    names it, on the repository's own port variable, and writing the app's own connection
    variables per slot, so the app needs no change."""
    reasons = detect.postgres_signals(repo, entries)
    if not reasons:
        return
    db = DatabaseProposal(reasons=reasons)
    for e in entries:
        kind = database_var_field(e.key, e.value)
        if kind == "dbname" and not db.name_source and database_name(e.value):
            db.name = database_name(e.value) or db.name
            db.name_source = f"{e.file}:{e.line} {e.key}"
        if detect.is_pg_url(e.value):
            _note_remote_database(p, e)
        if detect.is_pg_url(e.value) and not db.name_source:
            from urllib.parse import urlsplit

            path = urlsplit(e.value.strip().strip("'\"")).path.lstrip("/")
            if database_name(path):
                db.name = database_name(path) or db.name
                db.name_source = f"{e.file}:{e.line} {e.key}"
        if kind == "port" and (e.key in p.ports or e.key in p.aliases) and not db.port_source:
            db.port_var = p.aliases.get(e.key, e.key)
            db.port_source = f"{e.file}:{e.line} {e.key}"
        # A port variable left out of [ports] (its host was another machine) is written too.
        ported = kind == "port" and (e.key in p.ports or e.key in p.aliases)
        if kind is not None and not ported and e.key not in db.env:
            db.env[e.key] = kind
            db.env_sources[e.key] = f"{e.file}:{e.line}"
    if not db.port_source:
        db.port_var, db.port_source = _database_port(repo, p, entries, set(db.env))
    if db.port_var not in p.ports:
        p.ports[db.port_var] = DEFAULT_PORTS["DB_PORT"]
        p.port_sources[db.port_var] = ["the seed's default table (no port variable found)"]
    # grove writes these itself now; a rewrite would put the shared file's value back.
    for key in [*db.env, "DATABASE_URL"]:
        p.rewrites.pop(key, None)
        p.rewrite_sources.pop(key, None)
    for key in [k for k, var in p.rewrites.items() if var == db.port_var]:
        if detect.is_pg_url(_value_of(entries, key)):
            p.rewrites.pop(key)
            p.rewrite_sources.pop(key, None)
    p.db = db


def _note_remote_database(p: Proposal, e: detect.EnvEntry) -> None:
    """Say so when the repository's URL names a PostgreSQL on another machine: [database]
    gives each slot its own local one instead, which is the point, but not what the file
    says. Only the host is named; the URL can hold a password."""
    from urllib.parse import urlsplit

    try:
        host = urlsplit(e.value.strip().strip("'\"")).hostname or ""
    except ValueError:
        return
    if detect.is_remote_host(host):
        p.notes.append(
            f"{e.file}:{e.line} {e.key} names a PostgreSQL on another machine ({host}): "
            "[database] gives every slot its own local database instead; delete [database] "
            "to keep using that server"
        )


def _value_of(entries: list[detect.EnvEntry], key: str) -> str:
    return next((e.value for e in entries if e.key == key), "")


def _database_port(
    repo: detect.Repo, p: Proposal, entries: list[detect.EnvEntry], written: set[str]
) -> tuple[str, str]:
    """The port variable of the repository's PostgreSQL when no DB_PORT-like one names it:
    the one its compose service publishes, else the one inside its postgresql:// URL."""
    for compose in repo.compose_files:
        services = repo.compose(compose).get("services") or {}
        for name, body in services.items() if isinstance(services, dict) else []:
            image = str(body.get("image", "")) if isinstance(body, dict) else ""
            if "postgres" not in image and "postgis" not in image:
                continue
            for entry in body.get("ports") or []:
                ref = detect.host_port(entry)
                if ref is not None and ref[1] is not None:
                    var = p.aliases.get(ref[1], ref[1])
                    if var in p.ports:
                        return var, f"{compose}, service {name}"
    by_base = {base: name for name, base in p.ports.items()}
    for e in entries:
        if detect.is_pg_url(e.value):
            for port in values.embedded_ports(e.value):
                if port in by_base:
                    return by_base[port], f"{e.file}:{e.line} (inside {e.key})"
    # The seed's name, unless the app already means something else by it.
    name = "DB_PORT" if "DB_PORT" not in p.ports and "DB_PORT" not in written else "GROVE_DB_PORT"
    return name, ""


def _shallowest(files: list[str]) -> str | None:
    return min(files, key=lambda f: (f.count("/"), f), default=None)


def _parent(relative: str) -> str:
    return str(PurePosixPath(relative).parent)


def _package_dir(repo: detect.Repo, relative: str) -> str:
    """The nearest folder at or above relative's that holds a package.json (else the root)."""
    folder = PurePosixPath(relative).parent
    while str(folder) != ".":
        if str(folder / "package.json") in repo.package_jsons:
            return str(folder)
        folder = folder.parent
    return "."


def _in(folder: str, command: str) -> str:
    return command if folder == "." else f"cd {shlex.quote(folder)} && {command}"


def _below(folder: str, relative: str) -> str:
    """relative (from the root) as seen from folder."""
    return relative if folder == "." else str(PurePosixPath(relative).relative_to(folder))


def _glob_dir(pattern: str) -> str:
    """The folder part of a migrations glob (`src/migrations/*{.ts,.js}` -> src/migrations)."""
    parts = PurePosixPath(pattern).parts
    cut = next((i for i, s in enumerate(parts) if any(c in s for c in "*?[{")), len(parts))
    kept = parts[:cut]
    return "/".join(kept)


def _named(repo: detect.Repo, *names: str) -> list[str]:
    return [f for f in repo.files if PurePosixPath(f).name in names]


def _migration_tool(repo: detect.Repo) -> MigrationTool | None:
    deps = repo.dependencies()
    for finder in (_prisma, _drizzle, _knex, _typeorm, _sequelize, _alembic, _django, _rails):
        tool = finder(repo, deps)
        if tool is not None:
            return tool
    return None


def _prisma(repo: detect.Repo, deps: set[str]) -> MigrationTool | None:
    schemas = _named(repo, "schema.prisma")
    configured: str | None = None
    source = ""
    for relative, data in repo.package_jsons.items():
        settings = data.get("prisma")
        if isinstance(settings, dict) and isinstance(settings.get("schema"), str):
            configured = detect.literal_path(json.dumps(settings["schema"]), _parent(relative))
            source = f"{relative} prisma.schema"
    for config in _named(repo, "prisma.config.ts", "prisma.config.js", "prisma.config.mjs"):
        line = detect.key_line(detect.config_text(repo, config), "schema")
        if line and detect.literal_path(line, _parent(config)):
            configured = detect.literal_path(line, _parent(config))
            source = f"{config} schema"
    if not schemas and configured is None and not {"prisma", "@prisma/client"} & deps:
        return None
    schema = configured or _shallowest(schemas) or "prisma/schema.prisma"
    source = source or schema
    # A schema file's folder holds migrations/; a multi-file schema is a folder itself.
    folder = schema if not schema.endswith(".prisma") else _parent(schema)
    cwd = _package_dir(repo, schema)
    flag = (
        ""
        if _below(cwd, schema) == "prisma/schema.prisma"
        else f" --schema {shlex.quote(_below(cwd, schema))}"
    )
    has_seed = any(
        isinstance(d.get("prisma"), dict) and "seed" in d["prisma"]
        for d in repo.package_jsons.values()
    )
    return MigrationTool(
        "prisma",
        source,
        migrate=[_in(cwd, f"npx prisma migrate deploy{flag}")],
        migrate_status=_in(cwd, f"npx prisma migrate status{flag}"),
        status_why="exits 1 while a migration is not applied (Prisma 4.3 and later)",
        seed=[_in(cwd, f"npx prisma db seed{flag}")] if has_seed else [],
        migrations=[_dir_file(folder, "migrations/**/*")],
        migrations_source=f"beside the schema, {schema}",
    )


def _drizzle(repo: detect.Repo, deps: set[str]) -> MigrationTool | None:
    configs = _named(
        repo, "drizzle.config.ts", "drizzle.config.js", "drizzle.config.mjs", "drizzle.config.cjs"
    )
    config = _shallowest(configs)
    if config is None and "drizzle-kit" not in deps and "drizzle-orm" not in deps:
        return None
    base = _parent(config) if config else "."
    out_line = detect.key_line(detect.config_text(repo, config), "out") if config else None
    out = (detect.literal_path(out_line, base) if out_line else None) or _dir_file(base, "drizzle")
    return MigrationTool(
        "drizzle",
        config or "package.json",
        migrate=[_in(base, "npx drizzle-kit migrate")],
        status_why=(
            "drizzle-kit has no command that compares the database with the migrations "
            "folder, so none is set; migrate runs again whenever the folder changes"
        ),
        migrations=[f"{out}/**/*"],
        migrations_source=f"{config} out" if out_line else "drizzle-kit's default folder",
    )


def _knex(repo: detect.Repo, deps: set[str]) -> MigrationTool | None:
    knexfile = _shallowest(
        _named(repo, "knexfile.js", "knexfile.ts", "knexfile.cjs", "knexfile.mjs")
    )
    if knexfile is None and "knex" not in deps:
        return None
    base = _parent(knexfile) if knexfile else "."
    text = detect.config_text(repo, knexfile) if knexfile else ""
    line = detect.key_line(text, "directory", after="migrations")
    directory = (detect.literal_path(line, base) if line else None) or _dir_file(base, "migrations")
    seeds_line = detect.key_line(text, "directory", after="seeds")
    seeds = detect.literal_path(seeds_line, base) if seeds_line and "seeds" in text else None
    # knex looks for knexfile.* in the folder it runs in; elsewhere it must be named.
    flag = "" if knexfile is None or base == "." else f" --knexfile {shlex.quote(knexfile)}"
    has_seeds = seeds is not None and any(f.startswith(seeds + "/") for f in repo.files)
    return MigrationTool(
        "knex",
        knexfile or "package.json",
        migrate=[f"npx knex migrate:latest{flag}"],
        # knex's migrate:list (alias migrate:status) exits 0 with migrations pending.
        migrate_status=(
            f"npx knex migrate:list{flag} | grep -q 'No Pending Migration files Found'"
        ),
        status_why=(
            "knex's migrate:list exits 0 even with migrations pending, so grep decides: it "
            "fails unless knex reports none pending (also when knex cannot connect)"
        ),
        seed=[f"npx knex seed:run{flag}"] if has_seeds else [],
        migrations=[f"{directory}/**/*"],
        migrations_source=f"{knexfile} migrations.directory" if line else "knex's default folder",
    )


_DATA_SOURCE_NAMES = re.compile(
    r"(data-?source|ormconfig|typeorm)[\w.-]*\.(ts|js|mjs|cjs|json)$", re.I
)


def _typeorm(repo: detect.Repo, deps: set[str]) -> MigrationTool | None:
    candidates = [f for f in repo.files if _DATA_SOURCE_NAMES.search(PurePosixPath(f).name)]
    source = next(
        (
            f
            for f in sorted(candidates, key=lambda f: (f.count("/"), f))
            if "DataSource(" in detect.config_text(repo, f) or f.endswith("ormconfig.json")
        ),
        None,
    )
    if source is None and "typeorm" not in deps:
        return None
    if source is None:
        return MigrationTool(
            "typeorm",
            "package.json",
            migrate=[],
            status_why=(
                "no DataSource file found: set migrate to `npx typeorm migration:run -d FILE`"
            ),
        )
    text = detect.config_text(repo, source)
    line = detect.key_line(text, "migrations") or ""
    globs: list[str] = []
    for literal in detect.LITERAL.findall(line):
        # `__dirname + '/migrations/*.ts'` is beside the file; a bare path is the cwd's.
        base = _parent(source) if literal.startswith("/") else "."
        folder = _glob_dir(literal.lstrip("/"))
        if folder and not folder.startswith(".."):
            globs.append(f"{_dir_file(base, folder)}/**/*")
    cli = "npx typeorm-ts-node-commonjs" if source.endswith(".ts") else "npx typeorm"
    flag = "" if source.endswith(".json") else f" -d {shlex.quote(source)}"
    return MigrationTool(
        "typeorm",
        source,
        migrate=[f"{cli} migration:run{flag}"],
        migrate_status=f"{cli} migration:show{flag}",
        status_why="migration:show exits 1 while migrations are pending",
        migrations=list(dict.fromkeys(globs)),
        migrations_source=f"{source} migrations" if globs else "",
    )


def _sequelize(repo: detect.Repo, deps: set[str]) -> MigrationTool | None:
    rc = _shallowest(_named(repo, ".sequelizerc"))
    if rc is None and "sequelize-cli" not in deps:
        return None
    line = detect.key_line(detect.config_text(repo, rc), "migrations-path") if rc else None
    base = _parent(rc) if rc else "."
    folder = (detect.literal_path(line, base) if line else None) or _dir_file(base, "migrations")
    return MigrationTool(
        "sequelize",
        rc or "package.json",
        migrate=[_in(base, "npx sequelize-cli db:migrate")],
        status_why=(
            "sequelize-cli's db:migrate:status exits 0 with migrations pending, so none is set"
        ),
        migrations=[f"{folder}/**/*"],
        migrations_source=f"{rc} migrations-path" if line else "sequelize-cli's default folder",
    )


def _alembic(repo: detect.Repo, deps: set[str]) -> MigrationTool | None:
    ini = _shallowest(_named(repo, "alembic.ini"))
    if ini is None:
        return None
    base = _parent(ini)
    match = re.search(r"^script_location\s*=\s*(\S+)", detect.config_text(repo, ini), re.M)
    location = match.group(1).replace("%(here)s/", "").strip("/") if match else "alembic"
    return MigrationTool(
        "alembic",
        ini,
        migrate=[_in(base, "alembic upgrade head")],
        # `alembic current` marks the applied revision "(head)" only when it is the newest.
        migrate_status=_in(base, "alembic current 2>/dev/null | grep -q '(head)'"),
        status_why=(
            "alembic has no check for pending revisions that exits non-zero; `alembic current` "
            "says (head) only when the newest is applied, so grep fails otherwise"
        ),
        migrations=[f"{_dir_file(base, location)}/versions/**/*"],
        migrations_source=f"{ini} script_location" if match else "alembic's default folder",
    )


def _django(repo: detect.Repo, deps: set[str]) -> MigrationTool | None:
    manage = _shallowest(_named(repo, "manage.py"))
    if manage is None:
        return None
    base = _parent(manage)
    folders = sorted(
        {_parent(f) for f in repo.files if PurePosixPath(f).parent.name == "migrations"}
    )
    globs = [f"{folder}/*.py" for folder in folders[:50]] or ["**/migrations/*.py"]
    return MigrationTool(
        "django",
        manage,
        migrate=[_in(base, "python manage.py migrate --no-input")],
        migrate_status=_in(base, "python manage.py migrate --check"),
        status_why="`migrate --check` exits non-zero while a migration is unapplied",
        migrations=globs,
        migrations_source="the apps' migrations folders",
    )


def _rails(repo: detect.Repo, deps: set[str]) -> MigrationTool | None:
    if "bin/rails" not in repo.files and not (
        "Gemfile" in repo.files and "rails" in detect.config_text(repo, "Gemfile")
    ):
        return None
    return MigrationTool(
        "rails",
        "bin/rails" if "bin/rails" in repo.files else "Gemfile",
        migrate=["bin/rails db:migrate"],
        migrate_status="bin/rails db:abort_if_pending_migrations",
        status_why="db:abort_if_pending_migrations exits 1 while migrations are pending",
        migrations=["db/migrate/*.rb"],
        migrations_source="Rails' db/migrate",
    )


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
