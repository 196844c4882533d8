"""grove init on small repositories built for each pattern real projects use."""

from __future__ import annotations

import json
import os
import re
import shutil
import tomllib
from pathlib import Path

import pytest

from conftest import commit_all, make_repo, slot_ports, write_config
from grove import envfile

WEB_EXAMPLE = """\
PORT=3000
NEXTAUTH_URL=http://localhost:3000
DATABASE_URL=postgresql://app:s3cret-pass@localhost:54322/app?schema=public
NEXTAUTH_SECRET=dev-only-secret
"""
API_EXAMPLE = """\
API_PORT=3001
REDIS_URL=redis://:cache-pass@localhost:6379/0
PUBLIC_URL=http://localhost:${API_PORT}/v1
"""
COMPOSE = """\
services:
  db:
    image: postgres:16
    ports:
      - "${DB_PORT:-54322}:5432"
  cache:
    image: redis:7
    ports:
      - "6379:6379"
  mail:
    image: axllent/mailpit
    ports:
      - target: 8025
        published: ${MAIL_UI_PORT-8025}
"""


def without_postgres(text: str) -> str:
    """The same monorepo on SQLite: nothing in it says PostgreSQL, so no [database]."""
    text = text.replace(
        "DATABASE_URL=postgresql://app:s3cret-pass@localhost:54322/app?schema=public",
        "DATABASE_URL=file:./dev.db",
    )
    return re.sub(r"  db:\n(    .*\n|      .*\n)+", "", text)


def monorepo(parent: Path, postgres: bool = True) -> Path:
    package = {
        "name": "shop",
        "private": True,
        "workspaces": ["apps/*"],
        "scripts": {
            "dev": "turbo dev",
            "setup": "cp apps/web/.env.example apps/web/.env && echo KEY=$RANDOM >> .env",
            "db": "docker compose -f .devcontainer/docker-compose.yml up -d",
        },
        "devDependencies": {"turbo": "^2.0.0", "prisma": "^5.0.0"},
    }
    web = {
        "name": "web",
        "scripts": {"dev": "next dev --port 4002"},
        "dependencies": {"next": "15.0.0", "next-auth": "^4.24.0"},
    }
    files = {
        "package.json": json.dumps(package, indent=2),
        "pnpm-lock.yaml": "lockfileVersion: '9.0'\n",
        "apps/web/package.json": json.dumps(web, indent=2),
        "apps/web/.env.example": WEB_EXAMPLE if postgres else without_postgres(WEB_EXAMPLE),
        "apps/api/package.json": json.dumps({"name": "api"}),
        "apps/api/.env.example": API_EXAMPLE,
        "apps/web/prisma/schema.prisma": (
            f'datasource db {{ provider = "{"postgresql" if postgres else "sqlite"}" }}\n'
        ),
        ".devcontainer/docker-compose.yml": COMPOSE if postgres else without_postgres(COMPOSE),
        ".gitignore": "node_modules/\n.env\n",
    }
    main_dir = make_repo(parent, "shop", files)
    (main_dir / "node_modules" / "turbo").mkdir(parents=True)
    (main_dir / "apps" / "web" / "node_modules" / "next").mkdir(parents=True)
    return main_dir


@pytest.fixture(params=[True])
def shop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> Path:
    main_dir = monorepo(tmp_path / "work", postgres=request.param)
    monkeypatch.chdir(main_dir)
    # pnpm is not installed here: a stand-in records that the proposed install ran.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "pnpm"
    fake.write_text(f'#!/bin/sh\necho "pnpm $*" >> {tmp_path}/pnpm.log\n')
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    return main_dir


@pytest.fixture
def repo(bare_repo: Path) -> Path:
    """init reads the repository as a user has it: no grove.toml yet. The seed's ports it
    proposes are only read here, never bound."""
    return bare_repo


