"""validate's escape checks: each fires on the pattern it names and stays quiet when the
repository handles it. Every case is a small repository built for that pattern."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from conftest import make_repo


def escapes(tmp_path: Path, grove, files: dict[str, str], toml: str = "") -> list[dict]:
    main_dir = make_repo(tmp_path / "w", files={**files, "grove.toml": toml})
    result = grove("validate", "--json", cwd=main_dir)
    return [f for f in result.json["findings"] if f["check"].startswith("escape.")]


def pkg(scripts: dict[str, str] | None = None, deps: dict[str, str] | None = None) -> str:
    return json.dumps(
        {"name": "app", "scripts": scripts or {}, "dependencies": deps or {}}, indent=2
    )


CASES = [
    # (id, files, toml, expected check, fragment of the message)
    (
        "port-in-script",
        {"package.json": pkg({"dev": "next dev --port 4002"})},
        "",
        "escape.port-in-script",
        "fixes port 4002",
    ),
    (
        "port-in-script-env",
        {"package.json": pkg({"dev": "PORT=3001 node server.js"})},
        "",
        "escape.port-in-script",
        "fixes port 3001",
    ),
    (
        "port-in-compose",
        {"compose.yaml": "services:\n  db:\n    ports: ['5432:5432']\n"},
        "",
        "escape.port-in-compose",
        "host port 5432 is fixed",
    ),
    (
        "compose-var-not-in-table",
        {"compose.yaml": "services:\n  db:\n    ports: ['${PG_PORT:-5432}:5432']\n"},
        "",
        "escape.port-not-in-table",
        "${PG_PORT} sets a host port",
    ),
    (
        "env-port-not-in-table",
        {".env.example": "ADMIN_PORT=9000\n"},
        "",
        "escape.port-not-in-table",
        "ADMIN_PORT=9000 looks like a port",
    ),
    (
        "embedded-port",
        {".env.example": "PORT=3000\nAPP_URL=http://localhost:3000\n"},
        "[ports]\nPORT = 3000\n",
        "escape.embedded-port-not-rewritten",
        "APP_URL embeds PORT's",
    ),
    (
        "node-env-file",
        {"package.json": pkg({"start": "node --env-file=.env server.js"})},
        "",
        "escape.loader-skips-local",
        "loads only .env (node --env-file)",
    ),
    (
        "dotenv-config",
        {"src/server.ts": "import 'dotenv/config'\nconsole.log(1)\n"},
        "",
        "escape.loader-skips-local",
        "loads ./.env only",
    ),
    (
        "nest-config",
        {"src/app.module.ts": "ConfigModule.forRoot({ isGlobal: true })\n"},
        "",
        "escape.loader-skips-local",
        "ConfigModule.forRoot reads .env",
    ),
    (
        "prisma",
        {"prisma/schema.prisma": 'url = env("DATABASE_URL")\n'},
        "",
        "escape.loader-skips-local",
        "Prisma CLI reads .env",
    ),
    (
        "env-cmd",
        {"package.json": pkg({"dev": "env-cmd -f .env next dev"})},
        "",
        "escape.loader-overrides-env",
        "env-cmd",
    ),
    (
        "overload",
        {"package.json": pkg({"dev": "dotenvx run --overload -- next dev"})},
        "",
        "escape.loader-overrides-env",
        "--overload",
    ),
    (
        "dotenv-override",
        {
            "src/env.js": "require('dotenv')"
            ".config({ path: ['.env.local', '.env'], override: true })\n"
        },
        "",
        "escape.loader-overrides-env",
        "override: true",
    ),
    (
        "container-name",
        {"compose.yaml": "services:\n  db:\n    image: postgres\n    container_name: app-db\n"},
        "",
        "escape.compose-container-name",
        "fixed container_name",
    ),
    (
        "fixed-volume",
        {"compose.yaml": "services: {}\nvolumes:\n  pgdata:\n    name: pgdata\n"},
        "",
        "escape.compose-fixed-name",
        "volume pgdata",
    ),
    (
        "external-network",
        {"compose.yaml": "services: {}\nnetworks:\n  shared:\n    external: true\n"},
        "",
        "escape.compose-fixed-name",
        "network shared",
    ),
    (
        "compose-name",
        {"compose.yaml": "name: myapp\nservices: {}\n"},
        "",
        "escape.compose-project-name",
        "fixed to 'myapp'",
    ),
    (
        "devcontainer",
        {".devcontainer/docker-compose.yml": "services: {}\n"},
        "",
        "escape.compose-shared-dir",
        "named the same in every slot",
    ),
    (
        "writes-env",
        {"package.json": pkg({"prepare": "echo SECRET=$(openssl rand -hex 8) >> .env"})},
        "",
        "escape.script-writes-shared",
        "writes .env",
    ),
    (
        "hash-value",
        {".env": "GREETING=# hello\n"},
        "",
        "escape.reader-disagreement",
        "empty for Node's dotenv",
    ),
    (
        "var-ref",
        {".env": "BASE=x\nFULL=${BASE}/y\n"},
        "",
        "escape.reader-disagreement",
        "references another variable",
    ),
    (
        "cookies",
        {"package.json": pkg(deps={"next-auth": "4"})},
        "",
        "escape.cookie-host-shared",
        "login in one slot is sent to all",
    ),
]


@pytest.mark.parametrize(
    ("files", "toml", "check", "fragment"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_escape_fires(
    tmp_path: Path, grove, files: dict, toml: str, check: str, fragment: str
) -> None:
    found = escapes(tmp_path, grove, files, toml)
    hits = [f for f in found if f["check"] == check]
    assert hits, found
    assert fragment in hits[0]["message"]
    assert re.match(r"^[^:]+:\d+: ", hits[0]["message"]) or hits[0]["message"].startswith(
        "package.json: "
    )
    assert hits[0]["hint"]
    assert hits[0]["level"] == "warning"


QUIET = [
    ("port-from-env", {"package.json": pkg({"dev": "next dev --port $PORT"})}, ""),
    (
        "compose-var-in-table",
        {"compose.yaml": "services:\n  db:\n    ports: ['${DB_PORT:-5434}:5432']\n"},
        "",
    ),
    ("compose-container-only", {"compose.yaml": "services:\n  db:\n    ports: ['5432']\n"}, ""),
    ("env-port-in-table", {".env.example": "PORT=3000\n"}, ""),
    (
        "embedded-rewritten",
        {".env.example": "PORT=3000\nAPP_URL=http://localhost:3000\n"},
        '[ports]\nPORT = 3000\n[env.rewrite]\nAPP_URL = "PORT"\n',
    ),
    (
        "node-env-file-with-local",
        {
            "package.json": pkg(
                {"start": "node --env-file=.env --env-file-if-exists=.env.local s.js"}
            )
        },
        "",
    ),
    (
        "dotenv-with-path",
        {
            "src/server.ts": "import dotenv from 'dotenv'\n"
            "dotenv.config({ path: ['.env.local', '.env'] })\n"
        },
        "",
    ),
    (
        "nest-with-local",
        {"src/app.module.ts": "ConfigModule.forRoot({ envFilePath: ['.env.local'] })\n"},
        "",
    ),
    (
        "env-cmd-no-override",
        {"package.json": pkg({"dev": "env-cmd --no-override -f .env next"})},
        "",
    ),
    (
        "compose-plain",
        {"compose.yaml": "services:\n  db:\n    image: postgres\nvolumes:\n  pgdata: {}\n"},
        "",
    ),
    (
        "devcontainer-with-project",
        {".devcontainer/docker-compose.yml": "services: {}\n"},
        '[env.derived]\nCOMPOSE_PROJECT_NAME = "{name}-wt{n}"\n',
    ),
    ("reads-env", {"package.json": pkg({"show": "cat .env.local"})}, ""),
    (
        "writes-env-protected",
        {"package.json": pkg({"prepare": "echo A=1 >> .env"})},
        "[env]\nprotect = true\n",
    ),
    (
        "var-ref-rewritten",
        {".env": "API_PORT=3001\nURL=http://localhost:${API_PORT}\n"},
        "[ports]\nAPI_PORT = 3001\n[env.rewrite]\nURL = {}\n",
    ),
    ("quoted-hash", {".env": "GREETING=\"# hello\"\nSINGLE='${NOT_EXPANDED}'\n"}, ""),
    (
        "cookies-per-host",
        {"package.json": pkg(deps={"next-auth": "4"}), ".env": "APP_URL=x\n"},
        '[env.rewrite]\nAPP_URL = { port = "PORT", host = "wt{n}.localhost" }\n',
    ),
]


@pytest.mark.parametrize(("files", "toml"), [q[1:] for q in QUIET], ids=[q[0] for q in QUIET])
def test_escape_stays_quiet(tmp_path: Path, grove, files: dict, toml: str) -> None:
    assert escapes(tmp_path, grove, files, toml) == []
