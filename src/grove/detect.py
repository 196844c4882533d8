"""Reading a repository the way `grove init` and validate's escape checks need it.

One scan finds env files and their examples (root and every package), port variables in
env files and compose files, values that embed a port, the package manager, migration tools,
auth libraries, and scripts that write the shared file. Pure reading: nothing is written.
"""

from __future__ import annotations

import json
import os
import re
from functools import cached_property
from pathlib import Path, PurePosixPath
from typing import Any

from grove import fsio
from grove.record import field, record
from grove.values import (
    VAR_REF,
    embedded_ports,
)

SKIP_DIRS = {
    ".git",
    "node_modules",
    "vendor",
    ".venv",
    "venv",
    "__pycache__",
    ".next",
    ".nuxt",
    ".turbo",
    "dist",
    "build",
    "target",
    ".cache",
    "coverage",
    ".pnpm-store",
    ".yarn",
    "bower_components",
    "Pods",
    ".tox",
    ".mypy_cache",
    ".pytest_cache",
    ".ruff_cache",
    ".svelte-kit",
    ".output",
    ".vercel",
    ".terraform",
}
_EXAMPLE = re.compile(
    r"^(\.env(\.[\w.-]+)?\.(example|sample|template|dist|defaults)"
    r"|\.?example\.env|env[-.]example.*|\.env\.example\.\w+)$"
)
_REAL_ENV = re.compile(r"^\.env(\.[\w-]+)*$")
COMPOSE = re.compile(r"^(docker-)?compose([.-][\w.-]+)?\.ya?ml$")
PORT_KEY = re.compile(r"(^|_)PORT(_|$)|_PORT\d*$")
_LOCAL_HOSTS = ("localhost", "127.0.0.1", "0.0.0.0")
_SCRIPT_PORT = re.compile(r"(?:--port[= ]|(?<![\w-])-p |\bPORT=)(?P<port>\d{2,5})\b")
_WRITES_ENV = re.compile(
    r"(>>?\s*\.env\b(?!\.)|cp\s+\S+\s+\.env\b(?!\.)|dotenvx?\s+set\b|>\s*\$?\{?ENV_FILE)"
)

LOCKFILE_INSTALL = (
    ("pnpm-lock.yaml", "pnpm", "pnpm install --frozen-lockfile --prefer-offline"),
    ("bun.lockb", "bun", "bun install --frozen-lockfile"),
    ("bun.lock", "bun", "bun install --frozen-lockfile"),
    ("yarn.lock", "yarn", "yarn install --frozen-lockfile --prefer-offline"),
    ("package-lock.json", "npm", "npm ci --prefer-offline --no-audit --no-fund"),
    ("uv.lock", "uv", "uv sync --frozen"),
    ("poetry.lock", "poetry", "poetry install --no-root"),
)
AUTH_PACKAGES = (
    "next-auth",
    "@auth/core",
    "lucia",
    "express-session",
    "passport",
    "iron-session",
    "better-auth",
)
OVERRIDING_LOADERS = ("env-cmd", "--overload", "override: true", "override=True")


def is_example(name: str) -> bool:
    return bool(_EXAMPLE.match(name))


def is_real_env(name: str) -> bool:
    return bool(_REAL_ENV.match(name)) and not is_example(name)


@record(frozen=True)
class EnvEntry:
    file: str
    line: int
    key: str
    value: str
    raw: str


@record(frozen=True)
class PortRef:
    """A host port somewhere in the repository."""

    file: str
    line: int
    port: int | None
    var: str | None  # the variable that sets it, when it is ${VAR}
    default: int | None
    text: str


