"""Every way an app escapes its slot: warnings with file, line, a stable id and a hint.

Whatever wrote grove.toml, these are the places where all slots still share a value: ports
fixed in scripts or compose files, variables missing from the port table, shared values that
embed a table port, loaders that never read the local file (or that override the process
environment), compose settings that join slots together, scripts that write the shared
file, lines two dotenv readers disagree on, and session cookies shared across localhost.
"""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath

from grove import detect, values
from grove.checks import Finding, warning
from grove.slots import Grove

_SOURCE = re.compile(r"\.(c|m)?(j|t)sx?$")
_DOTENV_ONLY = re.compile(
    r"""import\s+['"]dotenv/config['"]|require\(\s*['"]dotenv/config['"]\s*\)"""
    r"""|require\(\s*['"]dotenv['"]\s*\)\.config\(\s*\)|dotenv\.config\(\s*\)"""
)
_DOTENV_OVERRIDE = re.compile(r"override\s*:\s*true")
_NEST_CONFIG = re.compile(r"ConfigModule\.forRoot\(")
_ENV_FILE_FLAG = re.compile(r"--env-file[= ](\S+)")
_MAX_SOURCE_BYTES = 200_000
# package.json and compose files larger than this are not read: parsing is linear, but
# PyYAML reads about 1 MB of a long list in 7 s, and each script and port entry is then
# looked up line by line (issue 13: no scan may cost more than linear time on any input).
_MAX_CONFIG_BYTES = 256 * 1024


def _is_config(relative: str) -> bool:
    name = PurePosixPath(relative).name
    return name == "package.json" or bool(detect.COMPOSE.match(name))


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def check(grove: Grove, repo: detect.Repo | None = None) -> list[Finding]:
    repo = repo or detect.scan(grove.main)
    large = {
        f: size
        for f in repo.files
        if _is_config(f) and (size := _size(repo.root / f)) > _MAX_CONFIG_BYTES
    }
    if large:
        repo = detect.Repo(repo.root, [f for f in repo.files if f not in large], repo.node_modules)
    findings: list[Finding] = [
        _w(
            "file-too-large",
            f"{relative}:1",
            f"{size:,} bytes, more than the {_MAX_CONFIG_BYTES:,} grove reads for these checks: "
            "its scripts, services and ports were not checked",
            "keep scripts and services in a file of ordinary size",
        )
        for relative, size in sorted(large.items())
    ]
    findings += _scripts(grove, repo)
    findings += _compose(grove, repo)
    findings += _env_values(grove, repo)
    findings += _loaders(grove, repo)
    findings += _sessions(grove, repo)
    return findings


def _w(check: str, where: str, message: str, hint: str) -> Finding:
    return warning(None, f"escape.{check}", f"{where}: {message}", hint)


def _scripts(grove: Grove, repo: detect.Repo) -> list[Finding]:
    found: list[Finding] = []
    for relative, line, name, command in repo.scripts():
        where = f"{relative}:{line}"
        for port in detect.script_ports(command):
            found.append(
                _w(
                    "port-in-script",
                    where,
                    f"script {name!r} fixes port {port}, the same in every slot",
                    "read it from the environment (e.g. `--port $PORT`) and run it with "
                    "`grove exec -- npm run "
                    f"{name}`",
                )
            )
        if detect.writes_shared_env(command) and not grove.config.protect:
            found.append(
                _w(
                    "script-writes-shared",
                    where,
                    f"script {name!r} writes .env, which is main's shared file in every slot",
                    "write the slot's own file instead, or set [env] protect = true so such a "
                    "write fails loudly",
                )
            )
        if "env-cmd" in command and "--no-override" not in command:
            found.append(
                _w(
                    "loader-overrides-env",
                    where,
                    f"script {name!r} uses env-cmd, which lets the file override the process "
                    "environment: `grove exec` cannot give it the slot's values",
                    "add `--no-override` (and run it with `grove exec`), or point env-cmd at the "
                    "slot's local file",
                )
            )
        if "--overload" in command:
            found.append(
                _w(
                    "loader-overrides-env",
                    where,
                    f"script {name!r} uses `--overload`: the file beats the process environment",
                    "drop --overload, or list the local file last so the slot's values win",
                )
            )
        for target in _ENV_FILE_FLAG.findall(command):
            if target.strip("'\"").endswith(".env") and ".env.local" not in command:
                found.append(
                    _w(
                        "loader-skips-local",
                        where,
                        f"script {name!r} loads only {target} (node --env-file): the slot's local "
                        "file never reaches it",
                        "add `--env-file-if-exists=.env.local` after it (the last file wins), or "
                        "run it with `grove exec`",
                    )
                )
    return found


