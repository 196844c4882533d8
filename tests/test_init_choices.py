"""What `grove init` chooses, and why, on repositories built for each case of issue 15:
one port variable per listening port, no per-slot port for another machine's service, a
[database] that parses and names the repository's own migrations, copy or install (never
both), hints that name what the app reads, and bases no other project on the machine uses."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest

from conftest import commit_all, make_repo, write_config
from grove import envfile
from initrepos import knex_app, monorepo, prisma_app
from pgutil import free_port_base


def dry_run(grove, main_dir: Path) -> tuple[dict, str]:
    found = grove("init", "--dry-run", "--json", cwd=main_dir)
    assert found.code == 0, found.out
    return found.json["found"], found.json["content"]


def test_a_port_and_its_public_copy_become_one_variable_and_the_config_loads(
    tmp_path: Path, grove
) -> None:
    main_dir = monorepo(tmp_path / "w", 40100)
    found, content = dry_run(grove, main_dir)
    bases = {p["name"]: p["base"] for p in found["ports"]}
    assert bases["SEARCH_PORT"] == 40108
    assert list(bases.values()).count(40108) == 1  # one range, not two over the same ports
    assert {a["key"]: a["port"] for a in found["aliases"]} == {
        "NEXT_PUBLIC_SEARCH_PORT": "SEARCH_PORT"
    }
    data = tomllib.loads(content)
    assert data["env"]["derived"]["NEXT_PUBLIC_SEARCH_PORT"] == "{SEARCH_PORT}"
    assert grove("init", cwd=main_dir).code == 0
    listed = grove("list", "--json", cwd=main_dir)
    assert listed.code == 0, listed.out  # grove accepts the config it wrote


def test_a_remote_smtp_port_and_relay_ports_stay_the_same_in_every_slot(
    tmp_path: Path, grove
) -> None:
    main_dir = knex_app(tmp_path / "w", 40200)
    found, content = dry_run(grove, main_dir)
    assert "MAIL_PORT" not in {p["name"] for p in found["ports"]}
    why = {s["key"]: s["why"] for s in found["not_per_slot"]}
    assert "MAIL_HOST=smtp.sendgrid.net is another machine" in why["MAIL_PORT"]
    assert "not per slot: .example.env:9 MAIL_PORT=587" in content

    relay = make_repo(tmp_path / "r", files={".env.example": "SMTP_PORT=465\nAPP_PORT=40300\n"})
    found, _ = dry_run(grove, relay)
    assert [p["name"] for p in found["ports"]] == ["APP_PORT"]
    assert "well-known relay port" in found["not_per_slot"][0]["why"]
    local = make_repo(
        tmp_path / "l", files={".env.example": "MAIL_HOST=localhost\nMAIL_PORT=41025\n"}
    )
    found, _ = dry_run(grove, local)
    assert [p["name"] for p in found["ports"]] == ["MAIL_PORT"]  # a mail catcher here


def test_the_remote_port_raises_no_escape_warning(tmp_path: Path, grove) -> None:
    main_dir = knex_app(tmp_path / "w", 40400)
    grove("init", cwd=main_dir)
    findings = grove("validate", "--json", cwd=main_dir).json["findings"]
    assert not [f for f in findings if "MAIL_PORT" in f["message"]]


def test_the_database_section_is_active_valid_and_read_from_the_knexfile(
    tmp_path: Path, grove
) -> None:
    main_dir = knex_app(tmp_path / "w", 40500)
    found, content = dry_run(grove, main_dir)
    assert found["database_active"] is True
    assert content.count("\nseed =") + content.count("\n# seed =") == 1
    db = tomllib.loads(content)["database"]
    assert db["engine"] == "postgres"
    assert db["name"] == "acme_dev"
    assert db["migrate"] == ["npx knex migrate:latest"]
    assert db["migrations"] == ["server/migrations/**/*"]
    assert db["env"] == {
        "DB_HOST": "host",
        "DB_NAME": "dbname",
        "DB_USER": "user",
        "DB_PASSWORD": "password",
    }
    why = found["database"]["why"]
    assert ".example.env:2 DB_CLIENT=pg" in why
    assert "docker-compose.yml runs postgres:16 (service db)" in why


@pytest.mark.parametrize(
    ("files", "migrate", "status", "migrations"),
    [
        (
            {
                "server/knexfile.js": "module.exports = { migrations: {\n"
                "  directory: path.join(__dirname, 'db', 'migrations') } }\n"
            },
            ["npx knex migrate:latest --knexfile server/knexfile.js"],
            "npx knex migrate:list --knexfile server/knexfile.js"
            " | grep -q 'No Pending Migration files Found'",
            ["server/db/migrations/**/*"],
        ),
        (
            {
                "apps/web/package.json": '{"name": "web", "prisma": {"schema": "db/main.prisma"}}',
                "apps/web/db/main.prisma": 'datasource db { provider = "postgresql" }\n',
            },
            ["cd apps/web && npx prisma migrate deploy --schema db/main.prisma"],
            "cd apps/web && npx prisma migrate status --schema db/main.prisma",
            ["apps/web/db/migrations/**/*"],
        ),
        (
            {"drizzle.config.ts": "export default { out: './src/db/out', dialect: 'postgresql' }"},
            ["npx drizzle-kit migrate"],
            None,
            ["src/db/out/**/*"],
        ),
        (
            {
                "src/data-source.ts": "export default new DataSource({\n"
                "  migrations: [__dirname + '/migrations/*{.ts,.js}'],\n})\n"
            },
            ["npx typeorm-ts-node-commonjs migration:run -d src/data-source.ts"],
            "npx typeorm-ts-node-commonjs migration:show -d src/data-source.ts",
            ["src/migrations/**/*"],
        ),
        (
            {"backend/alembic.ini": "[alembic]\nscript_location = %(here)s/migrations\n"},
            ["cd backend && alembic upgrade head"],
            "cd backend && alembic current 2>/dev/null | grep -q '(head)'",
            ["backend/migrations/versions/**/*"],
        ),
        (
            {"manage.py": "", "shop/migrations/0001_initial.py": ""},
            ["python manage.py migrate --no-input"],
            "python manage.py migrate --check",
            ["shop/migrations/*.py"],
        ),
        (
            {"bin/rails": "", "Gemfile": "gem 'rails'\n"},
            ["bin/rails db:migrate"],
            "bin/rails db:abort_if_pending_migrations",
            ["db/migrate/*.rb"],
        ),
    ],
    ids=["knex", "prisma", "drizzle", "typeorm", "alembic", "django", "rails"],
)
def test_migrations_are_read_from_the_tools_own_config(
    tmp_path: Path, grove, files: dict, migrate: list, status: str | None, migrations: list
) -> None:
    env = {".env.example": "DATABASE_URL=postgresql://u:p@localhost:40632/shop\n"}
    main_dir = make_repo(tmp_path / "w", files={**files, **env})
    found, content = dry_run(grove, main_dir)
    db = tomllib.loads(content)["database"]
    assert db["migrate"] == migrate
    assert db.get("migrate_status") == status
    assert db["migrations"] == migrations
    assert found["database"]["migrate_status_why"]  # the comment says why, even for none


def test_init_never_runs_the_repositorys_code(tmp_path: Path, grove) -> None:
    marker = tmp_path / "ran"
    knexfile = (
        f"require('fs').writeFileSync('{marker}', 'x');\n"
        "module.exports = { migrations: { directory: './db' } };\n"
    )
    main_dir = make_repo(tmp_path / "w", files={"knexfile.js": knexfile})
    found, _ = dry_run(grove, main_dir)
    assert found["database"]["migrations"] == ["db/**/*"]
    assert not marker.exists()


def test_without_postgresql_the_database_stays_a_comment_that_parses_when_uncommented(
    tmp_path: Path, grove
) -> None:
    main_dir = make_repo(tmp_path / "w", files={"knexfile.js": "module.exports = {}\n"})
    found, content = dry_run(grove, main_dir)
    assert found["database_active"] is False
    section = content[content.index("# [database]") :].split("\n\n")[0]
    uncommented = "\n".join(line[2:] for line in section.splitlines())
    parsed = tomllib.loads(uncommented)["database"]
    assert parsed["engine"] == "postgres"
    assert parsed["migrate"] == ["npx knex migrate:latest"]


NPM_LOCK = {
    "lockfileVersion": 3,
    "packages": {"": {}, "node_modules/a": {"version": "1.0.0", "integrity": "sha512-a"}},
}


@pytest.mark.parametrize(
    ("installed", "copies"),
    [
        ({"node_modules/a": {"version": "1.0.0", "integrity": "sha512-a"}}, True),
        ({"node_modules/a": {"version": "0.9.0", "integrity": "sha512-old"}}, False),
        (None, False),
    ],
    ids=["matches", "differs", "no-record"],
)
def test_npm_copy_or_install_never_both(
    tmp_path: Path, grove, installed: dict | None, copies: bool
) -> None:
    main_dir = make_repo(
        tmp_path / "w", files={"package.json": "{}", "package-lock.json": json.dumps(NPM_LOCK)}
    )
    (main_dir / "node_modules").mkdir()
    if installed is not None:
        hidden = {"lockfileVersion": 3, "packages": installed}
        (main_dir / "node_modules" / ".package-lock.json").write_text(json.dumps(hidden))
    found, _ = dry_run(grove, main_dir)
    setup = found["setup"]
    if copies:
        assert (setup["copy"], setup["run"]) == (["node_modules"], [])
        assert "so it is copied, not installed again" in setup["why"]
    else:
        assert (setup["copy"], setup["run"]) == (
            [],
            ["npm ci --prefer-offline --no-audit --no-fund"],
        )
        assert "nothing copied" in setup["why"]
    made = grove("init", cwd=main_dir)
    assert "  setup: " in made.out  # init says which it chose


def test_pnpm_copies_when_its_record_equals_the_lockfile(tmp_path: Path, grove) -> None:
    lock = "lockfileVersion: '9.0'\nimporters: {}\n"
    main_dir = make_repo(tmp_path / "w", files={"package.json": "{}", "pnpm-lock.yaml": lock})
    (main_dir / "node_modules" / ".pnpm").mkdir(parents=True)
    (main_dir / "node_modules" / ".pnpm" / "lock.yaml").write_text(lock)
    found, _ = dry_run(grove, main_dir)
    assert (found["setup"]["copy"], found["setup"]["run"]) == (["node_modules"], [])


def test_the_cookie_hint_names_the_variable_the_auth_library_reads(tmp_path: Path, grove) -> None:
    main_dir = prisma_app(tmp_path / "w", 40700)
    _, content = dry_run(grove, main_dir)
    assert 'NEXTAUTH_URL = { port = "PORT", host = "wt{n}.localhost" }' in content
    assert "APP_URL" not in content
    write_config(main_dir, '[env.rewrite]\nAPP_URL = { port = "PORT", host = "wt{n}.localhost" }\n')
    findings = grove("validate", "--json", cwd=main_dir).json["findings"]
    cookie = [f for f in findings if f["check"] == "escape.cookie-host-shared"]
    # A per-slot host on a variable the app never sets does not silence it.
    assert cookie and "[env.rewrite] NEXTAUTH_URL" in cookie[0]["hint"]


def test_without_a_url_variable_the_cookie_hint_names_the_setting_in_code(
    tmp_path: Path, grove
) -> None:
    package = {"dependencies": {"express-session": "1"}}
    main_dir = make_repo(tmp_path / "w", files={"package.json": json.dumps(package)})
    write_config(main_dir, "")
    findings = grove("validate", "--json", cwd=main_dir).json["findings"]
    cookie = [f for f in findings if f["check"] == "escape.cookie-host-shared"]
    assert "`name` in session({ ... })" in cookie[0]["hint"]
    assert "APP_URL" not in cookie[0]["hint"]


@pytest.mark.parametrize(
    ("database", "key"),
    [
        ('[database.env]\nDB_HOST = "hostname"\n', "[database.env] DB_HOST"),
        ('[database.env]\nDATABASE_URL = "url"\n', "[database.env] DATABASE_URL"),
        ('[database.env]\nDB_PORT = "port"\n', "[database.env] DB_PORT"),
        ("[database]\nenv = 3\n", "[database.env]"),
    ],
)
def test_a_bad_database_env_is_refused_naming_the_key(
    tmp_path: Path, grove, database: str, key: str
) -> None:
    main_dir = make_repo(tmp_path / "w")
    write_config(main_dir, f"[database]\n{database.removeprefix('[database]')}")
    refused = grove("list", "--json", cwd=main_dir)
    assert refused.code == 2
    assert key in refused.json["error"]["message"]


def test_a_rewrite_from_swaps_the_port_the_shared_file_holds(tmp_path: Path, grove) -> None:
    main_dir = make_repo(tmp_path / "w")
    base = free_port_base(30)
    (main_dir / ".env").write_text(f"APP_URL=http://localhost:{base + 20}/x\n")
    write_config(
        main_dir,
        f"[ports]\nPORT = {base}\n"
        f'[env.rewrite]\nAPP_URL = {{ port = "PORT", from = {base + 20} }}\n',
    )
    assert grove("create", cwd=main_dir).code == 0
    made = envfile.read_block((main_dir.parent / "myproject-wt1" / ".env.local").read_text())
    assert made is not None and made["APP_URL"] == f"http://localhost:{base + 1}/x"
    write_config(main_dir, "[ports]\nPORT = 40900\n[env.rewrite]\nAPP_URL = { from = 3000 }\n")
    refused = grove("list", "--json", cwd=main_dir)
    assert refused.code == 2 and "[env.rewrite] APP_URL.from" in refused.json["error"]["message"]


def two_projects(tmp_path: Path, base: int) -> tuple[Path, Path]:
    env = f"PORT={base}\nAPP_URL=http://localhost:{base}/app\n"
    first = make_repo(tmp_path / "one", "alpha", files={".env.example": env})
    second = make_repo(tmp_path / "two", "beta", files={".env.example": env})
    for main_dir in (first, second):
        (main_dir / ".env").write_text(env)
    return first, second


def test_two_projects_on_one_machine_get_different_ports(
    tmp_path: Path, grove, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = tmp_path / "state"
    monkeypatch.setenv("XDG_STATE_HOME", str(state))
    base = free_port_base(40)
    first, second = two_projects(tmp_path, base)
    for main_dir in (first, second):
        made = grove("init", "--json", cwd=main_dir)
        assert made.code == 0, made.out
        commit_all(main_dir, "grove config")
        for _ in (1, 2):
            created = grove("create", cwd=main_dir)
            assert created.code == 0, created.out + created.err
        checked = grove("validate", "--all", "--json", cwd=main_dir).json
        assert [f for f in checked["findings"] if f["level"] == "error"] == []
    assert (state / "grove" / "ports.json").is_file()
    alpha = tomllib.loads((first / "grove.toml").read_text())
    beta = tomllib.loads((second / "grove.toml").read_text())
    assert alpha["ports"]["PORT"] == base
    moved = beta["ports"]["PORT"]
    assert moved > base + 2
    # The shared file still says base: the rewrite swaps that for each slot's port.
    assert beta["env"]["rewrite"]["APP_URL"] == {"port": "PORT", "from": base}
    ports = {
        folder: envfile.read_block((tmp_path / parent / folder / ".env.local").read_text())
        for parent, folder in [("one", "alpha-wt1"), ("two", "beta"), ("two", "beta-wt2")]
    }
    assert ports["alpha-wt1"] == {
        "PORT": str(base + 1),
        "APP_URL": f"http://localhost:{base + 1}/app",
    }
    assert ports["beta"] == {"PORT": str(moved), "APP_URL": f"http://localhost:{moved}/app"}
    stride = beta["ports"]["stride"]
    assert ports["beta-wt2"]["APP_URL"] == f"http://localhost:{moved + 2 * stride}/app"


def test_init_says_which_base_it_moved_and_for_whom(
    tmp_path: Path, grove, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    base = free_port_base(40)
    first, second = two_projects(tmp_path, base)
    grove("init", cwd=first)
    commit_all(first, "grove config")
    grove("refresh", "0", cwd=first)  # records alpha's ports on the machine
    made = grove("init", cwd=second)
    assert f"moved: PORT {base} -> " in made.out
    assert f"{base} is used by project alpha ({first})" in made.out


def test_grove_s_own_postgresql_is_moved_off_5432(tmp_path: Path, grove) -> None:
    """A system or compose PostgreSQL usually holds 5432: main's own server would not start."""
    main_dir = knex_app(tmp_path / "w", 40800)
    env = (main_dir / ".example.env").read_text().replace("DB_PORT=40832", "DB_PORT=5432")
    (main_dir / ".example.env").write_text(env)
    (main_dir / ".env").write_text(env)
    found, content = dry_run(grove, main_dir)
    moved = {m["name"]: (m["from"], m["to"]) for m in found["moved"]}
    assert moved == {"DB_PORT": (5432, 5442)}
    assert tomllib.loads(content)["ports"]["DB_PORT"] == 5442
    assert "PostgreSQL's default port" in found["moved"][0]["why"]