def test_init_json_says_what_it_found_and_why(shop: Path, grove) -> None:
    found = grove("init", "--dry-run", "--json").json["found"]
    assert found["shared"] == ["apps/api/.env", "apps/web/.env"]
    assert found["local"] == ["apps/api/.env.local", "apps/web/.env.local"]
    ports = {p["name"]: p["base"] for p in found["ports"]}
    assert ports == {
        "PORT": 3000,
        "API_PORT": 3001,
        "DB_PORT": 54322,
        "MAIL_UI_PORT": 8025,
        "REDIS_PORT": 6379,
    }
    sources = {p["name"]: p["found_in"] for p in found["ports"]}
    assert sources["PORT"] == ["apps/web/.env.example:1"]
    assert sources["DB_PORT"] == [".devcontainer/docker-compose.yml:5"]
    assert found["stride"] == 10  # PORT 3000 and API_PORT 3001 sit side by side
    rewrites = {r["key"]: r["port"] for r in found["rewrites"]}
    # DATABASE_URL is [database]'s to write now: PostgreSQL runs in compose.
    assert rewrites == {"NEXTAUTH_URL": "PORT", "REDIS_URL": "REDIS_PORT", "PUBLIC_URL": None}
    assert found["compose_files"] == [".devcontainer/docker-compose.yml"]
    assert found["package_manager"] == "pnpm"
    # pnpm left no record of what it installed: install, and copy nothing it would delete.
    assert found["setup"]["run"] == ["pnpm install --frozen-lockfile --prefer-offline"]
    assert found["setup"]["copy"] == []
    assert "node_modules/.pnpm/lock.yaml is missing" in found["setup"]["why"]
    assert found["orm"] == "prisma"
    assert found["database_active"] is True
    assert found["database"]["migrate"] == ["cd apps/web && npx prisma migrate deploy"]
    assert found["database"]["migrations"] == ["apps/web/prisma/migrations/**/*"]
    assert found["database"]["name"] == "app"  # the database in DATABASE_URL
    assert found["auth"] == ["next-auth"]
    assert found["protect"] is True
    notes = "\n".join(found["notes"])
    assert "apps/web/package.json" in notes and "fixes port 4002" in notes
    assert "host port 6379 is fixed" in notes


def test_no_credential_is_copied_into_grove_toml(shop: Path, grove) -> None:
    text = grove("init", "--dry-run").out
    assert "s3cret-pass" not in text
    assert "dev-only-secret" not in text
    assert "cache-pass" not in text
    data = tomllib.loads(text)
    assert data["env"]["rewrite"]["REDIS_URL"] == "REDIS_PORT"
    assert data["database"]["port"] == "DB_PORT"
    assert data["env"]["derived"]["COMPOSE_PROJECT_NAME"] == "{name}-wt{n}"
    assert data["env"]["protect"] is True


# Without PostgreSQL: grove would start its own on the monorepo's fixed DB_PORT (54322).
# tests/test_init_repos.py runs monorepos with a database on free ports.
@pytest.mark.parametrize("shop", [False], indirect=True)
def test_init_then_two_creates_gives_every_port_a_distinct_value(shop: Path, grove) -> None:
    result = grove("init", "--json")
    assert result.code == 0, result.out
    assert sorted(result.json["gitignore_added"]) == ["apps/api/.env.local", "apps/web/.env.local"]
    commit_all(shop, "grove config")
    for app in ("web", "api"):
        shutil.copy(shop / "apps" / app / ".env.example", shop / "apps" / app / ".env")
    assert grove("create").code == 0
    assert grove("create").code == 0
    installs = (shop.parent.parent / "pnpm.log").read_text().splitlines()
    assert installs == ["pnpm install --frozen-lockfile --prefer-offline"] * 2
    grove("refresh", "0")
    seen: dict[int, str] = {}
    for n, folder in enumerate(["shop", "shop-wt1", "shop-wt2"]):
        block = envfile.read_block((shop.parent / folder / "apps/web/.env.local").read_text())
        assert block is not None
        for key, value in block.items():
            if key.endswith("PORT"):
                port = int(value)
                assert port not in seen, f"{key}={port} in slot {n} repeats {seen.get(port)}"
                seen[port] = f"slot {n} {key}"
        api_block = envfile.read_block((shop.parent / folder / "apps/api/.env.local").read_text())
        assert api_block == block  # every app folder gets the same managed values
    wt2 = envfile.read_block((shop.parent / "shop-wt2" / "apps/web/.env.local").read_text())
    assert wt2 is not None
    assert wt2["NEXTAUTH_URL"] == "http://localhost:3020"
    assert "DATABASE_URL" not in wt2  # file:./dev.db holds no port
    assert wt2["REDIS_URL"] == "redis://:cache-pass@localhost:6399/0"
    assert wt2["PUBLIC_URL"] == "http://localhost:3021/v1"
    assert wt2["COMPOSE_PROJECT_NAME"] == "shop-wt2"
    # init keeps the repository's own ports (3000, 54322...), which a developer's servers
    # may hold on this machine: that is a fact about the machine, not about the config.
    validated = grove("validate", "--all", "--json").json
    errors = [
        f
        for f in validated["findings"]
        if f["level"] == "error" and f["check"] != "ports.held-by-other"
    ]
    assert errors == []


@pytest.mark.parametrize("shop", [False], indirect=True)
def test_a_rotation_in_the_shared_file_reaches_the_rewritten_value(shop: Path, grove) -> None:
    grove("init")
    commit_all(shop, "grove config")
    for app in ("web", "api"):
        shutil.copy(shop / "apps" / app / ".env.example", shop / "apps" / app / ".env")
    grove("create")
    api_env = shop / "apps" / "api" / ".env"
    api_env.chmod(0o644)
    api_env.write_text(API_EXAMPLE.replace("cache-pass", "rotated-pass"))
    grove("env", "approve")
    stale = grove("validate", "1", "--json").json["findings"]
    checks = {f["check"] for f in stale if not f["check"].startswith("escape.")}
    assert checks - {"ports.held-by-other"} == {"env.block-stale", "env.unprotected"}
    grove("refresh", "1")
    block = envfile.read_block((shop.parent / "shop-wt1" / "apps/web/.env.local").read_text())
    assert block is not None
    assert block["REDIS_URL"] == "redis://:rotated-pass@localhost:6389/0"
    masked = grove("env", "1", "--json").json
    assert "rotated-pass" not in json.dumps(masked)


