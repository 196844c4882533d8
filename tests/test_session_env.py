"""The slot's environment reaches commands grove does not start (issue 14, deliverable 4):
Claude Code's SessionStart hook and direnv's .envrc export the slot's managed values, never
the shared file's secrets, so an app whose loader reads only `.env` still gets the slot's
port and database."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import commit_all, git, slot_ports, write_config
from grove.shellenv import export_lines

JS_DIR = Path(__file__).parent / "js"
DOTENV = JS_DIR / "node_modules" / "dotenv"
SECRET = "sk_test_SHAREDsecret0123456789"
CONFIG = """\
[env.derived]
DATABASE_URL = "postgresql://app@127.0.0.1:{DB_PORT}/app_wt{n}"
[env.rewrite]
API_URL = "PORT"
"""


def shared_env(main_dir: Path) -> str:
    """Main's .env as a project has it: main's own port and database, and a secret."""
    ports = slot_ports(main_dir, 0)
    return (
        f"PORT={ports['PORT']}\n"
        f"DATABASE_URL=postgresql://app@127.0.0.1:{ports['DB_PORT']}/app_main\n"
        f"API_URL=http://localhost:{ports['PORT']}/api\n"
        f"STRIPE_SECRET_KEY={SECRET}\n"
    )


@pytest.fixture
def slot(repo: Path, grove) -> Path:
    """Slot 1 of a repository whose shared .env holds main's values and a secret."""
    write_config(repo, CONFIG)
    (repo / ".env").write_text(shared_env(repo))
    made = grove("create", "--json")
    assert made.code == 0, made.out
    return Path(made.json["path"])


