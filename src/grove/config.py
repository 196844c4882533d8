"""grove.toml -> frozen records. Every check happens at load, naming file and key."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from pathlib import Path, PurePosixPath

from grove import envfile, fsio
from grove.errors import ConfigError
from grove.record import field, record

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing
if TYPE_CHECKING:
    from typing import Any

CONFIG_NAME = "grove.toml"
ENVRC = ".envrc"  # direnv's per-folder file; [env] envrc = true has grove write it
ENV_KEY = re.compile(r"^[A-Z_][A-Z0-9_]*$")
MAX_SLOTS = 100

# The seed's table: the default when a repository has no grove.toml.
DEFAULT_PORTS: dict[str, int] = {
    "PORT": 3000,
    "DB_PORT": 5434,
    "MAILPIT_SMTP_PORT": 1025,
    "MAILPIT_UI_PORT": 8025,
}

TEMPLATE_FIELDS = ("n", "name", "dir")
NAMING_FIELDS = ("n", "name")
DEFAULT_STEP_TIMEOUT = 1800.0
MAX_STEP_TIMEOUT = 86400  # a day: longer is a hung command, not a slow one

# Which of the given paths git tracks in main. config.py never runs git itself: the caller
# passes git.tracked bound to main.
TrackedFiles = Callable[[Sequence[str]], set[str]]


@record(frozen=True)
class PortSpec:
    name: str
    base: int
    stride: int

    def for_slot(self, n: int) -> int:
        return self.base + n * self.stride


@record(frozen=True)
class Rewrite:
    """A shared value written per slot: its table port (and host) swapped, ${VAR} expanded."""

    key: str
    port_var: str | None
    host: str | None  # a template like "wt{n}.localhost"
    from_port: int | None = None  # the port the shared value holds, when not port_var's base


@record(frozen=True)
class DatabaseConfig:
    mode: str = "cluster"  # "cluster": one PostgreSQL per slot; "server": one database per slot
    url: str | None = None  # server mode: the existing server
    name: str = "app"
    port_var: str = "DB_PORT"  # cluster mode: the [ports] variable each slot's server listens on
    seed: tuple[str, ...] = ()
    seed_inputs: tuple[str, ...] = ()
    migrate: tuple[str, ...] = ()
    migrate_status: str | None = None
    migrations: tuple[str, ...] = ()  # globs: migrate runs again only when these change
    bin: str | None = None
    # The app's own connection variables (DB_HOST, POSTGRES_DB, ...), each written per slot
    # with one part of the slot's database: one of DATABASE_FIELDS.
    env: tuple[tuple[str, str], ...] = ()


DATABASE_FIELDS = ("url", "host", "port", "user", "password", "dbname")
# What [database] writes in every slot's block without being asked.
DATABASE_VARS = frozenset(
    {"DATABASE_URL", "PGHOST", "PGPORT", "PGUSER", "PGDATABASE", "PGPASSWORD"}
)


# A pattern, compiled on first use (re caches it): a config without [database] never needs it.
DB_NAME = r"[a-z_][a-z0-9_]{0,39}"


@record(frozen=True)
class ServiceSpec:
    """[services] NAME: a long-running command of every slot, started by `grove up`."""

    name: str
    run: str  # a template: {n}, {name}, {dir} and the [ports] variables
    port: str | None  # the [ports] variable it listens on; `up` waits for it
    ready_timeout: float = 60.0


SERVICE_NAME = r"[a-z][a-z0-9_-]{0,31}"  # compiled on first use, as DB_NAME
DEFAULT_READY_TIMEOUT = 60.0


@record(frozen=True)
class SecurityConfig:
    allow: tuple[str, ...] = ()  # key names or finding fingerprints ("sha256:...")
    production_aws_accounts: tuple[str, ...] = ()
    pull: str | None = None  # [secrets] pull: a command whose stdout is the new shared file
    pull_file: str | None = None  # which shared file it replaces (default: the first)
    # [secrets] inject: a command whose stdout (dotenv) reaches exec, up and the session
    # hook's commands in their process environment only, never a file (injected.py)
    inject: str | None = None
    inject_timeout: float = 30.0


@record(frozen=True)
class TeamConfig:
    """[team]: claims on a git remote (refs/grove/claims/<branch>), shared by every machine."""

    remote: str = "origin"  # a remote's name (or URL) that every machine pushes to
    claim_ttl: float = 8 * 3600.0  # seconds a claim lives without a renewal


@record(frozen=True)
class Config:
    path: Path | None  # None when the repository has no grove.toml
    slots: int = 3
    naming: str = "{name}-wt{n}"
    ports: tuple[PortSpec, ...] = tuple(PortSpec(k, v, 1) for k, v in DEFAULT_PORTS.items())
    shared: tuple[str, ...] = (".env",)
    local_files: tuple[str, ...] = (".env.local",)  # each gets the managed block
    protect: bool = False  # main's shared files read-only: a stray write fails loudly
    envrc: bool = False  # each slot's .envrc exports its managed values (direnv)
    derived: tuple[tuple[str, str], ...] = ()
    rewrites: tuple[Rewrite, ...] = ()
    setup_copy: tuple[str, ...] = ()
    setup_copy_configured: bool = False  # without it, .worktreeinclude lists what to copy
    setup_inputs: tuple[str, ...] = ()  # globs whose change re-runs [setup] run, with lockfiles
    reset_disposable: tuple[str, ...] = ()  # ignored build output `release --reset` removes
    setup_run: tuple[str, ...] = ()
    refresh_run: tuple[str, ...] = ()
    switch_run: tuple[str, ...] = ()
    step_timeout: float = DEFAULT_STEP_TIMEOUT  # seconds any setup, seed or migrate command may run
    database: DatabaseConfig | None = None
    services: tuple[ServiceSpec, ...] = ()
    security: SecurityConfig = SecurityConfig()
    team: TeamConfig | None = None  # [team]: take claims its branch on the remote
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def local(self) -> str:
        """The root local file: the one `grove env` and `grove exec` read first."""
        return self.local_files[0]

    @property
    def own_files(self) -> tuple[str, ...]:
        """The files grove writes in every slot, each holding its managed block: the local
        files and, with [env] envrc, the .envrc. Outside the block they are the user's."""
        return (*self.local_files, ENVRC) if self.envrc else self.local_files

    def ports_for(self, n: int) -> dict[str, int]:
        return {spec.name: spec.for_slot(n) for spec in self.ports}


