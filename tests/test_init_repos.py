"""`grove init`, then `grove create` twice, on repositories shaped like the real ones of
issue 15: the config works as written, database included, with no hand edits, and
`grove validate` finds no error. Real PostgreSQL (these skip as root)."""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import commit_all, git
from grove import envfile
from initrepos import calls, knex_app, monorepo, prisma_app, tools
from pgutil import free_port_base, query, stop_all_clusters


@pytest.fixture
def pg(tmp_path: Path, bin_dir: Path) -> Iterator[Path]:
    yield bin_dir
    stop_all_clusters(tmp_path, bin_dir)


def block(path: Path) -> dict[str, str]:
    found = envfile.read_block(path.read_text())
    assert found is not None, path
    return found


def init_and_two_creates(grove, main_dir: Path) -> dict:
    made = grove("init", "--json", cwd=main_dir)
    assert made.code == 0, made.out
    commit_all(main_dir, "grove config")
    for n in (1, 2):
        created = grove("create", "--json", cwd=main_dir)
        assert created.code == 0, created.out
        assert created.json["slot"] == n
    return made.json["found"]


def validate_errors(grove, main_dir: Path) -> list[dict]:
    checked = grove("validate", "--all", "--json", cwd=main_dir)
    return [f for f in checked.json["findings"] if f["level"] == "error"]