def session_start(
    payload: dict | None, env_file: Path | None, cwd: Path, extra: dict | None = None
) -> subprocess.CompletedProcess[str]:
    env = {
        k: v for k, v in os.environ.items() if k not in ("CLAUDE_ENV_FILE", "CLAUDE_PROJECT_DIR")
    }
    if env_file is not None:
        env["CLAUDE_ENV_FILE"] = str(env_file)
    env.update(extra or {})
    return subprocess.run(
        [sys.executable, "-m", "grove", "agents", "hook", "session-start"],
        input="" if payload is None else json.dumps(payload),
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def payload_for(folder: Path) -> dict:
    """What current Claude Code sends to SessionStart."""
    return {
        "session_id": "s-1",
        "transcript_path": "/tmp/t.jsonl",
        "cwd": str(folder),
        "hook_event_name": "SessionStart",
        "source": "startup",
    }


def sourced(script: str, env_file: Path, cwd: Path) -> str:
    return subprocess.run(
        ["bash", "-c", f'source "{env_file}"; {script}'],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
    ).stdout


@pytest.mark.parametrize(
    "value",
    ["it's", "'", "''", " spaced ", "a;b|c&d>e", "#hash", "*", "~", "{x}", "tab\there", "ünï",
     "$HOME`id`\\", ""],
)  # fmt: skip
@pytest.mark.parametrize("shell", ["bash", "sh"])
def test_an_exported_value_reads_back_exactly(value: str, shell: str, tmp_path: Path) -> None:
    """Nothing in a value is expanded or splits it, whichever shell sources the file."""
    exports = tmp_path / "exports.sh"
    exports.write_text("\n".join(export_lines({"V": value})) + "\n")
    read = subprocess.run(
        [shell, "-c", f'. "{exports}"; printf %s "$V"'], capture_output=True, text=True, check=True
    )
    assert read.stdout == value


# --- Claude Code: SessionStart --------------------------------------------------------


def test_session_start_exports_the_slots_managed_values_and_no_secret(
    repo: Path, slot: Path, tmp_path: Path
) -> None:
    env_file = tmp_path / "session-env" / "hook-0.sh"
    env_file.parent.mkdir()
    env_file.write_text("export FROM_ANOTHER_HOOK=1")  # no newline: ours must not join it
    (slot / "src").mkdir()
    result = session_start(payload_for(slot / "src"), env_file, tmp_path)  # a subfolder
    assert result.returncode == 0, result.stderr
    text = env_file.read_text()
    ports = slot_ports(repo, 1)
    for key, value in ports.items():
        assert f"export {key}='{value}'\n" in text
    assert f"export DATABASE_URL='postgresql://app@127.0.0.1:{ports['DB_PORT']}/app_wt1'\n" in text
    assert f"export API_URL='http://localhost:{ports['PORT']}/api'\n" in text  # rewritten
    assert SECRET not in text and "STRIPE_SECRET_KEY" not in text
    assert text.startswith("export FROM_ANOTHER_HOOK=1\n# >>> grove (slot 1)")
    assert "slot 1" in result.stdout and f"PORT={ports['PORT']}" in result.stdout
    assert "DATABASE_URL" not in result.stdout  # context for the model: no credentials

    env = sourced("env", env_file, slot)
    assert f"PORT={ports['PORT']}\n" in env and "FROM_ANOTHER_HOOK=1\n" in env

    # resume, clear and compact fire the hook again: the file does not grow
    again = session_start({**payload_for(slot), "source": "compact"}, env_file, tmp_path)
    assert again.returncode == 0, again.stderr
    assert env_file.read_text() == text


def test_session_start_creates_the_env_file_private(slot: Path, tmp_path: Path) -> None:
    env_file = tmp_path / "env.sh"
    result = session_start(payload_for(slot), env_file, tmp_path)
    assert result.returncode == 0, result.stderr
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600  # it carries database credentials


def test_session_start_takes_the_folder_from_older_builds_without_cwd(
    repo: Path, slot: Path, tmp_path: Path
) -> None:
    env_file = tmp_path / "env.sh"
    old = {"session_id": "s", "transcript_path": "/t", "hook_event_name": "SessionStart"}
    result = session_start(old, env_file, tmp_path, {"CLAUDE_PROJECT_DIR": str(slot)})
    assert result.returncode == 0, result.stderr
    assert f"export PORT='{slot_ports(repo, 1)['PORT']}'" in env_file.read_text()
    # no cwd and no CLAUDE_PROJECT_DIR: the folder the hook runs in
    other = tmp_path / "env2.sh"
    assert session_start(old, other, slot).returncode == 0
    assert other.read_text() == env_file.read_text()


def test_session_start_outside_a_slot_does_nothing(repo: Path, slot: Path, tmp_path: Path) -> None:
    env_file = tmp_path / "env.sh"
    elsewhere = tmp_path / "not-a-repo"
    elsewhere.mkdir()
    foreign = tmp_path / "foreign-worktree"
    git(repo, "worktree", "add", "-q", "--detach", str(foreign))
    for folder in (elsewhere, foreign, tmp_path / "gone"):
        result = session_start(payload_for(folder), env_file, tmp_path)
        assert result.returncode == 0, result.stderr
        assert result.stdout == ""
        assert not env_file.exists()
    garbage = subprocess.run(
        [sys.executable, "-m", "grove", "agents", "hook", "session-start"],
        input="not json",
        cwd=slot,
        env={**os.environ, "CLAUDE_ENV_FILE": str(env_file)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert garbage.returncode == 0  # a session is never blocked by grove
    assert not env_file.exists()


def test_session_start_without_claude_env_file_does_nothing_and_reads_nothing(slot: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "CLAUDE_ENV_FILE"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "grove", "agents", "hook", "session-start", "--json"],
        stdin=subprocess.PIPE,  # left open: the hook must not wait for it
        stdout=subprocess.PIPE,
        cwd=slot,
        env=env,
        text=True,
    )
    try:
        proc.wait(timeout=60)  # would time out if the hook waited for end of input
    finally:
        if proc.poll() is None:
            proc.kill()
        assert proc.stdin is not None
        proc.stdin.close()
    assert proc.returncode == 0
    assert proc.stdout is not None
    answer = json.loads(proc.stdout.read())
    assert answer["exported"] == [] and answer["skipped"] == "CLAUDE_ENV_FILE is not set"


def test_with_a_database_the_hook_exports_the_slots_libpq_variables(
    repo: Path, grove, tmp_path: Path
) -> None:
    """psql, Prisma and Knex in the slot reach the slot's own database, password included
    (only the values are computed here: no server is started)."""
    (repo / ".env").write_text(shared_env(repo))
    slot = Path(grove("create", "--json").json["path"])
    write_config(repo, '[database]\nengine = "postgres"\n')
    env_file = tmp_path / "env.sh"
    result = session_start(payload_for(slot), env_file, tmp_path)
    assert result.returncode == 0, result.stderr
    env = sourced("env", env_file, slot)
    port = slot_ports(repo, 1)["DB_PORT"]
    assert f"PGPORT={port}\n" in env and "PGHOST=127.0.0.1\n" in env
    password = (repo / ".git" / "grove" / "pg" / "password").read_text().strip()
    assert f"PGPASSWORD={password}\n" in env
    url = next(line for line in env.splitlines() if line.startswith("DATABASE_URL="))
    assert f":{password}@127.0.0.1:{port}/" in url
    assert password not in result.stdout


def test_a_node_app_that_reads_only_dotenv_gets_the_slots_port_and_database(
    repo: Path, grove, tmp_path: Path
) -> None:
    """The issue's crosswire: `node app.js` in a slot, with dotenv reading only `.env`,
    listened on main's port and wrote to main's database. From a shell that sourced the
    hook's file, it gets the slot's."""
    node = shutil.which("node")
    if node is None or os.environ.get("GROVE_SKIP_NODE") == "1":
        pytest.skip("node is not installed here (CI installs it)")
    if not (DOTENV / "package.json").is_file():
        pytest.fail(f"Node's dotenv is not installed: run `npm ci --prefix {JS_DIR}`")
    write_config(repo, CONFIG)
    (repo / ".env").write_text(shared_env(repo))
    app = (
        f"require({json.dumps(str(DOTENV))}).config()  // reads ./.env only\n"
        "const e = process.env\n"
        "console.log(JSON.stringify({PORT: e.PORT, DATABASE_URL: e.DATABASE_URL,"
        " STRIPE_SECRET_KEY: e.STRIPE_SECRET_KEY}))\n"
    )
    (repo / "app.js").write_text(app)
    commit_all(repo, "the app")
    slot = Path(grove("create", "--json").json["path"])
    env_file = tmp_path / "claude-env.sh"
    assert session_start(payload_for(slot), env_file, slot).returncode == 0

    main_ports, slot_ports_1 = slot_ports(repo, 0), slot_ports(repo, 1)
    bare = json.loads(sourced("node app.js", Path("/dev/null"), slot))
    assert bare["PORT"] == str(main_ports["PORT"])  # the problem, as the issue found it
    seen = json.loads(sourced("node app.js", env_file, slot))
    assert seen["PORT"] == str(slot_ports_1["PORT"])
    assert seen["DATABASE_URL"] == f"postgresql://app@127.0.0.1:{slot_ports_1['DB_PORT']}/app_wt1"
    assert seen["STRIPE_SECRET_KEY"] == SECRET  # still the app's own read of .env


# --- agents install ---------------------------------------------------------------------


def test_install_adds_the_session_start_hook_and_uninstall_takes_it_back(repo: Path, grove) -> None:
    (repo / ".claude").mkdir()
    original = '{"hooks": {"SessionStart": [{"hooks": [{"type": "command", "command": "x"}]}]}}\n'
    (repo / ".claude" / "settings.json").write_text(original)
    assert grove("agents", "install", "claude").code == 0
    data = json.loads((repo / ".claude" / "settings.json").read_text())
    commands = [h["command"] for g in data["hooks"]["SessionStart"] for h in g["hooks"]]
    assert commands == ["x", "grove agents hook session-start"]
    assert grove("agents", "install", "claude", "--json").json["changed"] == []
    assert grove("agents", "uninstall").code == 0
    assert (repo / ".claude" / "settings.json").read_text() == original


# --- direnv: .envrc ---------------------------------------------------------------------


@pytest.fixture
def envrc_slot(repo: Path, grove) -> Path:
    write_config(repo, CONFIG + "[env]\nenvrc = true\n")
    (repo / ".env").write_text(shared_env(repo))
    made = grove("create", "--json")
    assert made.code == 0, made.out
    return Path(made.json["path"])


def test_envrc_exports_the_managed_values_private_and_ignored(repo: Path, envrc_slot: Path) -> None:
    for n, folder in ((0, repo), (1, envrc_slot)):
        envrc = folder / ".envrc"
        assert stat.S_IMODE(envrc.lstat().st_mode) == 0o600
        text = envrc.read_text()
        assert text.startswith(f"# >>> grove (slot {n})") and SECRET not in text
        ports = slot_ports(repo, n)
        env = sourced("env", envrc, folder)
        assert f"PORT={ports['PORT']}\n" in env
        assert f"DATABASE_URL=postgresql://app@127.0.0.1:{ports['DB_PORT']}/app_wt{n}\n" in env
        assert "STRIPE_SECRET_KEY" not in env
    assert git(envrc_slot, "status", "--porcelain") == ""
    assert git(repo, "status", "--porcelain") == ""


def test_refresh_keeps_the_envrc_current_and_the_users_lines(
    repo: Path, envrc_slot: Path, grove
) -> None:
    envrc = envrc_slot / ".envrc"
    envrc.write_text("use nix\n" + envrc.read_text() + "export MINE=1\n")
    write_config(repo, CONFIG.replace("app_wt{n}", "shop_wt{n}") + "[env]\nenvrc = true\n")
    refreshed = grove("refresh", "1", "--json").json
    updated = {"slot": 1, "action": "block-updated", "path": ".envrc", "detail": ""}
    assert updated in refreshed["changed"]
    text = envrc.read_text()
    assert text.startswith("use nix\n# >>> grove (slot 1)") and text.endswith("export MINE=1\n")
    assert "/shop_wt1'" in text and "/app_wt1'" not in text
    assert grove("refresh", "1", "--json").json["changed"] == []
    # the user's lines are work: remove names the file instead of deleting it
    refused = grove("remove", "1", "--json")
    assert refused.code == 1
    assert ".envrc" in refused.json["error"]["ignored_unrecreatable"]


def test_a_slot_with_only_groves_envrc_is_removed_without_force(envrc_slot: Path, grove) -> None:
    removed = grove("remove", "1", "--json")
    assert removed.code == 0, removed.out
    assert not envrc_slot.exists()


def test_the_envrc_is_never_written_through_a_link(
    repo: Path, envrc_slot: Path, grove, tmp_path: Path
) -> None:
    outside = tmp_path / "outside.sh"
    outside.write_text("echo mine\n")
    (envrc_slot / ".envrc").unlink()
    (envrc_slot / ".envrc").symlink_to(outside)
    write_config(repo, CONFIG.replace("app_wt{n}", "other_wt{n}") + "[env]\nenvrc = true\n")
    result = grove("refresh", "1", "--json")
    assert result.code == 2
    assert ".envrc is a symlink" in result.json["error"]["message"]
    assert outside.read_text() == "echo mine\n"
    assert (envrc_slot / ".envrc").is_symlink()


def test_turning_envrc_on_reaches_a_reused_slot_and_keeps_it_clean(
    repo: Path, slot: Path, grove
) -> None:
    write_config(repo, CONFIG + "[env]\nenvrc = true\n")
    taken = grove("take", "--json")
    assert taken.code == 0, taken.out
    assert Path(taken.json["path"]) == slot
    assert (slot / ".envrc").is_file()
    assert git(slot, "status", "--porcelain") == ""


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        ("tracked", "[env] envrc: expected a file git does not track"),
        ("shared", "[env] envrc: expected no .envrc in [env] shared or local"),
        ("boolean", "[env] envrc: expected true or false"),
    ],
)
def test_an_envrc_grove_cannot_own_is_a_config_error(
    repo: Path, grove, setup: str, message: str
) -> None:
    text = "[env]\nenvrc = true\n"
    if setup == "tracked":
        (repo / ".envrc").write_text("use nix\n")
        commit_all(repo, "a committed .envrc")
    elif setup == "shared":
        text = '[env]\nenvrc = true\nshared = [".env", ".envrc"]\n'
    else:
        text = '[env]\nenvrc = "yes"\n'
    write_config(repo, text)
    result = grove("list", "--json")
    assert result.code == 2
    assert message in result.json["error"]["message"]
