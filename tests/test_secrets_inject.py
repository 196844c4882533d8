"""[secrets] inject (issue 18, deliverable 2): a secret manager's values reach `grove exec`,
`grove up` and a Claude Code session's commands in their process environment only.

The manager is a stub on PATH that prints dotenv lines the way `doppler secrets download
--no-file --format env` does. Its values are made at run time and given to the stub through
a variable of another name, so neither this file nor the stub's script holds them: after the
commands ran, no file under the repository, the slots, .git/grove, HOME or TMPDIR may.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import grove_process, slot_ports, write_config
from credential_table import B62, tok
from procutil import accepts, wait_until

SHARED_API_KEY = "sk_test_devkey1234567890"  # the `bare_repo` fixture's shared .env value


@pytest.fixture
def token() -> str:
    """A value only the manager knows, new for every test."""
    return "dev_" + uuid.uuid4().hex + uuid.uuid4().hex


@pytest.fixture
def manager(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, token: str) -> Path:
    """A stub secret manager, `fakemgr`, first on PATH. It appends its arguments and folder to
    the returned log (outside the repository), then prints MGR_LINES (default: three values,
    one of them the test's token) and exits with MGR_EXIT. TMPDIR is a folder the test
    scans."""
    folder = tmp_path / "stub-bin"
    folder.mkdir()
    log = tmp_path / "manager-calls.jsonl"
    script = folder / "fakemgr"
    script.write_text(
        f"#!{sys.executable}\n"
        "import json, os, sys, time\n"
        f"with open({str(log)!r}, 'a') as f:\n"
        "    f.write(json.dumps({'argv': sys.argv[1:], 'cwd': os.getcwd()}) + '\\n')\n"
        "time.sleep(float(os.environ.get('MGR_SLEEP', '0')))\n"
        "lines = os.environ.get('MGR_LINES')\n"
        "if lines is None:\n"
        "    lines = 'INJECT_TOKEN=' + os.environ['MGR_TOKEN'] + '\\n'\n"
        "    lines += 'API_KEY=from_the_manager\\nPORT=1\\nPATH=/nowhere\\n'\n"
        "sys.stdout.write(lines)\n"
        "sys.stderr.write(os.environ.get('MGR_STDERR', ''))\n"
        "sys.exit(int(os.environ.get('MGR_EXIT', '0')))\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    temp = tmp_path / "tmpdir"
    temp.mkdir()
    grove_bin = Path(sys.executable).parent  # `grove` by name, as the hook's line calls it
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{grove_bin}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("MGR_TOKEN", token)
    monkeypatch.setenv("TMPDIR", str(temp))
    return log


def configure(repo: Path, extra: str = "") -> None:
    write_config(repo, f'[secrets]\ninject = "fakemgr secrets download --format env"\n{extra}')


def calls(log: Path) -> list[dict]:
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text().splitlines()]


def files_holding(value: str, *roots: Path, skip: tuple[Path, ...] = ()) -> list[Path]:
    """Every file (links not followed) under roots whose bytes contain value."""
    needle = value.encode()
    found = []
    for root in roots:
        for path in root.rglob("*"):
            if any(path.is_relative_to(s) for s in skip) or path.is_symlink():
                continue
            if path.is_file() and needle in path.read_bytes():
                found.append(path)
    return found


DUMP = "import json, os, sys; open(sys.argv[1], 'w').write(json.dumps(dict(os.environ)))"


def child_env_script(out: Path) -> list[str]:
    """A child that writes the environment it got to out (the child may; grove may not)."""
    return [sys.executable, "-c", DUMP, str(out)]


def session_start(slot: Path, env_file: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "CLAUDE_PROJECT_DIR"}
    env["CLAUDE_ENV_FILE"] = str(env_file)
    payload = {"session_id": "s-1", "cwd": str(slot), "hook_event_name": "SessionStart"}
    return subprocess.run(
        [sys.executable, "-m", "grove", "agents", "hook", "session-start"],
        input=json.dumps(payload),
        cwd=slot,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def sourced_env(env_file: Path, cwd: Path, out: Path) -> subprocess.CompletedProcess[str]:
    """What Claude Code does before a Bash command: source the env file, then run it."""
    script = f'source "{env_file}"; {sys.executable} -c "$CHILD" "{out}"'
    return subprocess.run(
        ["bash", "-c", script],
        cwd=cwd,
        env={**os.environ, "CHILD": DUMP},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture
def served(repo: Path, grove, manager: Path, tmp_path: Path) -> Iterator[Path]:
    """inject plus a service that writes its environment to tmp_path/out/service.json, then
    serves on the slot's PORT; every service stopped afterwards."""
    out = tmp_path / "out"
    out.mkdir()
    (tmp_path / "dump.py").write_text(DUMP + "\n")
    python = sys.executable
    dump = f"{python} {tmp_path / 'dump.py'} {out / 'service.json'}"
    run = f"{dump} && exec {python} -m http.server {{PORT}} --bind 127.0.0.1"
    configure(repo, f'[services]\nweb = {{ run = "{run}", port = "PORT" }}\n')
    assert grove("create").code == 0
    yield repo
    for n in (0, 1):
        grove_process("down", str(n), cwd=repo)


def test_values_reach_exec_up_and_the_session_and_no_file_holds_them(
    served: Path, grove, manager: Path, tmp_path: Path, token: str
) -> None:
    repo, slot = served, served.parent / "myproject-wt1"
    ports = slot_ports(repo, 1)
    out = tmp_path / "out"

    # grove exec: the child gets them; the manager ran from main's folder, with its arguments
    ran = grove("exec", "1", "--", *child_env_script(out / "exec.json"))
    assert ran.code == 0, ran.err
    env = json.loads((out / "exec.json").read_text())
    assert env["INJECT_TOKEN"] == token
    assert env["API_KEY"] == "from_the_manager"  # the manager's value over the shared file's
    assert env["PORT"] == str(ports["PORT"])  # the slot's own port over the manager's
    assert env["PATH"] != "/nowhere"  # a protected name stays the caller's
    assert calls(manager) == [
        {"argv": ["secrets", "download", "--format", "env"], "cwd": str(repo)}
    ]
    assert token not in ran.out + ran.err

    # grove up: the service gets them, and answers on the slot's port
    up = grove("up", "1", "--json")
    assert up.code == 0, up.out + up.err
    assert wait_until((out / "service.json").exists)
    service_env = json.loads((out / "service.json").read_text())
    assert service_env["INJECT_TOKEN"] == token
    assert service_env["PORT"] == str(ports["PORT"]) and accepts(ports["PORT"])
    assert token not in up.out + up.err

    # the session hook: its file holds a line that asks grove, never a value; a Bash
    # command that sources it gets the values, from anywhere it stands
    env_file = tmp_path / "claude" / "session-env.sh"
    env_file.parent.mkdir()
    hook = session_start(slot, env_file)
    assert hook.returncode == 0, hook.stderr
    assert token not in env_file.read_text() and "from_the_manager" not in env_file.read_text()
    assert "grove secrets export" in env_file.read_text()
    assert "secret manager" in hook.stdout and token not in hook.stdout + hook.stderr
    bash = sourced_env(env_file, tmp_path, out / "session.json")
    assert bash.returncode == 0, bash.stderr
    session = json.loads((out / "session.json").read_text())
    assert session["INJECT_TOKEN"] == token
    assert session["PORT"] == str(ports["PORT"])  # the hook's managed export, not the manager's
    assert token not in bash.stdout + bash.stderr

    # nothing on disk holds a value: repository, slots, .git/grove (service logs, records),
    # HOME, TMPDIR and the hook's file; only the children's own dumps do
    home = Path(os.environ["HOME"])
    assert (repo / ".git" / "grove").is_dir()
    leaked = files_holding(token, tmp_path, home, skip=(out,))
    assert leaked == []
    stub = tmp_path / "stub-bin"  # the stub's script spells this one out
    assert files_holding("from_the_manager", tmp_path, home, skip=(out, stub)) == []


def production_key() -> str:
    return "sk" + "_live_" + tok(B62, 24)  # built at run time: no live key in the source


def test_a_production_value_is_refused_and_nothing_starts(
    served: Path, grove, manager: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    live = production_key()
    monkeypatch.setenv("MGR_LINES", f"OK=1\nSTRIPE_SECRET_KEY={live}\n")
    marker = tmp_path / "out" / "started"
    ran = grove("exec", "1", "--json", "--", "touch", str(marker))
    assert ran.code == 1
    error = ran.json["error"]
    assert error["code"] == "refused" and "STRIPE_SECRET_KEY" in error["message"]
    assert error["findings"][0]["rule"] == "stripe-live-secret"
    assert not marker.exists()
    assert live not in ran.out + ran.err and live[8:] not in ran.out + ran.err

    up = grove("up", "1")
    assert up.code == 1 and "production secrets" in up.err
    assert not (tmp_path / "out" / "service.json").exists()
    assert not accepts(slot_ports(served, 1)["PORT"])
    assert grove("list", "--json").json["slots"][1]["services"][0]["state"] == "down"
    assert live not in up.out + up.err

    checked = grove("secrets", "check", "1")
    assert checked.code == 1 and live not in checked.out + checked.err

    # the session's command runs without the values, and says why on stderr
    env_file = tmp_path / "session-env.sh"
    assert session_start(served.parent / "myproject-wt1", env_file).returncode == 0
    bash = sourced_env(env_file, tmp_path, tmp_path / "out" / "session.json")
    session = json.loads((tmp_path / "out" / "session.json").read_text())
    assert "STRIPE_SECRET_KEY" not in session and "OK" not in session
    assert "production secrets" in bash.stderr and live not in bash.stdout + bash.stderr
    assert files_holding(live, tmp_path, skip=(tmp_path / "out",)) == []


def test_the_allow_list_lets_a_known_value_through(
    repo: Path, grove, manager: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    live = production_key()
    monkeypatch.setenv("MGR_LINES", f"STRIPE_SECRET_KEY={live}\n")
    configure(repo, '[security]\nallow = ["STRIPE_SECRET_KEY"]\n')
    assert grove("create").code == 0
    out = tmp_path / "env.json"
    assert grove("exec", "1", "--", *child_env_script(out)).code == 0
    assert json.loads(out.read_text())["STRIPE_SECRET_KEY"] == live


@pytest.mark.parametrize(
    ("setting", "environment", "expected"),
    [
        ("", {"MGR_EXIT": "1", "MGR_STDERR": "Error: you must log in\n"}, "exited with 1"),
        ('inject = "no-such-manager --format env"', {}, "was not found"),
        ("inject_timeout = 0.5", {"MGR_SLEEP": "30"}, "did not finish within 0.5s"),
        ("", {"MGR_LINES": '{"API_KEY": "x"}\n'}, "not KEY=value"),
    ],
    ids=["fails", "not-found", "timeout", "not-dotenv"],
)
def test_a_failing_manager_refuses_to_start_anything(
    repo: Path,
    grove,
    manager: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    token: str,
    setting: str,
    environment: dict[str, str],
    expected: str,
) -> None:
    if setting.startswith("inject ="):
        write_config(repo, f"[secrets]\n{setting}\n")
    else:
        configure(repo, setting)
    assert grove("create").code == 0
    for key, value in environment.items():
        monkeypatch.setenv(key, value)
    marker = tmp_path / "started"
    ran = grove("exec", "1", "--json", "--", "touch", str(marker))
    assert ran.code == 1, ran.out
    assert ran.json["error"]["code"] == "step-failed"
    assert expected in ran.json["error"]["message"]
    assert "nothing was started" in ran.json["error"]["message"]
    assert not marker.exists()
    assert token not in ran.out + ran.err  # stdout is never shown, even on failure


def test_stderr_is_shown_short_with_long_tokens_masked(
    repo: Path, grove, manager: Path, monkeypatch: pytest.MonkeyPatch, token: str
) -> None:
    configure(repo)
    assert grove("create").code == 0
    monkeypatch.setenv("MGR_EXIT", "2")
    monkeypatch.setenv("MGR_STDERR", f"bad token {token}\n" + "x\n" * 50 + "\x1b[31mlast\n")
    ran = grove("exec", "1", "--", "true")
    assert ran.code == 1
    assert token not in ran.err and token[:20] not in ran.err
    assert "last" in ran.err and "\x1b" not in ran.err


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("inject = 5", "[secrets] inject"),
        ('inject = "  "', "[secrets] inject"),
        ('inject = "fakemgr"\ninject_timeout = 0', "[secrets] inject_timeout"),
        ('inject = "fakemgr"\ninject_timeout = "30"', "[secrets] inject_timeout"),
        ('inject = "fakemgr"\ninject_timeout = 601', "[secrets] inject_timeout"),
    ],
)
def test_a_bad_inject_setting_is_a_config_error(repo: Path, grove, text: str, key: str) -> None:
    (repo / "grove.toml").write_text(f"[secrets]\n{text}\n")
    result = grove("exec", "--json", "--", "true")
    assert result.code == 2
    message = result.json["error"]["message"]
    assert key in message and str(repo / "grove.toml") in message and "expected" in message


def test_without_inject_the_manager_never_runs(repo: Path, grove, manager: Path) -> None:
    assert grove("create").code == 0
    assert grove("exec", "1", "--", "true").code == 0
    assert grove("env", "1").code == 0
    assert calls(manager) == []


def test_env_never_runs_the_manager_and_check_shows_keys_masked(
    repo: Path, grove, manager: Path, token: str
) -> None:
    configure(repo)
    assert grove("create").code == 0
    shown = grove("env", "1", "--json")
    assert shown.code == 0 and "INJECT_TOKEN" not in shown.out
    assert calls(manager) == []

    checked = grove("secrets", "check", "1", "--json")
    assert checked.code == 0, checked.out
    assert set(checked.json) == {"slot", "command", "keys", "warnings"}
    keys = {k["key"]: k for k in checked.json["keys"]}
    assert list(keys) == ["INJECT_TOKEN", "API_KEY", "PORT", "PATH"]
    assert keys["PORT"]["overridden_by"] == "local file"
    assert keys["PATH"]["overridden_by"] == "caller"
    assert keys["INJECT_TOKEN"]["overridden_by"] is None
    assert token not in checked.out and token[4:12] not in checked.out
    text = grove("secrets", "check", "1")
    assert "INJECT_TOKEN=" in text.out and token not in text.out

    as_json = grove("secrets", "export", "1", "--json")
    assert as_json.json == {
        "slot": 1,
        "env": {"INJECT_TOKEN": token, "API_KEY": "from_the_manager"},
    }
    exported = grove("secrets", "export", "1")
    assert exported.code == 0
    assert f"export INJECT_TOKEN='{token}'" in exported.out
    assert "PORT" not in exported.out and "PATH" not in exported.out


def test_check_and_export_without_inject_name_the_setting(repo: Path, grove) -> None:
    for action in ("check", "export"):
        result = grove("secrets", action, "--json")
        assert result.code == 2
        assert "[secrets] inject is not set" in result.json["error"]["message"]