_SCHEMA: dict[str, set[str]] = {
    "grove": {"slots", "naming", "step_timeout"},
    "ports": set(),  # any env-style key, plus "stride"
    "env": {"shared", "local", "derived", "protect", "rewrite", "envrc"},
    "setup": {"copy", "run", "inputs"},
    "reset": {"disposable"},
    "refresh": {"run"},
    "switch": {"run"},
    "security": {"allow", "production_aws_accounts"},
    "services": set(),  # any service name; each entry is checked by _parse_services
    "secrets": {"pull", "file", "inject", "inject_timeout"},
    "team": {"remote", "claim_ttl"},
    "database": {
        "engine",
        "mode",
        "url",
        "name",
        "port",
        "seed",
        "seed_inputs",
        "migrate",
        "migrations",
        "migrate_status",
        "bin",
        "env",
    },
}


class _Reader:
    def __init__(self, path: Path):
        self.path = path

    def fail(self, key: str, expected: str, got: object = None) -> ConfigError:
        shown = "" if got is None else f", got {got!r}"
        return ConfigError(
            f"{self.path}: {key}: expected {expected}{shown}",
            hint=f"fix {key} in {self.path.name}; `grove init --dry-run` prints a valid file",
        )

    def table(self, data: dict[str, Any], section: str) -> dict[str, Any]:
        value = data.get(section, {})
        if not isinstance(value, dict):
            raise self.fail(f"[{section}]", "a table", value)
        return value

    def integer(self, value: object, key: str, low: int, high: int) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise self.fail(key, f"an integer from {low} to {high}", value)
        return value

    def text(self, value: object, key: str) -> str:
        if not isinstance(value, str) or not value.strip():
            raise self.fail(key, "a non-empty string", value)
        return value

    def texts(self, value: object, key: str) -> tuple[str, ...]:
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            raise self.fail(key, "a list of non-empty strings", value)
        return tuple(value)

    def relative_path(self, value: object, key: str) -> str:
        text = self.text(value, key)
        posix = PurePosixPath(text)
        if posix.is_absolute() or ".." in posix.parts or text.endswith("/"):
            raise self.fail(key, "a path relative to the repository root, inside it", value)
        return str(posix)