def test_a_django_app_with_postgres_spellings_gets_them_per_slot(tmp_path: Path, grove) -> None:
    env = (
        "POSTGRES_HOST=localhost\nPOSTGRES_PORT=40940\nPOSTGRES_DB=blog\n"
        "POSTGRES_USER=blog\nPOSTGRES_PASSWORD=devpass\n"
    )
    files = {
        ".env.example": env,
        "manage.py": "",
        "blog/migrations/0001_initial.py": "",
        "requirements.txt": "Django==5.0\npsycopg2-binary==2.9\n",
    }
    main_dir = make_repo(tmp_path / "w", files=files)
    found, content = dry_run(grove, main_dir)
    db = tomllib.loads(content)["database"]
    assert (db["name"], db["port"]) == ("blog", "POSTGRES_PORT")
    assert db["env"] == {
        "POSTGRES_HOST": "host",
        "POSTGRES_DB": "dbname",
        "POSTGRES_USER": "user",
        "POSTGRES_PASSWORD": "password",
    }
    assert db["migrate_status"] == "python manage.py migrate --check"
    assert "requirements.txt requires a PostgreSQL driver" in found["database"]["why"]


def test_the_knex_migrations_folder_is_the_one_in_its_migrations_block(
    tmp_path: Path, grove
) -> None:
    knexfile = (
        "// run the migrations with npx knex\n"
        "module.exports = {\n"
        "  seeds: { directory: './db/seeds' },\n"
        "  migrations: {\n    tableName: 'knex_migrations',\n    directory: './db/schema',\n  },\n"
        "};\n"
    )
    main_dir = make_repo(tmp_path / "w", files={"knexfile.js": knexfile})
    found, _ = dry_run(grove, main_dir)
    assert found["database"]["migrations"] == ["db/schema/**/*"]


