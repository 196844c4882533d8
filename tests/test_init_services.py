"""grove init proposes [services] from the package.json scripts it finds, and says why."""

from __future__ import annotations

import json
import shutil
import tomllib
import urllib.request
from pathlib import Path

import pytest

from conftest import commit_all, make_repo
from grove import config
from pgutil import free_port_base


def init_toml(grove, main_dir: Path) -> tuple[str, dict]:
    """The grove.toml init would write, as text and parsed by grove's own config loader."""
    result = grove("init", "--dry-run", "--json", cwd=main_dir)
    assert result.code == 0, result.out
    text = result.json["content"]
    config.parse(tomllib.loads(text), main_dir / "grove.toml")  # it loads, [services] too
    return text, tomllib.loads(text)


def reasons(text: str) -> str:
    """The comments of the [services] section, wrapped lines joined back."""
    section = text.split("[services]", 1)[1].split("[database]", 1)[0]
    lines = [line.removeprefix("#").strip() for line in section.splitlines()]
    return " ".join(line for line in lines if line)


def package(scripts: dict[str, str], **more: object) -> str:
    return json.dumps({"name": "app", "scripts": scripts, **more}, indent=2)


def test_dev_is_preferred_over_start_and_the_reason_is_written(tmp_path: Path, grove) -> None:
    main_dir = make_repo(
        tmp_path / "w",
        files={
            "package.json": package({"start": "node server.js", "dev": "nodemon server.js"}),
            "package-lock.json": "{}",
        },
    )
    text, data = init_toml(grove, main_dir)
    assert data["services"] == {"web": {"run": "npm run dev", "port": "PORT"}}
    why = reasons(text)
    assert 'package.json script "dev"' in why
    assert 'rather than "start"' in why
    assert "listens on PORT" in why


def test_start_alone_runs_with_the_repositorys_package_manager(tmp_path: Path, grove) -> None:
    main_dir = make_repo(
        tmp_path / "w",
        files={
            "package.json": package({"start": "node server.js", "test": "jest"}),
            "yarn.lock": "",
            ".env.example": "APP_PORT=7100\nDB_PORT=7200\n",
        },
    )
    _, data = init_toml(grove, main_dir)
    # APP_PORT is a listening name; DB_PORT is a port the app connects to
    assert data["services"] == {"web": {"run": "yarn run start", "port": "APP_PORT"}}


def test_a_workspace_gets_one_service_per_app_on_its_own_port(tmp_path: Path, grove) -> None:
    root = package({"dev": "turbo dev"}, workspaces=["apps/*"])
    files = {
        "package.json": root,
        "pnpm-lock.yaml": "lockfileVersion: '9.0'\n",
        "apps/web/package.json": package({"dev": "next dev --port 4002", "start": "next start"}),
        "apps/web/.env.example": "PORT=4000\nDATABASE_URL=postgresql://localhost:54322/app\n",
        "apps/api/package.json": package({"start": "node index.js"}),
        "apps/api/.env.example": "API_PORT=4100\n",
        "apps/ui/package.json": package({"dev": "vite"}),
        "apps/docs/package.json": package({"build": "tsc"}),  # no server script: no service
    }
    main_dir = make_repo(tmp_path / "w", "shop", files)
    text, data = init_toml(grove, main_dir)
    assert data["services"] == {
        "api": {"run": "cd apps/api && pnpm run start", "port": "API_PORT"},
        "ui": {"run": "cd apps/ui && pnpm run dev"},  # PORT is web's own
        "web": {"run": "cd apps/web && pnpm run dev", "port": "PORT"},
    }
    section = reasons(text)
    assert 'the root\'s "dev" (turbo dev) starts them all as one command' in section
    assert "found in apps/web/.env.example:1" in section
    assert "found in apps/api/.env.example:1" in section
    assert "the script fixes port 4002" in section
    assert 'ui: no port variable found: add port = "..."' in section
    found = grove("init", "--dry-run", "--json", cwd=main_dir).json["found"]
    assert [s["name"] for s in found["services"]] == ["api", "ui", "web"]
    assert all(s["why"] for s in found["services"])


def test_a_dev_server_that_ignores_port_is_named(tmp_path: Path, grove) -> None:
    main_dir = make_repo(tmp_path / "w", files={"package.json": package({"dev": "vite"})})
    text, data = init_toml(grove, main_dir)
    assert data["services"]["web"] == {"run": "npm run dev", "port": "PORT"}
    assert "vite does not read $PORT: add --port $PORT" in reasons(text)


def test_outside_a_workspace_a_nested_package_is_not_a_service(tmp_path: Path, grove) -> None:
    files = {
        "package.json": package({"dev": "node server.js"}),
        "tools/codegen/package.json": package({"start": "node gen.js"}),
    }
    main_dir = make_repo(tmp_path / "w", files=files)
    _, data = init_toml(grove, main_dir)
    assert list(data["services"]) == ["web"]


def test_without_a_server_script_the_table_is_only_an_example(tmp_path: Path, grove) -> None:
    main_dir = make_repo(tmp_path / "w", files={"package.json": package({"test": "jest"})})
    text, data = init_toml(grove, main_dir)
    assert "services" not in data
    assert '# web = { run = "npm run dev", port = "PORT" }' in text
    assert 'no package.json "dev" or "start" script found' in reasons(text)


SERVER_JS = """\
const http = require('http')
http.createServer((req, res) => res.end('slot ' + process.env.PORT)).listen(process.env.PORT)
"""


def test_the_proposed_service_comes_up_in_a_slot_on_its_port(tmp_path: Path, grove) -> None:
    """init, create, up: the service init proposed answers on the slot's own port."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("node and npm are not installed here (CI installs them)")
    base = free_port_base(3)
    files = {
        "package.json": package({"dev": "node server.js"}),
        "server.js": SERVER_JS,
        ".env.example": f"PORT={base}\n",
    }
    main_dir = make_repo(tmp_path / "w", files=files)
    assert grove("init", cwd=main_dir).code == 0
    commit_all(main_dir, "grove config")
    assert grove("create", cwd=main_dir).code == 0
    up = grove("up", "1", "--json", cwd=main_dir)
    try:
        assert up.code == 0, up.out + up.err
        with urllib.request.urlopen(f"http://127.0.0.1:{base + 1}/", timeout=10) as answer:
            assert answer.read() == f"slot {base + 1}".encode()
    finally:
        grove("down", "1", cwd=main_dir)