MAX_CONFIG_BYTES = 1 << 20  # a grove.toml is a page or two


def read_toml(path: Path) -> dict[str, Any]:
    """A TOML file's data, or a ConfigError naming it."""
    import tomllib

    try:  # a FIFO in its place is refused, never waited on
        text = fsio.read_regular(path, MAX_CONFIG_BYTES).decode("utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8", hint="save it as UTF-8") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}", hint="fix the syntax error") from None


def load(
    main: Path,
    tracked: TrackedFiles | None = None,
    read: Callable[[Path], dict[str, Any]] = read_toml,
) -> Config:
    """grove.toml of main, checked against main's folders too; with tracked, also against
    the files git tracks there. Without a grove.toml the defaults apply unchecked. `read`
    gives the file's data (slots passes one that keeps it while the file is unchanged)."""
    path = main / CONFIG_NAME
    if not path.exists():
        return Config(path=None)
    cfg = parse(read(path), path)
    _check_env_files_in(_Reader(path), cfg, main, tracked)
    _check_rendered(_Reader(path), cfg, main.name)
    return cfg


def parse(data: dict[str, Any], path: Path) -> Config:
    r = _Reader(path)
    _refuse_nul(r, data, ())
    for section, value in data.items():
        if section not in _SCHEMA:
            raise r.fail(f"[{section}]", f"one of the sections {', '.join(sorted(_SCHEMA))}")
        if isinstance(value, dict) and section not in ("ports", "services"):
            for key in value:
                if key not in _SCHEMA[section]:
                    raise r.fail(
                        f"[{section}] {key}",
                        f"a known key ({', '.join(sorted(_SCHEMA[section]))}); unknown keys are"
                        " refused so a typo does not silently do nothing",
                    )

    grove = r.table(data, "grove")
    slots = r.integer(grove.get("slots", 3), "[grove] slots", 1, MAX_SLOTS)
    naming = r.text(grove.get("naming", "{name}-wt{n}"), "[grove] naming")
    _check_naming(r, naming)
    step_timeout = _step_timeout(r, grove.get("step_timeout", DEFAULT_STEP_TIMEOUT))

    ports = _parse_ports(r, r.table(data, "ports"), slots)

    env = r.table(data, "env")
    shared = tuple(
        _env_file_path(r, v, "[env] shared")
        for v in r.texts(env.get("shared", [".env"]), "[env] shared")
    )
    raw_local = env.get("local", ".env.local")
    local_list = r.texts(raw_local, "[env] local") if isinstance(raw_local, list) else [raw_local]
    if not local_list:
        raise r.fail("[env] local", "a file name or a non-empty list of them", raw_local)
    local_files = tuple(_env_file_path(r, v, "[env] local") for v in local_list)
    for local in local_files:
        if local in shared:
            raise r.fail("[env] local", "files that are not also in [env] shared", local)
    derived_table = env.get("derived", {})
    if not isinstance(derived_table, dict):
        raise r.fail("[env.derived]", 'a table of KEY = "template"', derived_table)
    port_names = {spec.name for spec in ports}
    derived: list[tuple[str, str]] = []
    for key, template in derived_table.items():
        where = f"[env.derived] {key}"
        if not ENV_KEY.match(key):
            raise r.fail(where, "a key matching ^[A-Z_][A-Z0-9_]*$")
        if key in port_names:
            raise r.fail(where, "a key that is not already in [ports]")
        text = r.text(template, where)
        _check_template(r, where, text, port_names)
        _check_writable(r, where, key, text)
        derived.append((key, text))

    rewrites = _parse_rewrites(r, env.get("rewrite", {}), ports, {k for k, _ in derived})
    database = _parse_database(r, data, ports) if "database" in data else None
    if database is not None:
        clash = {key for key, _ in derived} & DATABASE_VARS
        if clash:
            raise r.fail(
                f"[env.derived] {sorted(clash)[0]}",
                "no database variables: [database] writes DATABASE_URL and the PG* variables",
            )
        written = {key for key, _ in derived} | {w.key for w in rewrites} | port_names
        for key, _ in database.env:
            if key in written:
                raise r.fail(
                    f"[database.env] {key}",
                    "a variable that [ports], [env.derived] and [env.rewrite] do not also write",
                )

    setup = r.table(data, "setup")
    copy = tuple(
        r.relative_path(v, "[setup] copy") for v in r.texts(setup.get("copy", []), "[setup] copy")
    )
    return Config(
        path=path,
        slots=slots,
        naming=naming,
        ports=ports,
        shared=shared,
        local_files=local_files,
        protect=_boolean(r, env.get("protect", False), "[env] protect"),
        envrc=_envrc(r, env, shared, local_files),
        derived=tuple(derived),
        rewrites=rewrites,
        setup_copy=copy,
        setup_copy_configured="copy" in setup,
        setup_inputs=r.texts(setup.get("inputs", []), "[setup] inputs"),
        reset_disposable=tuple(
            r.relative_path(v.rstrip("/"), "[reset] disposable")
            for v in r.texts(r.table(data, "reset").get("disposable", []), "[reset] disposable")
        ),
        setup_run=r.texts(setup.get("run", []), "[setup] run"),
        refresh_run=r.texts(r.table(data, "refresh").get("run", []), "[refresh] run"),
        switch_run=r.texts(r.table(data, "switch").get("run", []), "[switch] run"),
        step_timeout=step_timeout,
        database=database,
        services=_parse_services(r, r.table(data, "services"), port_names),
        security=_parse_security(r, data, shared),
        team=_parse_team(r, r.table(data, "team")) if "team" in data else None,
        raw=data,
    )