def test_a_linked_node_modules_is_not_read_and_not_trusted(tmp_path: Path, grove) -> None:
    """init never follows a link out of the repository: a node_modules that is a link to a
    tree elsewhere tells it nothing, so it installs."""
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    installed = {
        "lockfileVersion": 3,
        "packages": {k: v for k, v in NPM_LOCK["packages"].items() if k},
    }
    (outside / ".package-lock.json").write_text(json.dumps(installed))
    main_dir = make_repo(
        tmp_path / "w", files={"package.json": "{}", "package-lock.json": json.dumps(NPM_LOCK)}
    )
    (main_dir / "node_modules").symlink_to(outside)
    found, _ = dry_run(grove, main_dir)
    assert found["setup"]["copy"] == []


def test_a_url_to_a_hosted_postgresql_is_named_in_a_note_without_its_password(
    tmp_path: Path, grove
) -> None:
    url = "postgres://app:s3cr3t-hosted@db.example-cloud.com:5432/shop"
    files = {
        ".env.example": f"DATABASE_URL={url}\n",
        "package.json": '{"dependencies": {"pg": "8"}}',
    }
    main_dir = make_repo(tmp_path / "w", files=files)
    found, content = dry_run(grove, main_dir)
    assert tomllib.loads(content)["database"]["name"] == "shop"
    notes = [n for n in found["notes"] if "another machine" in n]
    assert notes == [
        ".env.example:1 DATABASE_URL names a PostgreSQL on another machine "
        "(db.example-cloud.com): [database] gives every slot its own local database instead; "
        "delete [database] to keep using that server"
    ]
    assert "s3cr3t-hosted" not in json.dumps(found) + content


def test_a_local_database_url_gets_no_such_note(tmp_path: Path, grove) -> None:
    files = {
        ".env.example": "DATABASE_URL=postgres://app:pw@localhost:40990/shop\n",
        "package.json": '{"dependencies": {"pg": "8"}}',
    }
    found, _ = dry_run(grove, make_repo(tmp_path / "w", files=files))
    assert not [n for n in found["notes"] if "another machine" in n]