@record
class Repo:
    root: Path
    files: list[str] = field(default_factory=list)
    node_modules: list[str] = field(default_factory=list)

    @cached_property
    def env_files(self) -> list[str]:
        return [f for f in self.files if is_real_env(PurePosixPath(f).name)]

    @cached_property
    def examples(self) -> list[str]:
        return [f for f in self.files if is_example(PurePosixPath(f).name)]

    @cached_property
    def package_dirs(self) -> list[str]:
        """Folders holding env files or their examples: each app reads its own."""
        dirs = {str(PurePosixPath(f).parent) for f in (*self.env_files, *self.examples)}
        return sorted(dirs, key=lambda d: (d != ".", d))

    def text(self, relative: str) -> str:
        try:
            data = fsio.read_regular(self.root / relative, fsio.MAX_READ_BYTES)
        except OSError:  # missing, too big, or a FIFO (never waited on): nothing to learn
            return ""
        return data.decode("utf-8", errors="replace")

    def entries(self, relative: str) -> list[EnvEntry]:
        """KEY=value lines of an env file, leaving out grove's own managed block."""
        from grove.envfile import BLOCK_BEGIN, BLOCK_END
        from grove.secretscan import entries

        text = self.text(relative)
        raw_lines = text.split("\n")
        managed: set[int] = set()
        inside = False
        for number, line in enumerate(raw_lines, 1):
            inside = inside or line.startswith(BLOCK_BEGIN)
            if inside:
                managed.add(number)
            if line.strip() == BLOCK_END:
                inside = False
        return [
            EnvEntry(relative, e.line, e.key, e.value, raw_lines[e.line - 1])
            for e in entries(text)
            if e.line not in managed and 0 < e.line <= len(raw_lines)
        ]

    @cached_property
    def package_jsons(self) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        for relative in self.files:
            if PurePosixPath(relative).name == "package.json":
                try:
                    data = json.loads(self.text(relative))
                except json.JSONDecodeError:
                    continue
                if isinstance(data, dict):
                    found[relative] = data
        return found

    def scripts(self) -> list[tuple[str, int, str, str]]:
        """(package.json, line, script name, command) for every script."""
        rows: list[tuple[str, int, str, str]] = []
        for relative, data in self.package_jsons.items():
            scripts = data.get("scripts")
            if not isinstance(scripts, dict):
                continue
            lines = self.text(relative).split("\n")
            for name, command in scripts.items():
                if not isinstance(command, str):
                    continue
                line = next((i + 1 for i, text in enumerate(lines) if f'"{name}"' in text), 0)
                rows.append((relative, line, name, command))
        return rows

    def dependencies(self) -> set[str]:
        names: set[str] = set()
        for data in self.package_jsons.values():
            for key in ("dependencies", "devDependencies", "peerDependencies"):
                if isinstance(data.get(key), dict):
                    names |= set(data[key])
        return names

    @cached_property
    def compose_files(self) -> list[str]:
        found = {f for f in self.files if COMPOSE.match(PurePosixPath(f).name)}
        for _, _, _, command in self.scripts():
            for candidate in _compose_flags(command):
                if (self.root / candidate).is_file():
                    found.add(candidate)
        return sorted(found)

    def compose(self, relative: str) -> dict[str, Any]:
        import yaml

        try:
            data = yaml.safe_load(self.text(relative))
        except yaml.YAMLError:
            return {}
        return data if isinstance(data, dict) else {}

    def compose_ports(self, relative: str) -> list[PortRef]:
        refs: list[PortRef] = []
        lines = self.text(relative).split("\n")
        services = self.compose(relative).get("services") or {}
        for service in services.values() if isinstance(services, dict) else []:
            for entry in (service or {}).get("ports") or []:
                ref = host_port(entry)
                if ref is None:
                    continue
                needle = ref[3]
                line = next((i + 1 for i, text in enumerate(lines) if needle in text), 0)
                refs.append(PortRef(relative, line, ref[0], ref[1], ref[2], needle))
        return refs


_FILE_FLAG = re.compile(r"(?:-f|--file)[ =](\S+)")


def _compose_flags(command: str) -> list[str]:
    r"""The names r"(?:-f|--file)[ =](\S+\.ya?ml)" finds, in linear time: that pattern
    rescans a long word from every "-f" inside it. Here each word after a flag is read once,
    up to its last .yml; the search goes on from its end, where a flag may begin the next."""
    names: list[str] = []
    at = 0
    while word := _FILE_FLAG.search(command, at):
        named = re.match(r".+\.ya?ml", word.group(1))
        if named:
            names.append(named.group(0))
        at = max(word.end() - len("--file"), word.start(1))
    return names


_PORT_ENTRY_LIMIT = 1024


def host_port(entry: object) -> tuple[int | None, str | None, int | None, str] | None:
    """(literal port, variable, default, text) of a compose port entry's host side."""
    if isinstance(entry, dict):
        published = entry.get("published")
        if published is None:
            return None
        host = str(published)
    else:
        text = str(entry)
        if len(text) > _PORT_ENTRY_LIMIT:
            return None  # not a port mapping; and the split below rescans from every ":"
        parts = re.split(r":(?![^{]*\})", text.split("/", maxsplit=1)[0])
        if len(parts) < 2:
            return None  # only a container port: compose picks a free host port
        host = parts[-2]
    match = re.fullmatch(VAR_REF, host.strip())
    if match:
        name = match.group("name") or match.group("bare")
        default = match.group("default")
        return None, name, int(default) if default and default.isdigit() else None, host
    first = host.split("-")[0]
    if first.isdigit():
        return int(first), None, None, host
    return None