def _parse_services(
    r: _Reader, table: dict[str, Any], port_names: set[str]
) -> tuple[ServiceSpec, ...]:
    services: list[ServiceSpec] = []
    claimed: dict[str, str] = {}
    for name, given in table.items():
        where = f"[services] {name}"
        if not re.fullmatch(SERVICE_NAME, name):
            raise r.fail(where, "a service name of lower-case letters, digits, - and _")
        entry = {"run": given} if isinstance(given, str) else given
        if not isinstance(entry, dict):
            raise r.fail(where, '{ run = "COMMAND", port = "PORT_VARIABLE" }', entry)
        unknown = set(entry) - {"run", "port", "ready_timeout"}
        if unknown:
            raise r.fail(f"{where} {sorted(unknown)[0]}", "one of run, port, ready_timeout")
        run = r.text(entry.get("run"), f"{where} run")
        if not run.strip():
            raise r.fail(f"{where} run", "a command to run", run)
        _check_template(r, f"{where} run", run, port_names)
        port = entry.get("port")
        if port is not None:
            port = r.text(port, f"{where} port")
            if port not in port_names:
                raise r.fail(
                    f"{where} port",
                    f"a [ports] variable ({', '.join(sorted(port_names))})",
                    port,
                )
            if port in claimed:
                raise r.fail(f"{where} port", f"a port no other service uses ({claimed[port]})")
            claimed[port] = name
        timeout = entry.get("ready_timeout", DEFAULT_READY_TIMEOUT)
        if (
            isinstance(timeout, bool)
            or not isinstance(timeout, int | float)
            or not (0 < timeout <= 3600)
        ):
            raise r.fail(f"{where} ready_timeout", "seconds, more than 0 and at most 3600", timeout)
        services.append(ServiceSpec(name, run, port, float(timeout)))
    return tuple(services)


