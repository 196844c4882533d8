"""env prints the merged environment (local over shared); exec runs in it."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

from conftest import grove_process, slot_ports


def test_local_wins_over_shared(repo: Path, grove) -> None:
    (repo / ".env").write_text("PORT=9000\nAPI_KEY=sk_test_devkey1234567890\nSHARED_ONLY=yes\n")
    grove("create")
    slot = repo.parent / "myproject-wt1"
    env = grove("env", "--reveal", "--json", cwd=slot).json["env"]
    assert env["PORT"] == str(slot_ports(repo, 1)["PORT"])
    assert env["SHARED_ONLY"] == "yes"
    assert env["API_KEY"] == "sk_test_devkey1234567890"


def test_values_not_managed_by_grove_are_masked_unless_revealed(repo: Path, grove) -> None:
    grove("create")
    result = grove("env", "1", "--json").json
    assert result["env"]["PORT"] == str(slot_ports(repo, 1)["PORT"])
    assert "sk_test_devkey1234567890" not in grove("env", "1").out
    assert "sk_test_devkey1234567890" not in grove("env", "1", "--format", "shell").out
    assert result["masked"] == ["API_KEY", "FEATURE_X"]
    assert result["env"]["API_KEY"].startswith("sk_t")


def test_formats(repo: Path, grove) -> None:
    grove("create")
    port = slot_ports(repo, 1)["PORT"]
    assert f"PORT={port}" in grove("env", "1").out.splitlines()
    assert f"export PORT={port}" in grove("env", "1", "--format", "shell").out.splitlines()
    assert grove("env", "1", "--format", "json").json["ports"]["PORT"] == port


def test_exec_runs_in_the_slot_with_its_env_over_inherited_values(repo: Path, grove) -> None:
    grove("create")
    slot = repo.parent / "myproject-wt1"
    result = grove_process(
        "exec",
        "1",
        "--",
        sys.executable,
        "-c",
        "import os; e = os.environ; print(os.getcwd(), e['PORT'], e['API_KEY'], e['KEEP'])",
        cwd=repo,
        env={"PORT": "1234", "KEEP": "inherited"},
    )
    assert result.code == 0, result.err
    port = str(slot_ports(repo, 1)["PORT"])
    assert result.out.split() == [str(slot), port, "sk_test_devkey1234567890", "inherited"]


def test_exec_returns_the_commands_exit_code(repo: Path, grove) -> None:
    grove("create")
    assert grove_process("exec", "1", "--", "sh", "-c", "exit 7", cwd=repo).code == 7
    jsoned = grove_process("exec", "1", "--json", "--", "sh", "-c", "echo out; exit 5", cwd=repo)
    assert jsoned.code == 5
    import json

    assert json.loads(jsoned.out) == {
        "slot": 1,
        "command": ["sh", "-c", "echo out; exit 5"],
        "exit_code": 5,
    }
    assert "out" in jsoned.err


def test_exec_forwards_signals_to_the_command(repo: Path, grove, tmp_path: Path) -> None:
    grove("create")
    marker = tmp_path / "got-signal"
    script = (
        "import signal, sys, time, pathlib\n"
        "def handler(signum, frame):\n"
        f"    pathlib.Path({str(marker)!r}).write_text(str(signum)); sys.exit(42)\n"
        "signal.signal(signal.SIGTERM, handler)\n"
        "print('ready', flush=True)\n"
        "time.sleep(60)\n"
    )
    for extra in ([], ["--json"]):
        marker.unlink(missing_ok=True)
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "grove",
                "exec",
                "1",
                *extra,
                "--",
                sys.executable,
                "-c",
                script,
            ],
            cwd=repo,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        stream = proc.stderr if extra else proc.stdout
        assert stream is not None
        assert stream.readline().strip() == "ready"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 42
        deadline = time.monotonic() + 10
        while not marker.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert marker.read_text() == str(int(signal.SIGTERM))


def test_exec_killed_child_gives_128_plus_signal(repo: Path, grove) -> None:
    grove("create")
    # grove stays the command's parent (issue 14), so it reports the signal as 128 + N.
    assert grove_process("exec", "1", "--", "sh", "-c", "kill -9 $$", cwd=repo).code == 137
    reported = grove_process("exec", "1", "--json", "--", "sh", "-c", "kill -9 $$", cwd=repo)
    assert reported.code == 137
    assert '"exit_code": 137' in reported.out


def test_exec_needs_the_command_after_double_dash(repo: Path, grove) -> None:
    grove("create")
    result = grove_process("exec", "1", "echo", "x", cwd=repo)
    assert result.code == 2
    assert "put the arguments after --" in result.err
    missing = grove_process("exec", "1", "--", "no-such-command-xyz", cwd=repo)
    assert missing.code == 2
    assert "command not found: no-such-command-xyz" in missing.err