def scan(root: Path) -> Repo:
    """Every file under root except dependency, build and VCS folders (and where
    node_modules folders are, since setup copies them)."""
    repo = Repo(root)
    root_str = str(root)
    cut = len(root_str) + 1
    for current, dirs, names in os.walk(root_str):
        # Plain string prefixes: this loop runs once per folder of a 20,000-file monorepo.
        prefix = current[cut:] + "/" if len(current) > len(root_str) else ""
        kept = []
        for name in dirs:
            if name == "node_modules":
                repo.node_modules.append(prefix + name)
            elif name not in SKIP_DIRS:
                kept.append(name)
        dirs[:] = kept
        repo.files += [prefix + name for name in names]
    repo.node_modules.sort(key=lambda d: (d.count("/"), d))
    return repo


def script_ports(command: str) -> list[int]:
    return [int(m.group("port")) for m in _SCRIPT_PORT.finditer(command)]


def writes_shared_env(command: str) -> bool:
    return bool(_WRITES_ENV.search(command))


# Ports that belong to another machine whatever the slot: a mail relay (SMTP 25, SMTPS
# 465, submission 587), IMAP/POP over TLS (993, 995) and HTTPS (443). A slot that moved one
# of them would talk to nothing (issue 15: MAIL_PORT=587 broke mail in every slot but main).
RELAY_PORTS = frozenset({25, 443, 465, 587, 993, 995})
_HOST_SUFFIXES = ("_HOST", "_HOSTNAME", "_SERVER", "_ADDR", "_ADDRESS")
_LOOPBACK = (*_LOCAL_HOSTS, "::1", "[::1]", "host.docker.internal")


def is_remote_host(value: str) -> bool:
    """A host name of another machine: a DNS name or address that is not loopback.
    A bare word (`db`, `redis`) is a compose service on this machine."""
    host = value.strip().strip("'\"").lower()
    if not host or "$" in host or host in _LOOPBACK:
        return False
    return "." in host or ":" in host


def not_per_slot(key: str, value: str, same_file: dict[str, str]) -> str | None:
    """Why the port in KEY=value is not this machine's to move per slot, or None.
    same_file: the other KEY=value pairs of the file it is in (its host may sit beside it)."""
    port = int(value) if value.strip().isdigit() else None
    stem = re.sub(r"_PORT\d*$", "", key)
    for suffix in _HOST_SUFFIXES:
        host = same_file.get(stem + suffix)
        if host is not None and is_remote_host(host):
            return f"its host {stem + suffix}={host.strip()} is another machine"
    if port in RELAY_PORTS:
        return f"{port} is a well-known relay port (mail, TLS), another machine's"
    return None


# Browser-exposed copies of a server variable: Next.js, Vite, SvelteKit/Astro, CRA, Nuxt, Expo.
PUBLIC_PREFIXES = (
    "NEXT_PUBLIC_",
    "VITE_",
    "PUBLIC_",
    "REACT_APP_",
    "NUXT_PUBLIC_",
    "EXPO_PUBLIC_",
)


def public_prefix(key: str) -> str:
    return next((prefix for prefix in PUBLIC_PREFIXES if key.startswith(prefix)), "")


# --- PostgreSQL and its migration tools, read as text (init never runs repository code) ---

_CONFIG_TEXT_LIMIT = 256 * 1024  # a config file larger than this is not a config file
LITERAL = re.compile(r"""['"`]([^'"`\n]{1,300})['"`]""")
_PG_URL = re.compile(r"^postgres(?:ql)?://", re.IGNORECASE)
_PG_CLIENT_KEYS = re.compile(r"^(?:DB|DATABASE|TYPEORM)_(?:CLIENT|CONNECTION|DIALECT|TYPE|DRIVER)$")
_PG_CLIENT_VALUES = {"pg", "postgres", "postgresql", "pgsql", "pgx"}
PG_JS_PACKAGES = ("pg", "postgres", "pg-promise", "@vercel/postgres", "@neondatabase/serverless")
_PG_PY = re.compile(r"^[ \t]*[\"']?(psycopg2?(?:-binary)?|psycopg\[?|asyncpg)", re.MULTILINE)
_PG_GEM = re.compile(r"""^[ \t]*gem[ \t]+['"]pg['"]""", re.MULTILINE)
_PG_IMAGE = re.compile(r"(^|/)(postgres|postgis|postgresql|timescaledb)", re.IGNORECASE)