def _parse_database(
    r: _Reader, data: dict[str, Any], ports: tuple[PortSpec, ...]
) -> DatabaseConfig:
    table = r.table(data, "database")
    engine = table.get("engine", "postgres")
    if engine != "postgres":
        raise r.fail("[database] engine", '"postgres" (the only engine grove runs)', engine)
    mode = table.get("mode", "cluster")
    if mode not in ("cluster", "server"):
        raise r.fail("[database] mode", '"cluster" or "server"', mode)
    name = r.text(table.get("name", "app"), "[database] name")
    if not re.fullmatch(DB_NAME, name):
        raise r.fail("[database] name", "a lowercase identifier of at most 40 characters", name)
    url = table.get("url")
    if mode == "server":
        url = r.text(url, "[database] url")
        if not url.startswith(("postgresql://", "postgres://")):
            raise r.fail("[database] url", "a postgresql:// URL of the server", url)
    elif url is not None:
        raise r.fail("[database] url", 'nothing in cluster mode (url is for mode = "server")', url)
    port_var = r.text(table.get("port", "DB_PORT"), "[database] port")
    if mode == "cluster" and port_var not in {spec.name for spec in ports}:
        raise r.fail(
            "[database] port",
            f"a variable from [ports] ({', '.join(spec.name for spec in ports)}) for each slot's"
            " server to listen on",
            port_var,
        )
    status = table.get("migrate_status")
    bin_dir = table.get("bin")
    return DatabaseConfig(
        mode=mode,
        url=url,
        name=name,
        port_var=port_var,
        seed=r.texts(table.get("seed", []), "[database] seed"),
        seed_inputs=tuple(
            r.relative_path(v, "[database] seed_inputs")
            for v in r.texts(table.get("seed_inputs", []), "[database] seed_inputs")
        ),
        migrate=r.texts(table.get("migrate", []), "[database] migrate"),
        migrate_status=None if status is None else r.text(status, "[database] migrate_status"),
        migrations=r.texts(table.get("migrations", []), "[database] migrations"),
        bin=None if bin_dir is None else r.text(bin_dir, "[database] bin"),
        env=_parse_database_env(r, table.get("env", {})),
    )


def _parse_database_env(r: _Reader, table: object) -> tuple[tuple[str, str], ...]:
    """[database.env]: KEY = "host" and so on, the app's spellings of the slot's database."""
    if not isinstance(table, dict):
        raise r.fail("[database.env]", f'a table of KEY = "{DATABASE_FIELDS[1]}"', table)
    pairs: list[tuple[str, str]] = []
    for key, part in table.items():
        where = f"[database.env] {key}"
        if not ENV_KEY.match(key):
            raise r.fail(where, "a key matching ^[A-Z_][A-Z0-9_]*$")
        if key in DATABASE_VARS:
            raise r.fail(where, "a variable [database] does not already write", key)
        if part not in DATABASE_FIELDS:
            raise r.fail(where, f"one of {', '.join(DATABASE_FIELDS)}", part)
        pairs.append((key, part))
    return tuple(pairs)


def _parse_security(r: _Reader, data: dict[str, Any], shared: tuple[str, ...]) -> SecurityConfig:
    security = r.table(data, "security")
    allow = r.texts(security.get("allow", []), "[security] allow")
    for entry in allow:
        if not (ENV_KEY.match(entry) or re.fullmatch(r"sha256:[0-9a-f]{16}", entry)):
            raise r.fail(
                "[security] allow", "key names or fingerprints like sha256:0123abcd...", entry
            )
    accounts = r.texts(
        security.get("production_aws_accounts", []), "[security] production_aws_accounts"
    )
    for account in accounts:
        if not re.fullmatch(r"\d{12}", account):
            raise r.fail("[security] production_aws_accounts", "12-digit AWS account ids", account)
    secrets = r.table(data, "secrets")
    pull = secrets.get("pull")
    pull_file = secrets.get("file")
    if pull_file is not None and pull_file not in shared:
        raise r.fail("[secrets] file", f"one of the shared files ({', '.join(shared)})", pull_file)
    inject = secrets.get("inject")
    return SecurityConfig(
        allow=allow,
        production_aws_accounts=accounts,
        pull=None if pull is None else r.text(pull, "[secrets] pull"),
        pull_file=pull_file,
        inject=None if inject is None else r.text(inject, "[secrets] inject"),
        inject_timeout=_inject_timeout(r, secrets.get("inject_timeout", 30.0)),
    )


