"""Fixture repositories shaped like the real ones of issue 15, and stand-ins for the tools
they run (npx, pnpm), for the init tests."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from conftest import make_repo

GITIGNORE = "node_modules/\n.env\n"


def monorepo(parent: Path, base: int) -> Path:
    """A pnpm/turbo monorepo: a search server's port in the api's env and its NEXT_PUBLIC_
    copy in the web app's (one port, two names), compose files split in .devcontainer/."""
    search, db = base + 8, base + 20
    package = {
        "name": "mono",
        "private": True,
        "scripts": {"dev": "turbo dev"},
        "devDependencies": {"turbo": "^2.0.0"},
    }
    files = {
        "package.json": json.dumps(package, indent=2),
        "pnpm-workspace.yaml": "packages:\n  - apps/*\n",
        "pnpm-lock.yaml": "lockfileVersion: '9.0'\n",
        "turbo.json": "{}\n",
        "apps/web/package.json": json.dumps(
            {"name": "web", "scripts": {"dev": "next dev"}, "dependencies": {"next": "15"}}
        ),
        "apps/web/.env.example": (
            f"PORT={base}\n"
            f"NEXT_PUBLIC_SEARCH_PORT={search}\n"
            f"NEXT_PUBLIC_SEARCH_URL=http://localhost:{search}/collections\n"
        ),
        "apps/api/package.json": json.dumps(
            {"name": "api", "scripts": {"dev": "node server.js"}, "dependencies": {"pg": "8"}}
        ),
        "apps/api/.env.example": (
            f"API_PORT={base + 1}\n"
            f"SEARCH_PORT={search}\n"
            f"DATABASE_URL=postgresql://mono:devpass@localhost:{db}/mono_dev\n"
        ),
        ".devcontainer/docker-compose.yml": (
            "services:\n  search:\n    image: typesense/typesense:27.1\n"
            f'    ports:\n      - "${{SEARCH_PORT:-{search}}}:8108"\n'
        ),
        ".devcontainer/docker-compose.db.yml": (
            "services:\n  db:\n    image: postgres:16\n"
            f'    ports:\n      - "${{DB_PORT:-{db}}}:5432"\n'
        ),
        ".gitignore": GITIGNORE,
    }
    main_dir = make_repo(parent, "mono", files)
    for app in ("web", "api"):
        example = main_dir / "apps" / app / ".env.example"
        (example.parent / ".env").write_text(example.read_text())
    return main_dir


KNEXFILE = """\
require('dotenv').config({ path: ['.env.local', '.env'] });

module.exports = {
  development: {
    client: process.env.DB_CLIENT,
    connection: {
      host: process.env.DB_HOST,
      port: process.env.DB_PORT,
      database: process.env.DB_NAME,
      user: process.env.DB_USER,
      password: process.env.DB_PASSWORD,
    },
    migrations: { directory: './server/migrations' },
    seeds: { directory: './server/seeds' },
  },
};
"""
MIGRATION = "exports.up = (knex) => knex.schema.createTable('{name}', (t) => t.increments());\n"


def knex_app(parent: Path, base: int) -> Path:
    """An Express + Knex app: DB_* variables, DB_CLIENT=pg, a knexfile naming
    server/migrations, a remote SMTP relay, and an npm tree that matches its lockfile."""
    package = {
        "name": "acme",
        "scripts": {"start": "node server/index.js"},
        "dependencies": {"express": "4", "knex": "3", "pg": "8", "nodemailer": "6"},
    }
    lock = {
        "name": "acme",
        "lockfileVersion": 3,
        "packages": {
            "": {"name": "acme"},
            "node_modules/knex": {"version": "3.1.0", "integrity": "sha512-k"},
            "node_modules/pg": {"version": "8.11.0", "integrity": "sha512-p"},
        },
    }
    env = (
        f"PORT={base}\n"
        "DB_CLIENT=pg\n"
        "DB_HOST=localhost\n"
        f"DB_PORT={base + 32}\n"
        "DB_NAME=acme_dev\n"
        "DB_USER=acme\n"
        "DB_PASSWORD=devpass\n"
        "MAIL_HOST=smtp.sendgrid.net\n"
        "MAIL_PORT=587\n"
    )
    files = {
        "package.json": json.dumps(package, indent=2),
        "package-lock.json": json.dumps(lock, indent=2),
        "knexfile.js": KNEXFILE,
        "server/index.js": "require('express')().listen(process.env.PORT);\n",
        "server/migrations/20240101000000_users.js": MIGRATION.format(name="users"),
        "server/seeds/01_plans.js": "exports.seed = (knex) => knex('plans').insert({});\n",
        ".example.env": env,
        "docker-compose.yml": (
            'services:\n  db:\n    image: postgres:16\n    ports:\n      - "${DB_PORT}:5432"\n'
        ),
        ".gitignore": GITIGNORE,
    }
    main_dir = make_repo(parent, "acme", files)
    (main_dir / ".env").write_text(env)
    tree = main_dir / "node_modules"
    tree.mkdir()
    hidden = {"name": "acme", "lockfileVersion": 3, "packages": dict(lock["packages"])}
    del hidden["packages"][""]
    (tree / ".package-lock.json").write_text(json.dumps(hidden))
    return main_dir


SCHEMA = """\
datasource db {
  provider = "postgresql"
  url      = env("DATABASE_URL")
}
"""