_LOCKFILE_LIMIT = 64 * 1024 * 1024


def own_text(repo: Repo, relative: str, limit: int) -> str:
    """A file's text when neither it nor a folder on its way is a link (init never follows
    one out of the repository) and it is at most `limit` bytes; else ""."""
    path = repo.root
    try:
        for part in PurePosixPath(relative).parts:
            path = path / part
            if path.is_symlink():
                return ""
        if path.stat().st_size > limit:
            return ""
    except OSError:
        return ""
    return repo.text(relative)


def config_text(repo: Repo, relative: str) -> str:
    """A small config file's text ("" for a missing, linked or oversized one)."""
    return own_text(repo, relative, _CONFIG_TEXT_LIMIT)


def is_pg_url(value: str) -> bool:
    return bool(_PG_URL.match(value.strip().strip("'\"")))


def postgres_signals(repo: Repo, entries: list[EnvEntry]) -> list[str]:
    """Where the repository says it uses PostgreSQL, one reason each."""
    reasons: list[str] = []
    for compose in repo.compose_files:
        services = repo.compose(compose).get("services") or {}
        for name, body in services.items() if isinstance(services, dict) else []:
            image = str((body or {}).get("image", "")) if isinstance(body, dict) else ""
            if _PG_IMAGE.search(image.split("@")[0]):
                reasons.append(f"{compose} runs {image} (service {name})")
                break
    seen: set[str] = set()  # a key in .env.example and .env is one reason
    for e in entries:
        value = e.value.strip().strip("'\"").lower()
        if e.key in seen:
            continue
        seen.add(e.key)
        if _PG_CLIENT_KEYS.match(e.key) and value in _PG_CLIENT_VALUES:
            reasons.append(f"{e.file}:{e.line} {e.key}={value}")
        elif is_pg_url(e.value) and not e.key.startswith("SHADOW"):
            reasons.append(f"{e.file}:{e.line} {e.key} is a postgresql:// URL")
    deps = repo.dependencies()
    found = [name for name in PG_JS_PACKAGES if name in deps]
    if found:
        reasons.append(f"package.json depends on {', '.join(found)}")
    for relative in repo.files:
        name = PurePosixPath(relative).name
        if name.endswith(".prisma") and re.search(
            r'provider\s*=\s*"postgres(?:ql)?"', config_text(repo, relative)
        ):
            reasons.append(f"{relative}: datasource provider postgresql")
        elif (name.startswith("requirements") and name.endswith(".txt")) or name in (
            "pyproject.toml",
            "Pipfile",
        ):
            if _PG_PY.search(config_text(repo, relative)):
                reasons.append(f"{relative} requires a PostgreSQL driver")
        elif name == "Gemfile" and _PG_GEM.search(config_text(repo, relative)):
            reasons.append(f"{relative}: gem pg")
    return list(dict.fromkeys(reasons))


def _first_value(line: str) -> str:
    """line up to the comma that ends its first value (`'./out', dialect: 'pg'` -> `'./out'`):
    commas inside brackets or quotes belong to the value."""
    depth, quote = 0, ""
    for at, char in enumerate(line):
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"`":
            quote = char
        elif char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
            if depth < 0:
                return line[:at]
        elif char == "," and depth == 0:
            return line[:at]
    return line


def literal_path(line: str, base: str) -> str | None:
    """The path a config line names with string literals, relative to the repository:
    `directory: path.join(__dirname, 'db', 'migrations')` in server/ -> server/db/migrations.
    Literals are joined, `./` dropped; `__dirname` and a cwd-relative path both mean the
    file's folder (knex and drizzle-kit run from there)."""
    parts = [p for p in LITERAL.findall(_first_value(line)) if p not in (".", "./")]
    if not parts:
        return None
    joined = "/".join(part.strip("/") for part in parts if part.strip("/"))
    joined = re.sub(r"^(\./)+", "", joined)
    if not joined or joined.startswith(("/", "..")) or "${" in joined:
        return None
    return joined if base == "." else f"{base}/{joined}"