# Patterns compiled on first use, as DB_NAME: only a [team] table needs them.
REMOTE_NAME = r"[A-Za-z0-9_][A-Za-z0-9_.@:/+~-]*"
DURATION = r"(\d+)\s*([smhd])"
DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
MIN_CLAIM_TTL = 1
MAX_CLAIM_TTL = 30 * 86400  # a month: a claim nobody renews for longer is abandoned


def _parse_team(r: _Reader, team: dict[str, Any]) -> TeamConfig:
    remote = r.text(team.get("remote", "origin"), "[team] remote")
    # Passed to git as an argument: a leading '-' would be read as an option.
    if not re.fullmatch(REMOTE_NAME, remote):
        raise r.fail(
            "[team] remote",
            "a git remote's name (like origin) or URL, not starting with '-', without spaces",
            remote,
        )
    return TeamConfig(remote=remote, claim_ttl=parse_ttl(r, team.get("claim_ttl", "8h")))


def parse_ttl(r: _Reader, value: object) -> float:
    """[team] claim_ttl: seconds as a number, or text like "90s", "30m", "8h", "2d"."""
    expected = (
        f'a duration like "8h", "30m", "90s", "2d" or a number of seconds, from '
        f"{MIN_CLAIM_TTL}s to {MAX_CLAIM_TTL // 86400}d"
    )
    seconds: float | None = None
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    elif isinstance(value, str):
        found = re.fullmatch(DURATION, value.strip())
        if found:
            seconds = float(int(found.group(1)) * DURATION_UNITS[found.group(2)])
    # `MIN <= seconds` is false for TOML's nan, and inf fails the upper bound.
    if seconds is None or not MIN_CLAIM_TTL <= seconds <= MAX_CLAIM_TTL:
        raise r.fail("[team] claim_ttl", expected, value)
    return seconds


MAX_INJECT_TIMEOUT = 600  # a secret manager answers in seconds; minutes is a hung login


def _inject_timeout(r: _Reader, value: object) -> float:
    # `0 < value` is false for TOML's nan, and inf fails the upper bound.
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not 0 < value <= MAX_INJECT_TIMEOUT
    ):
        raise r.fail(
            "[secrets] inject_timeout",
            f"a number of seconds above 0, at most {MAX_INJECT_TIMEOUT}",
            value,
        )
    return float(value)


def _parse_rewrites(
    r: _Reader, table: object, ports: tuple[PortSpec, ...], derived: set[str]
) -> tuple[Rewrite, ...]:
    if not isinstance(table, dict):
        raise r.fail("[env.rewrite]", 'a table of KEY = "PORT_VARIABLE"', table)
    port_names = {spec.name for spec in ports}
    rewrites: list[Rewrite] = []
    for key, given in table.items():
        where = f"[env.rewrite] {key}"
        if not ENV_KEY.match(key) or key in port_names or key in derived:
            raise r.fail(where, "a key of the shared file that is not a port or derived value")
        spec = {"port": given} if isinstance(given, str) else given
        if not isinstance(spec, dict) or set(spec) - {"port", "host", "from"}:
            raise r.fail(
                where, '"PORT_VARIABLE" or { port = "PORT_VARIABLE", host = "...", from = N }', spec
            )
        port_var = spec.get("port")
        if port_var is not None and port_var not in port_names:
            raise r.fail(where, f"a [ports] variable ({', '.join(sorted(port_names))})", port_var)
        host = spec.get("host")
        if host is not None:
            _check_template(r, f"{where}.host", r.text(host, f"{where}.host"), port_names)
            _check_writable(r, f"{where}.host", key, host)
        from_port = spec.get("from")
        if from_port is not None:
            if port_var is None:
                raise r.fail(f"{where}.from", "nothing without port (from is the port it swaps)")
            from_port = r.integer(from_port, f"{where}.from", 1, 65535)
        rewrites.append(Rewrite(key, port_var, host, from_port))
    return tuple(rewrites)


def _boolean(r: _Reader, value: object, key: str) -> bool:
    if not isinstance(value, bool):
        raise r.fail(key, "true or false", value)
    return value