def _compose(grove: Grove, repo: detect.Repo) -> list[Finding]:
    found: list[Finding] = []
    table = {spec.name for spec in grove.config.ports}
    derived = {key for key, _ in grove.config.derived}
    for compose in repo.compose_files:
        if _size(repo.root / compose) > _MAX_CONFIG_BYTES:
            continue  # named by a script's -f: reported above, or outside the scan
        lines = repo.text(compose).split("\n")

        def line_of(needle: str, lines: list[str] = lines) -> int:
            return next((i + 1 for i, text in enumerate(lines) if needle in text), 0)

        for ref in repo.compose_ports(compose):
            where = f"{compose}:{ref.line}"
            if ref.port is not None:
                found.append(
                    _w(
                        "port-in-compose",
                        where,
                        f"host port {ref.port} is fixed: every slot publishes the same port",
                        f'write "${{SOME_PORT:-{ref.port}}}:..." and add SOME_PORT to [ports]',
                    )
                )
            elif ref.var is not None and ref.var not in table:
                found.append(
                    _w(
                        "port-not-in-table",
                        where,
                        f"${{{ref.var}}} sets a host port but is not in [ports]",
                        f"add {ref.var} = {ref.default or '<base>'} to [ports]",
                    )
                )
        data = repo.compose(compose)
        services = data.get("services") or {}
        for service, body in services.items() if isinstance(services, dict) else []:
            if isinstance(body, dict) and body.get("container_name"):
                found.append(
                    _w(
                        "compose-container-name",
                        f"{compose}:{line_of('container_name')}",
                        f"service {service} has a fixed container_name: a second slot's "
                        "`up` collides with the first's container",
                        "remove container_name; compose names containers after the project",
                    )
                )
        for kind in ("volumes", "networks"):
            table_of = data.get(kind) or {}
            for key, body in table_of.items() if isinstance(table_of, dict) else []:
                if isinstance(body, dict) and (body.get("name") or body.get("external")):
                    found.append(
                        _w(
                            "compose-fixed-name",
                            f"{compose}:{line_of(str(key) + ':')}",
                            f"{kind[:-1]} {key} has a fixed name or is external: every slot "
                            "shares it (`down --volumes` in one slot deletes it for all)",
                            "drop `name:`/`external: true` so compose prefixes it per project",
                        )
                    )
        if data.get("name"):
            found.append(
                _w(
                    "compose-project-name",
                    f"{compose}:{line_of('name:')}",
                    f"the project name is fixed to {data['name']!r} in the file: plain `docker "
                    "compose` puts every slot in one project",
                    "remove the top-level name; grove sets COMPOSE_PROJECT_NAME per slot",
                )
            )
        folder = PurePosixPath(compose).parent
        if str(folder) != "." and "COMPOSE_PROJECT_NAME" not in derived and not data.get("name"):
            found.append(
                _w(
                    "compose-shared-dir",
                    f"{compose}:1",
                    f"the compose file sits in {folder}/, a folder named the same in every slot, "
                    f"so the default project name ({folder.name}) is shared by all slots",
                    'add [env.derived] COMPOSE_PROJECT_NAME = "{name}-wt{n}" and use `grove '
                    "compose`",
                )
            )
    return found


def _env_values(grove: Grove, repo: detect.Repo) -> list[Finding]:
    found: list[Finding] = []
    table = {spec.name: spec.base for spec in grove.config.ports}
    by_base = {base: name for name, base in table.items()}
    handled = {r.key for r in grove.config.rewrites} | {k for k, _ in grove.config.derived}
    if grove.config.database is not None:
        from grove.config import DATABASE_VARS

        handled |= DATABASE_VARS | {key for key, _ in grove.config.database.env}
    files = [*grove.config.shared, *repo.examples]
    for relative in dict.fromkeys(files):
        if not (grove.main / relative).is_file():
            continue
        entries = repo.entries(relative)
        same_file = {e.key: e.value for e in entries}
        for e in entries:
            where = f"{e.file}:{e.line}"
            if (
                detect.PORT_KEY.search(e.key)
                and e.value.strip().isdigit()
                and e.key not in table
                and e.key not in handled
                # a remote host's port, or a relay's, is the same in every slot on purpose
                and detect.not_per_slot(e.key, e.value, same_file) is None
            ):
                found.append(
                    _w(
                        "port-not-in-table",
                        where,
                        f"{e.key}={e.value} looks like a port but is not in [ports]",
                        f"add {e.key} = {e.value} to [ports] so each slot gets its own",
                    )
                )
            ports = [p for p in values.embedded_ports(e.value) if p in by_base]
            if ports and e.key not in handled and e.key not in table:
                var = by_base[ports[0]]
                found.append(
                    _w(
                        "embedded-port-not-rewritten",
                        where,
                        f"{e.key} embeds {var}'s port {ports[0]} but is the same in every slot",
                        f'add [env.rewrite] {e.key} = "{var}"',
                    )
                )
            if relative in grove.config.shared and e.key not in handled:
                found += _disagreement(e, where)
    return found