def test_a_knex_app_gets_its_own_db_variables_and_keeps_its_mail_relay(
    tmp_path: Path, grove, pg: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = free_port_base(120)
    main_dir = knex_app(tmp_path / "work", base)
    log = tools(tmp_path / "bin", monkeypatch, pg / "psql")
    found = init_and_two_creates(grove, main_dir)
    data = tomllib.loads((main_dir / "grove.toml").read_text())
    assert "MAIL_PORT" not in data["ports"]  # smtp.sendgrid.net's port, the same everywhere
    assert data["database"]["name"] == "acme_dev"
    assert data["database"]["port"] == "DB_PORT"
    assert data["database"]["migrations"] == ["server/migrations/**/*"]
    assert data["database"]["seed"] == ["npx knex seed:run"]
    assert "grep -q 'No Pending Migration files Found'" in data["database"]["migrate_status"]
    assert data["database"]["env"] == {
        "DB_HOST": "host",
        "DB_NAME": "dbname",
        "DB_USER": "user",
        "DB_PASSWORD": "password",
    }
    # main's node_modules matches package-lock.json: copied, and npm ci never runs.
    assert data["setup"] == {"copy": ["node_modules"], "run": []}
    assert "main's node_modules matches package-lock.json" in found["setup"]["why"]
    assert not [c for c in calls(log) if c.startswith("npm")]
    assert validate_errors(grove, main_dir) == []

    ports = set()
    for n, folder in enumerate(["acme", "acme-wt1", "acme-wt2"]):
        values = block(tmp_path / "work" / folder / ".env.local")
        assert "MAIL_PORT" not in values
        assert values["DB_NAME"] == "acme_dev"
        assert values["DB_HOST"] == "127.0.0.1"
        assert values["DB_PORT"] == str(base + 32 + n)
        ports |= {values["DB_PORT"], values["PORT"]}
        # The app's own variables open the slot's own database, main's included.
        assert values["DB_PASSWORD"] == values["PGPASSWORD"]
        counted = query(
            int(values["DB_PORT"]),
            "SELECT count(*) FROM knex_migrations",
            dbname="acme_dev",
            password=values["PGPASSWORD"],
        )
        assert counted == [(1,)]
        # Seeded once, into the template (through its DB_* variables), then cloned.
        plans = query(
            int(values["DB_PORT"]),
            "SELECT count(*) FROM plans",
            dbname="acme_dev",
            password=values["PGPASSWORD"],
        )
        assert plans == [(1,)]
    assert len(ports) == 6
    migrated = [c for c in calls(log) if c == "knex migrate:latest"]
    assert len(migrated) == 3  # main (by the first create) and both slots
    assert calls(log).count("knex seed:run") == 1

    # migrate_status really fails while a migration is pending, and refresh applies it.
    slot1 = tmp_path / "work" / "acme-wt1"
    (slot1 / "server/migrations/20240202000000_orders.js").write_text("exports.up = 1\n")
    findings = grove("validate", "1", "--json", cwd=main_dir).json["findings"]
    assert "services.migrations-pending" in {f["check"] for f in findings}
    assert grove("refresh", "1", cwd=main_dir).code == 0
    findings = grove("validate", "1", "--json", cwd=main_dir).json["findings"]
    assert "services.migrations-pending" not in {f["check"] for f in findings}


def test_a_monorepo_with_a_public_copy_of_a_port_gets_one_port_variable(
    tmp_path: Path, grove, pg: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = free_port_base(120)
    main_dir = monorepo(tmp_path / "work", base)
    log = tools(tmp_path / "bin", monkeypatch, pg / "psql")
    found = init_and_two_creates(grove, main_dir)
    data = tomllib.loads((main_dir / "grove.toml").read_text())
    search = base + 8
    assert data["ports"]["SEARCH_PORT"] == search
    assert "NEXT_PUBLIC_SEARCH_PORT" not in data["ports"]
    assert data["env"]["derived"]["NEXT_PUBLIC_SEARCH_PORT"] == "{SEARCH_PORT}"
    assert data["env"]["rewrite"]["NEXT_PUBLIC_SEARCH_URL"] == "SEARCH_PORT"
    assert "DATABASE_URL" not in data["env"]["rewrite"]  # [database] writes it
    assert data["database"]["name"] == "mono_dev"
    assert data["database"]["port"] == "DB_PORT"
    assert found["compose_files"] == [
        ".devcontainer/docker-compose.db.yml",
        ".devcontainer/docker-compose.yml",
    ]
    # No node_modules in main: install, and nothing to copy.
    assert data["setup"]["copy"] == []
    assert [c for c in calls(log) if c.startswith("pnpm")] == [
        "pnpm install --frozen-lockfile --prefer-offline"
    ] * 2
    assert validate_errors(grove, main_dir) == []
    stride = data["ports"]["stride"]
    for n, folder in enumerate(["mono", "mono-wt1", "mono-wt2"]):
        web = block(tmp_path / "work" / folder / "apps/web/.env.local")
        port = search + n * stride
        assert web["SEARCH_PORT"] == web["NEXT_PUBLIC_SEARCH_PORT"] == str(port)
        assert web["NEXT_PUBLIC_SEARCH_URL"] == f"http://localhost:{port}/collections"
        assert web["DATABASE_URL"].endswith(f":{web['DB_PORT']}/mono_dev")
        answer = query(int(web["DB_PORT"]), "SELECT 1", "mono_dev", password=web["PGPASSWORD"])
        assert answer == [(1,)]


def test_a_prisma_app_migrates_every_slot_and_names_the_cookie_variable(
    tmp_path: Path, grove, pg: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = free_port_base(120)
    main_dir = prisma_app(tmp_path / "work", base)
    log = tools(tmp_path / "bin", monkeypatch, pg / "psql")
    init_and_two_creates(grove, main_dir)
    text = (main_dir / "grove.toml").read_text()
    data = tomllib.loads(text)
    assert data["database"]["name"] == "shop_dev"
    assert data["database"]["migrate"] == ["npx prisma migrate deploy"]
    assert data["database"]["migrate_status"] == "npx prisma migrate status"
    assert data["database"]["migrations"] == ["prisma/migrations/**/*"]
    assert data["database"]["port"] == "DATABASE_PORT"  # the port inside DATABASE_URL
    assert "NEXTAUTH_URL = { port" in text  # the variable next-auth reads, not APP_URL
    assert validate_errors(grove, main_dir) == []
    for n, folder in enumerate(["shop", "shop-wt1", "shop-wt2"]):
        values = block(tmp_path / "work" / folder / ".env.local")
        assert values["DATABASE_URL"].endswith(f"@127.0.0.1:{base + 40 + n}/shop_dev")
        items = query(
            base + 40 + n, "SELECT count(*) FROM items", "shop_dev", password=values["PGPASSWORD"]
        )
        assert items == [(0,)]
    assert calls(log).count("prisma migrate deploy") == 3
    hints = grove("validate", "--json", cwd=main_dir).json["findings"]
    cookie = [f for f in hints if f["check"] == "escape.cookie-host-shared"]
    assert cookie and "NEXTAUTH_URL" in cookie[0]["hint"] and "APP_URL" not in cookie[0]["hint"]


def test_the_first_create_gives_main_its_database(
    tmp_path: Path, grove, pg: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = free_port_base(120)
    main_dir = prisma_app(tmp_path / "work", base)
    tools(tmp_path / "bin", monkeypatch, pg / "psql")
    assert grove("init", cwd=main_dir).code == 0
    commit_all(main_dir, "grove config")
    created = grove("create", "--json", cwd=main_dir)
    assert created.code == 0, created.out
    assert created.json["main_database"]["database"] == "shop_dev"
    status = grove("db", "status", "0", "--json", cwd=main_dir).json
    assert status["slots"][0]["provisioned"] is True
    again = grove("create", "--json", cwd=main_dir)
    assert again.json["main_database"] is None  # made once, then left alone
    assert git(main_dir, "status", "--porcelain") == ""