def _envrc(
    r: _Reader, env: dict[str, Any], shared: tuple[str, ...], local: tuple[str, ...]
) -> bool:
    wanted = _boolean(r, env.get("envrc", False), "[env] envrc")
    if wanted and ENVRC in (*shared, *local):
        raise r.fail("[env] envrc", f"no {ENVRC} in [env] shared or local (grove writes it)")
    return wanted


def _format_fields(text: str) -> list[tuple[str, str | None, str | None, str | None]]:
    """string.Formatter().parse(text), which is this very call: importing string compiles
    string.Template's regex, a cost every command paid for a check of a few short strings."""
    import _string  # type: ignore[import-not-found]  # CPython's own module; typeshed has no stub

    return list(_string.formatter_parser(text))


def _check_naming(r: _Reader, naming: str) -> None:
    """The name must parse back to its slot number (slots.Grove.index_for builds a regex
    from it), so only plain {n} once and {name}, and no literal braces the regex would
    keep doubled."""
    expected = (
        "a directory name containing {n} once (and optionally {name}), with no other "
        "braces, format specs or conversions, and without '/'"
    )
    try:
        parsed = _format_fields(naming)
    except ValueError as exc:
        raise r.fail("[grove] naming", f"{expected} ({exc})", naming) from None
    fields = [name for _, name, _, _ in parsed if name is not None]
    plain = all(not spec and not conversion for _, name, spec, conversion in parsed if name)
    literal_braces = any("{" in text or "}" in text for text, _, _, _ in parsed)
    if (
        fields.count("n") != 1
        or not set(fields) <= set(NAMING_FIELDS)
        or not plain
        or literal_braces
        or "/" in naming
    ):
        raise r.fail("[grove] naming", expected, naming)


def _step_timeout(r: _Reader, value: object) -> float:
    # `0 < value` is false for TOML's nan, and inf fails the upper bound.
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not 0 < value <= MAX_STEP_TIMEOUT
    ):
        raise r.fail(
            "[grove] step_timeout",
            f"a number of seconds above 0, at most {MAX_STEP_TIMEOUT}",
            value,
        )
    return float(value)


def _refuse_nul(r: _Reader, value: object, keys: tuple[str, ...]) -> None:
    """A NUL byte cannot be in a path, an argument or an env value: refuse it anywhere,
    before any check could pass it on to the operating system."""
    if isinstance(value, str) and "\0" in value:
        raise r.fail(_key_name(keys), "text without a NUL byte", value)
    if isinstance(value, dict):
        for key, item in value.items():
            if "\0" in key:
                raise r.fail(_key_name((*keys, key)), "a key without a NUL byte")
            _refuse_nul(r, item, (*keys, key))
    elif isinstance(value, list):
        for item in value:
            _refuse_nul(r, item, keys)


def _key_name(keys: tuple[str, ...]) -> str:
    """("env", "derived", "URL") -> "[env.derived] URL", as the other messages name keys."""
    if len(keys) == 1:
        return f"[{keys[0]}]"
    return f"[{'.'.join(keys[:-1])}] {keys[-1]}"


def _env_file_path(r: _Reader, value: object, key: str) -> str:
    """A shared or local file: inside the repository, and neither git's folder nor grove.toml
    (grove links or rewrites these in every slot)."""
    relative = r.relative_path(value, key)
    parts = PurePosixPath(relative).parts
    if any(part.casefold() == ".git" for part in parts):
        raise r.fail(key, "a file outside git's .git folder", value)
    if relative.casefold() == CONFIG_NAME:
        raise r.fail(key, f"a file other than {CONFIG_NAME} (grove's own config)", value)
    return relative


def _check_env_files_in(r: _Reader, cfg: Config, main: Path, tracked: TrackedFiles | None) -> None:
    """What only main can tell: a folder is not an env file, and a file git tracks is
    checked out in every slot, so grove could neither link it (shared) nor own it (local)."""
    named = [("[env] shared", name) for name in cfg.shared]
    named += [("[env] local", name) for name in cfg.local_files]
    named += [("[env] envrc", ENVRC)] if cfg.envrc else []
    for key, name in named:
        if (main / name).is_dir():
            raise r.fail(key, "a file, not a folder of the repository", name)
    if tracked is None:
        return
    in_git = tracked([name for _, name in named])
    for key, name in named:
        if name in in_git:
            why = (
                "every slot checks out its own copy, so it cannot be a link to main's"
                if key == "[env] shared"
                else "grove would rewrite a committed file in every slot"
            )
            raise r.fail(key, f"a file git does not track ({why})", name)