def _disagreement(e: detect.EnvEntry, where: str) -> list[Finding]:
    raw = e.raw.split("=", 1)[1].lstrip() if "=" in e.raw else ""
    if raw.startswith("#"):
        return [
            _w(
                "reader-disagreement",
                where,
                f"{e.key}=# ... is empty for Node's dotenv but '# ...' for python-dotenv",
                "quote the value if the # belongs to it",
            )
        ]
    if ("${" in raw or re.search(r"\$[A-Z_]", raw)) and not raw.startswith("'"):
        return [
            _w(
                "reader-disagreement",
                where,
                f"{e.key} references another variable: python-dotenv expands it from the file, "
                "Node's dotenv leaves it as is, dotenv-expand prefers the process environment",
                "write the final value, or have grove write it per slot with [env.rewrite]",
            )
        ]
    return []


def _loaders(grove: Grove, repo: detect.Repo) -> list[Finding]:
    found: list[Finding] = []
    local = grove.config.local
    for relative in repo.files:
        name = PurePosixPath(relative).name
        if name == "schema.prisma" and "env(" in repo.text(relative):
            found.append(
                _w(
                    "loader-skips-local",
                    f"{relative}:1",
                    "the Prisma CLI reads .env (and the schema's folder), never .env.local",
                    "run it with `grove exec -- npx prisma ...` (the process environment wins)",
                )
            )
            continue
        if not _SOURCE.search(name) or ".test." in name or ".spec." in name:
            continue
        path = grove.main / relative
        try:
            if path.stat().st_size > _MAX_SOURCE_BYTES:
                continue
        except OSError:
            continue
        text = repo.text(relative)
        if "dotenv" not in text and "ConfigModule" not in text:
            continue
        for number, line in enumerate(text.split("\n"), 1):
            where = f"{relative}:{number}"
            if _DOTENV_ONLY.search(line):
                found.append(
                    _w(
                        "loader-skips-local",
                        where,
                        f"loads ./.env only: the slot's {local} never reaches this process",
                        f"config({{ path: ['{local}', '.env'] }}), or run it with `grove exec`",
                    )
                )
            elif _DOTENV_OVERRIDE.search(line) and "dotenv" in text:
                found.append(
                    _w(
                        "loader-overrides-env",
                        where,
                        "dotenv with override: true lets the file beat the process environment",
                        "drop override, or list the local file last so the slot's values win",
                    )
                )
            elif _NEST_CONFIG.search(line) and local not in text:
                found.append(
                    _w(
                        "loader-skips-local",
                        where,
                        f"ConfigModule.forRoot reads .env by default, not {local}",
                        f"envFilePath: ['{local}', '.env'], or run it with `grove exec`",
                    )
                )
    return found


def _sessions(grove: Grove, repo: detect.Repo) -> list[Finding]:
    libraries = [name for name in detect.AUTH_PACKAGES if name in repo.dependencies()]
    if not libraries:
        return []
    var, why = detect.session_setting(repo, libraries)
    # Only a per-slot host on a variable the app sets counts: one on a variable nothing
    # reads would silence this and fix nothing (issue 15).
    present = {e.key for f in [*grove.config.shared, *repo.examples] for e in repo.entries(f)}
    if any(rule.host and rule.key in present for rule in grove.config.rewrites):
        return []
    if var is not None:
        table = {spec.name: spec.base for spec in grove.config.ports}
        port = next(
            (rule.port_var for rule in grove.config.rewrites if rule.key == var and rule.port_var),
            next(iter(table), "PORT"),
        )
        hint = (
            f'{why}: give each slot its own host with [env.rewrite] {var} = {{ port = "{port}", '
            'host = "wt{n}.localhost" } (wt1.localhost resolves to loopback)'
        )
    else:
        hint = (
            f"no URL variable of the app's decides it: name the session cookie per slot with "
            f"{why} (e.g. from process.env.PORT)"
        )
    return [
        _w(
            "cookie-host-shared",
            "package.json",
            f"{', '.join(libraries)} keeps sessions in cookies, which browsers scope by host, not "
            "port (RFC 6265 8.5): with every slot on localhost, a login in one slot is sent to all",
            hint,
        )
    ]