def prisma_app(parent: Path, base: int) -> Path:
    """A Next.js + Prisma app: the database only in DATABASE_URL, migrations beside the
    schema, no lockfile and no node_modules."""
    package = {
        "name": "shop",
        "scripts": {"dev": "next dev"},
        "dependencies": {"next": "15", "@prisma/client": "5", "next-auth": "4"},
        "devDependencies": {"prisma": "5"},
    }
    env = (
        f"PORT={base}\n"
        f"NEXTAUTH_URL=http://localhost:{base}\n"
        f"DATABASE_URL=postgresql://shop:devpass@localhost:{base + 40}/shop_dev?schema=public\n"
    )
    files = {
        "package.json": json.dumps(package, indent=2),
        "prisma/schema.prisma": SCHEMA,
        "prisma/migrations/20240101000000_init/migration.sql": "CREATE TABLE items (id int);\n",
        ".env.example": env,
        ".gitignore": GITIGNORE,
    }
    main_dir = make_repo(parent, "shop", files)
    (main_dir / ".env").write_text(env)
    return main_dir


FAKE_NPX = r'''#!{python}
"""npx as these fixtures need it: knex and prisma applying and listing migrations with
psql, connecting the way each tool does (knex: the app's DB_* variables; prisma:
DATABASE_URL). Like the real ones, `knex migrate:list` exits 0 with migrations pending
and `prisma migrate status` exits 1."""
import json, os, pathlib, subprocess, sys

PSQL = {psql!r}
args = sys.argv[1:]
with open({log!r}, "a") as log:
    keys = ("DB_HOST", "DB_PORT", "DB_NAME", "DB_USER", "DB_PASSWORD", "DATABASE_URL")
    log.write(json.dumps({{"argv": args, "cwd": os.getcwd(),
                          "env": {{k: os.environ.get(k) for k in keys}}}}) + "\n")

def psql(conn, query):
    done = subprocess.run([PSQL, *conn, "-v", "ON_ERROR_STOP=1", "-qAt", "-c", query],
                          capture_output=True, text=True)
    if done.returncode:
        sys.stderr.write(done.stderr)
        sys.exit(1)
    return done.stdout.split()

if args[0] == "knex":
    os.environ["PGPASSWORD"] = os.environ["DB_PASSWORD"]
    conn = ["-h", os.environ["DB_HOST"], "-p", os.environ["DB_PORT"],
            "-U", os.environ["DB_USER"], "-d", os.environ["DB_NAME"]]
    files = sorted(p.name for p in pathlib.Path("server/migrations").glob("*.js"))
    psql(conn, "CREATE TABLE IF NOT EXISTS knex_migrations (name text PRIMARY KEY)")
    done = psql(conn, "SELECT name FROM knex_migrations")
    pending = [f for f in files if f not in done]
    if args[1] == "migrate:latest":
        for name in pending:
            psql(conn, f"INSERT INTO knex_migrations VALUES ('{{name}}')")
        print(f"Batch 1 run: {{len(pending)}} migrations")
    elif args[1] == "seed:run":
        psql(conn, "CREATE TABLE IF NOT EXISTS plans (id serial)")
        psql(conn, "INSERT INTO plans DEFAULT VALUES")
    elif args[1] == "migrate:list":
        print(f"Found {{len(done)}} Completed Migration file/files.")
        if pending:
            print(f"Found {{len(pending)}} Pending Migration file/files.")
        else:
            print("No Pending Migration files Found.")
    sys.exit(0)
if args[0] == "prisma":
    conn = [os.environ["DATABASE_URL"].split("?")[0]]
    root = pathlib.Path("prisma/migrations")
    folders = sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
    psql(conn, "CREATE TABLE IF NOT EXISTS _prisma_migrations (name text PRIMARY KEY)")
    done = psql(conn, "SELECT name FROM _prisma_migrations")
    pending = [f for f in folders if f.name not in done]
    if args[1:3] == ["migrate", "deploy"]:
        for folder in pending:
            psql(conn, (folder / "migration.sql").read_text())
            psql(conn, f"INSERT INTO _prisma_migrations VALUES ('{{folder.name}}')")
        sys.exit(0)
    if args[1:3] == ["migrate", "status"]:
        if pending:
            print("Following migration have not yet been applied:")
            print("\n".join(f.name for f in pending))
            sys.exit(1)
        print("Database schema is up to date!")
        sys.exit(0)
sys.stderr.write(f"fake npx: unexpected {{args}}\n")
sys.exit(2)
'''

FAKE_RECORDER = """#!/bin/sh
echo "$(basename "$0") $*" >> {log}
"""


def tools(folder: Path, monkeypatch: pytest.MonkeyPatch, psql: Path | None) -> Path:
    """npx (knex, prisma), pnpm and npm stand-ins on PATH; returns the log they append to.
    None of these tools is installed where the tests run."""
    folder.mkdir()
    log = folder / "calls.log"
    npx = folder / "npx"
    npx.write_text(FAKE_NPX.format(python=sys.executable, psql=str(psql), log=str(log)))
    npx.chmod(0o755)
    for name in ("pnpm", "npm"):
        recorder = folder / name
        recorder.write_text(FAKE_RECORDER.format(log=log))
        recorder.chmod(0o755)
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ['PATH']}")
    return log


def calls(log: Path) -> list[str]:
    """Every command the stand-ins ran, as text."""
    if not log.exists():
        return []
    lines = []
    for line in log.read_text().splitlines():
        lines.append(" ".join(json.loads(line)["argv"]) if line.startswith("{") else line)
    return lines