def key_line(text: str, key: str, after: str | None = None) -> str | None:
    """The rest of the first line where `key:` (or `key =`) appears; with `after`, inside the
    first `after: {` object (knexfile's `migrations: { directory: ... }`), so a comment that
    mentions migrations, or a `seeds` block before it, is not taken for it."""
    start = 0
    if after is not None:
        opened = re.compile(rf"(?<![\w-])['\"]?{re.escape(after)}['\"]?\s*:\s*\{{").search(text)
        if opened is None:
            return None
        start = opened.end()
    match = re.compile(rf"(?<![\w-])['\"]?{re.escape(key)}['\"]?\s*[:=]\s*([^\n]*)").search(
        text, start
    )
    return match.group(1) if match else None


def npm_tree_matches_lock(repo: Repo, folder: str) -> tuple[bool, str]:
    """npm writes node_modules/.package-lock.json as it installs: when its packages equal
    package-lock.json's, the tree in main is what `npm ci` would make."""
    base = "" if folder == "." else folder + "/"
    lock_text = own_text(repo, base + "package-lock.json", _LOCKFILE_LIMIT)
    hidden_text = own_text(repo, base + "node_modules/.package-lock.json", _LOCKFILE_LIMIT)
    if not hidden_text:
        return False, "node_modules has no .package-lock.json"
    try:
        lock = json.loads(lock_text).get("packages", {})
        hidden = json.loads(hidden_text).get("packages", {})
    except (json.JSONDecodeError, AttributeError):
        return False, "a lockfile does not parse"

    def versions(packages: dict[str, Any]) -> dict[str, Any]:
        return {
            k: (v.get("version"), v.get("integrity"))
            for k, v in packages.items()
            if k and isinstance(v, dict) and not v.get("link")
        }

    if versions(lock) == versions(hidden):
        return True, "node_modules/.package-lock.json lists the same packages"
    return False, "node_modules/.package-lock.json differs from package-lock.json"


def pnpm_tree_matches_lock(repo: Repo) -> tuple[bool, str]:
    """pnpm keeps the lockfile it installed from as node_modules/.pnpm/lock.yaml."""
    current = own_text(repo, "node_modules/.pnpm/lock.yaml", _LOCKFILE_LIMIT)
    if not current:
        return False, "node_modules/.pnpm/lock.yaml is missing"
    if current.strip() == own_text(repo, "pnpm-lock.yaml", _LOCKFILE_LIMIT).strip():
        return True, "node_modules/.pnpm/lock.yaml equals pnpm-lock.yaml"
    return False, "node_modules/.pnpm/lock.yaml differs from pnpm-lock.yaml"


# The variable each auth library builds its callback and cookie URLs from.
_AUTH_URL_VARS = {
    "next-auth": ("NEXTAUTH_URL", "AUTH_URL"),
    "@auth/core": ("AUTH_URL",),
    "better-auth": ("BETTER_AUTH_URL",),
}
# Variables apps commonly serve their own URL from, when the library reads none itself.
_APP_URL_VARS = ("APP_URL", "BASE_URL", "SITE_URL", "PUBLIC_URL", "ORIGIN", "WEB_URL")
# Where each library names its session cookie, for apps configured in code.
_COOKIE_SETTINGS = {
    "next-auth": "`cookies.sessionToken.name` in the NextAuth options",
    "@auth/core": "`cookies.sessionToken.name` in the Auth.js options",
    "lucia": "`sessionCookie.name` in the Lucia options",
    "express-session": "`name` in session({ ... })",
    "passport": "`name` in the session middleware passport uses (express-session)",
    "iron-session": "`cookieName` in the iron-session options",
    "better-auth": "`advanced.cookiePrefix` in the better-auth options",
}


def session_setting(repo: Repo, libraries: list[str]) -> tuple[str | None, str]:
    """What decides which host a slot's session cookies belong to: the URL variable the
    auth library (or the app) reads, when the repository's env files set it to a local
    address, else the library's cookie-name setting in the app's code. A hint naming a
    variable nothing reads silences the warning and fixes nothing (issue 15)."""
    local_urls: dict[str, str] = {}
    for relative in [*repo.examples, *repo.env_files]:
        for e in repo.entries(relative):
            if embedded_ports(e.value):
                local_urls.setdefault(e.key, f"{e.file}:{e.line}")
    for library in libraries:
        for var in _AUTH_URL_VARS.get(library, ()):
            if var in local_urls:
                where = local_urls[var]
                return var, f"{library} builds its cookies and callbacks from {var} ({where})"
    for var in _APP_URL_VARS:
        if var in local_urls:
            return var, f"the app's own URL is {var} ({local_urls[var]})"
    settings = [_COOKIE_SETTINGS[lib] for lib in libraries if lib in _COOKIE_SETTINGS]
    return None, settings[0] if settings else "the session cookie's name in the app's code"