def test_a_plain_repo_gets_the_seed_table(repo: Path, grove) -> None:
    found = grove("init", "--dry-run", "--json").json["found"]
    assert [p["name"] for p in found["ports"]] == [
        "PORT",
        "DB_PORT",
        "MAILPIT_SMTP_PORT",
        "MAILPIT_UI_PORT",
    ]
    assert found["shared"] == [".env"]
    assert found["local"] == [".env.local"]
    assert found["rewrites"] == []
    assert found["protect"] is False
    assert found["orm"] is None
    assert found["compose_files"] == []


@pytest.mark.parametrize(
    ("files", "manager", "command"),
    [
        ({"package-lock.json": "{}"}, "npm", "npm ci --prefer-offline --no-audit --no-fund"),
        ({"yarn.lock": ""}, "yarn", "yarn install --frozen-lockfile --prefer-offline"),
        ({"yarn.lock": "", ".yarnrc.yml": ""}, "yarn", "yarn install --immutable"),
        ({"bun.lockb": ""}, "bun", "bun install --frozen-lockfile"),
        ({"uv.lock": ""}, "uv", "uv sync --frozen"),
    ],
)
def test_package_managers(tmp_path: Path, grove, files: dict, manager: str, command: str) -> None:
    main_dir = make_repo(tmp_path / "w", files={"package.json": "{}", **files})
    found = grove("init", "--dry-run", "--json", cwd=main_dir).json["found"]
    assert (found["package_manager"], found["setup"]["run"]) == (manager, [command])


@pytest.mark.parametrize(
    ("files", "orm"),
    [
        ({"knexfile.js": ""}, "knex"),
        ({"drizzle.config.ts": ""}, "drizzle"),
        ({".sequelizerc": ""}, "sequelize"),
        ({"alembic.ini": ""}, "alembic"),
        ({"manage.py": ""}, "django"),
        ({"src/data-source.ts": "new DataSource({ migrations: [] })"}, "typeorm"),
    ],
)
def test_migration_tools(tmp_path: Path, grove, files: dict, orm: str) -> None:
    main_dir = make_repo(tmp_path / "w", files=files)
    found = grove("init", "--dry-run", "--json", cwd=main_dir).json["found"]
    assert found["orm"] == orm
    assert found["database"]["migrate"]


@pytest.mark.parametrize(
    "name",
    [
        ".env.example",
        ".env.sample",
        ".env.template",
        ".example.env",
        "env-example",
        ".env.local.example",
        ".env.development.example",
    ],
)
def test_every_example_spelling_is_read(tmp_path: Path, grove, name: str) -> None:
    main_dir = make_repo(tmp_path / "w", files={f"svc/{name}": "SVC_PORT=7100\n"})
    found = grove("init", "--dry-run", "--json", cwd=main_dir).json["found"]
    assert {p["name"]: p["base"] for p in found["ports"]} == {"SVC_PORT": 7100}
    assert found["local"] == ["svc/.env.local"]


def test_compose_long_syntax_and_dash_default(tmp_path: Path, grove) -> None:
    compose = "services:\n  a:\n    ports:\n      - published: ${A_PORT-9100}\n        target: 80\n"
    main_dir = make_repo(tmp_path / "w", files={"compose.yaml": compose})
    found = grove("init", "--dry-run", "--json", cwd=main_dir).json["found"]
    assert {p["name"]: p["base"] for p in found["ports"]} == {"A_PORT": 9100}


def test_a_per_slot_host_keeps_sessions_apart(repo: Path, grove) -> None:
    write_config(repo, '[env.rewrite]\nAPP_URL = { port = "PORT", host = "wt{n}.localhost" }\n')
    main_port, slot_port = slot_ports(repo, 0)["PORT"], slot_ports(repo, 1)["PORT"]
    (repo / ".env").write_text(f"APP_URL=http://localhost:{main_port}/app?next=1\n")
    grove("create")
    block = envfile.read_block((repo.parent / "myproject-wt1" / ".env.local").read_text())
    assert block is not None
    assert block["APP_URL"] == f"http://wt1.localhost:{slot_port}/app?next=1"
    bad = '[env.rewrite]\nAPP_URL = { port = "WEB_PORT" }\n'
    write_config(repo, bad)
    assert "[env.rewrite] APP_URL" in grove("list", "--json").json["error"]["message"]