def _check_writable(r: _Reader, where: str, key: str, template: str) -> None:
    """Refuse at load what the dotenv writer would refuse after `git worktree add`."""
    try:
        envfile.format_assignment(key, template)
    except envfile.UnsafeValue as exc:
        raise r.fail(where, f"a value a dotenv file can hold: {exc.reason}", template) from None


def _check_rendered(r: _Reader, cfg: Config, main_name: str) -> None:
    """{name} and {dir} come from folder names, which the template text check cannot see."""
    rewrites = [(f"[env.rewrite] {w.key}.host", w.key, w.host) for w in cfg.rewrites if w.host]
    templates = [(f"[env.derived] {key}", key, text) for key, text in cfg.derived] + rewrites
    if not templates:
        return
    for n in range(cfg.slots):
        folder = main_name if n == 0 else cfg.naming.format(name=main_name, n=n)
        fields: dict[str, str | int] = {"n": n, "name": main_name, "dir": folder}
        fields.update(cfg.ports_for(n))
        for where, key, template in templates:
            try:
                envfile.format_assignment(key, template.format_map(fields))
            except envfile.UnsafeValue as exc:
                raise r.fail(
                    where,
                    f"a value a dotenv file can hold in every slot; with the folder name "
                    f"{folder!r} {exc.reason}",
                    template,
                ) from None


def _parse_ports(r: _Reader, table: dict[str, Any], slots: int) -> tuple[PortSpec, ...]:
    if not table:
        specs = [PortSpec(k, v, 1) for k, v in DEFAULT_PORTS.items()]
    else:
        default_stride = r.integer(table.get("stride", 1), "[ports] stride", 1, 1000)
        specs = []
        for key, value in table.items():
            if key == "stride":
                continue
            where = f"[ports] {key}"
            if not ENV_KEY.match(key):
                raise r.fail(where, "a port variable matching ^[A-Z_][A-Z0-9_]*$ (or 'stride')")
            if isinstance(value, dict):
                unknown = set(value) - {"base", "stride"}
                if unknown or "base" not in value:
                    raise r.fail(where, "an integer or a table { base = N, stride = M }", value)
                base = r.integer(value["base"], f"{where}.base", 1, 65535)
                stride = r.integer(value.get("stride", default_stride), f"{where}.stride", 1, 1000)
            else:
                base = r.integer(value, where, 1, 65535)
                stride = default_stride
            last = base + (slots - 1) * stride
            if last > 65535:
                raise r.fail(
                    where,
                    f"a base whose last slot stays within 65535 "
                    f"(slot {slots - 1} would get {last})",
                    base,
                )
            specs.append(PortSpec(key, base, stride))
        if not specs:
            raise r.fail("[ports]", "at least one port variable besides stride (PORT = 3000)")
    owner: dict[int, tuple[str, int]] = {}
    for spec in specs:
        for n in range(slots):
            port = spec.for_slot(n)
            if port in owner:
                other, m = owner[port]
                raise r.fail(
                    f"[ports] {spec.name}",
                    f"port ranges that do not overlap across {slots} slots: slot {n}'s "
                    f"{spec.name} and slot {m}'s {other} would both be {port}; move one base "
                    "or raise the stride",
                )
            owner[port] = (spec.name, n)
    return tuple(specs)


def _check_template(r: _Reader, where: str, template: str, port_names: set[str]) -> None:
    allowed = set(TEMPLATE_FIELDS) | port_names
    try:
        parsed = _format_fields(template)
    except ValueError as exc:
        raise r.fail(where, f"a template with balanced braces ({exc})", template) from None
    for _, name, spec, conversion in parsed:
        if name is None:
            continue
        if name not in allowed or spec or conversion:
            raise r.fail(
                where,
                "placeholders among {n}, {name}, {dir} and the [ports] variables "
                f"({', '.join(sorted(port_names))})",
                template,
            )
