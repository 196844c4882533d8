"""A slot's services (issue 14): real HTTP servers started by `grove up` in the background,
waited for on their port, stopped as a whole process group, their logs kept and capped."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from conftest import grove_process, slot_ports, write_config
from procutil import accepts, group_members, wait_until

SERVER = f"{sys.executable} -m http.server {{PORT}} --bind 127.0.0.1"
# A shell that starts the server as its own child: stopping must reach the grandchild too.
NESTED = f"sh -c '{sys.executable} -m http.server {{PORT}} --bind 127.0.0.1 & wait'"


def services_config(web: str = SERVER, extra: str = "") -> str:
    return f'[services]\nweb = {{ run = "{web}", port = "PORT" }}\n{extra}'


@pytest.fixture
def served(repo: Path, grove) -> Iterator[Path]:
    """A repository with a web service and one slot; every service stopped afterwards."""
    write_config(repo, services_config())
    assert grove("create").code == 0
    yield repo
    for n in (0, 1, 2):
        grove_process("down", str(n), cwd=repo)


def get(port: int) -> int:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as response:
        return int(response.status)


def test_up_starts_the_service_with_the_slots_port_and_up_again_leaves_it(
    served: Path, grove
) -> None:
    port = slot_ports(served, 1)["PORT"]
    started = grove("up", "1", "--json")
    assert started.code == 0, started.out + started.err
    (web,) = started.json["services"]
    assert (web["name"], web["state"], web["port"], web["changed"]) == ("web", "up", port, True)
    assert web["url"] == f"http://127.0.0.1:{port}"
    assert get(port) == 200
    again = grove("up", "1", "--json")
    assert again.json["services"][0]["changed"] is False
    assert again.json["services"][0]["pid"] == web["pid"]
    listed = grove("list", "--json").json["slots"][1]["services"]
    assert [(s["name"], s["state"], s["port"]) for s in listed] == [("web", "up", port)]
    text = grove("list").out
    assert f"web up :{port}" in text
    assert f"service web: up at http://127.0.0.1:{port}" in grove("peek", "1").out


def test_down_stops_the_whole_process_group(repo: Path, grove) -> None:
    write_config(repo, services_config(NESTED))
    assert grove("create").code == 0
    try:
        up = grove("up", "1", "--json")
        assert up.code == 0, up.out + up.err
        pid = up.json["services"][0]["pid"]
        members = group_members(pid)
        assert len(members) >= 3  # supervisor, shell, server
        down = grove("down", "1", "--json")
        assert down.json["services"][0]["changed"] is True
        assert wait_until(lambda: not group_members(pid))
        assert grove("list", "--json").json["slots"][1]["services"][0]["state"] == "down"
        port = slot_ports(repo, 1)["PORT"]
        with pytest.raises(OSError):
            get(port)
        assert grove("down", "1", "--json").json["services"][0]["changed"] is False
    finally:
        grove_process("down", "1", cwd=repo)


def test_a_crashed_service_is_shown_as_crashed_and_up_starts_it_again(served: Path, grove) -> None:
    up = grove("up", "1", "--json")
    pid = up.json["services"][0]["pid"]
    server = next(
        p
        for p in group_members(pid)
        if "http.server" in " ".join(psutil.Process(p).cmdline())
        and "grove.proc" not in " ".join(psutil.Process(p).cmdline())
        and psutil.Process(p).name().startswith("python")
    )
    os.kill(server, signal.SIGKILL)
    assert wait_until(
        lambda: grove("list", "--json").json["slots"][1]["services"][0]["state"] == "crashed"
    )
    state = grove("list", "--json").json["slots"][1]["services"][0]
    assert state["exit_code"] == 128 + signal.SIGKILL  # as the shell reports its child
    assert "web crashed" in grove("list").out
    again = grove("up", "1", "--json")
    assert again.json["services"][0]["changed"] is True
    assert again.json["services"][0]["pid"] != pid
    assert get(slot_ports(served, 1)["PORT"]) == 200


def test_a_reused_pid_is_never_taken_for_the_service(served: Path, grove) -> None:
    """A record whose pid now belongs to another program (another start time) is not the
    service: it shows as crashed, up starts a new one, down leaves the stranger alone."""
    stranger = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        record = served / ".git" / "grove" / "services" / "1" / "web.json"
        record.parent.mkdir(parents=True, exist_ok=True)
        record.write_text(
            json.dumps(
                {
                    "slot": 1,
                    "name": "web",
                    "pid": stranger.pid,
                    "pid_started": psutil.Process(stranger.pid).create_time() - 1000,
                    "port": slot_ports(served, 1)["PORT"],
                    "command": "x",
                    "started": 0,
                }
            )
        )
        assert grove("list", "--json").json["slots"][1]["services"][0]["state"] == "crashed"
        up = grove("up", "1", "--json")
        assert up.json["services"][0]["changed"] is True
        assert up.json["services"][0]["pid"] != stranger.pid
        grove("down", "1")
        assert stranger.poll() is None
    finally:
        stranger.kill()
        stranger.wait()


def test_two_ups_at_once_start_the_service_once(served: Path) -> None:
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "grove", "up", "1", "--json"],
            cwd=served,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    answers = [json.loads(p.communicate(timeout=120)[0]) for p in procs]
    assert all(p.returncode == 0 for p in procs)
    started = [a["services"][0] for a in answers if a["services"][0]["changed"]]
    assert len(started) == 1
    assert len({a["services"][0]["pid"] for a in answers}) == 1
    log = served / ".git" / "grove" / "logs" / "1" / "web.log"
    assert log.read_text().count("--- grove up") == 1


def test_a_service_that_exits_fails_with_its_log_tail(repo: Path, grove) -> None:
    write_config(
        repo, services_config(extra="bad = { run = \"sh -c 'echo cannot bind; exit 3'\" }\n")
    )
    grove("create")
    failed = grove("up", "1", "bad", "--json")
    assert failed.code == 1
    error = failed.json["error"]
    assert error["code"] == "service-failed"
    assert error["exit_code"] == 3
    assert error["tail"] == ["cannot bind"]
    assert grove("list", "--json").json["slots"][1]["services"][1]["state"] == "crashed"


def test_a_service_that_never_listens_is_stopped_after_its_timeout(repo: Path, grove) -> None:
    write_config(
        repo,
        '[services]\nweb = { run = "echo waiting; sleep 60", port = "PORT", ready_timeout = 1 }\n',
    )
    grove("create")
    failed = grove("up", "1", "--json")
    assert failed.code == 1
    assert "did not listen on port" in failed.json["error"]["message"]
    assert failed.json["error"]["tail"] == ["waiting"]
    pid = failed.json["error"].get("pid")
    assert grove("list", "--json").json["slots"][1]["services"][0]["state"] == "down"
    # Another user's `sleep 60` (a second suite on the machine) has an unreadable cwd: None.
    sleepers = [
        p for p in psutil.process_iter(["cmdline", "cwd"]) if p.info["cmdline"] == ["sleep", "60"]
    ]
    assert not [p for p in sleepers if p.info["cwd"] == str(repo.parent / "myproject-wt1")], pid


def test_up_refuses_a_port_another_process_holds(served: Path, grove) -> None:
    port = slot_ports(served, 1)["PORT"]
    squatter = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert wait_until(lambda: accepts(port))
        refused = grove("up", "1", "--json")
        assert refused.code == 1
        assert refused.json["error"]["port"] == port
        assert grove("list", "--json").json["slots"][1]["services"][0]["state"] == "down"
    finally:
        squatter.kill()
        squatter.wait()


def test_logs_show_the_tail_escape_control_characters_and_stay_capped(
    repo: Path, grove, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GROVE_SERVICE_LOG_CAP", "20000")
    noisy = (
        f'{sys.executable} -c \'import sys; [print(i, \\"x\\" * 100) for i in range(2000)];'
        f' print(\\"\\\\x1b]0;title\\\\x07done\\"); sys.stdout.flush()\''
    )
    write_config(repo, f'[services]\nnoisy = "{noisy}"\n')
    grove("create")
    grove("up", "1", "noisy")
    log = repo / ".git" / "grove" / "logs" / "1" / "noisy.log"
    assert wait_until(lambda: "done" in log.read_text(errors="replace"))
    assert log.stat().st_size <= 20000
    assert log.with_name("noisy.log.1").stat().st_size <= 20000
    shown = grove("logs", "1", "noisy", "--tail", "2")
    assert shown.code == 0
    assert shown.out.splitlines() == ["1999 " + "x" * 100, "\\x1b]0;title\\x07done"]
    as_json = grove("logs", "1", "noisy", "--tail", "1", "--json")
    assert as_json.json["lines"] == ["\x1b]0;title\x07done"]
    assert grove("logs", "1", "noisy", "-f", "--json").code == 2
    assert grove("logs", "1", "nosuch").code == 2
    grove("down", "1")


def test_unknown_service_and_unapproved_changes_are_refused(served: Path, grove) -> None:
    unknown = grove("up", "1", "nosuch", "--json")
    assert unknown.code == 2
    assert "web" in unknown.json["error"]["hint"]
    link = served.parent / "myproject-wt1" / ".env"
    with link.open("a") as handle:
        handle.write("PATH=/tmp/agent\n")
    refused = grove("up", "1", "--json")
    assert refused.code == 1
    assert refused.json["error"]["code"] == "unapproved"
    assert grove("list", "--json").json["slots"][1]["services"][0]["state"] == "down"


def test_the_service_sees_the_slots_environment(repo: Path, grove, tmp_path: Path) -> None:
    out = tmp_path / "seen.json"
    probe = tmp_path / "probe.py"
    probe.write_text(
        "import json, os, sys\n"
        "keys = ('PORT', 'GROVE_SLOT', 'API_KEY')\n"
        "json.dump({k: os.environ.get(k) for k in keys}, open(sys.argv[1] + '.tmp', 'w'))\n"
        "os.replace(sys.argv[1] + '.tmp', sys.argv[1])\n"
        "print(os.getcwd(), flush=True)\n"
        "import time; time.sleep(60)\n"
    )
    write_config(repo, f'[services]\nprobe = "{sys.executable} {probe} {out}"\n')
    assert grove("create").code == 0
    assert grove("up", "1", "probe").code == 0
    assert wait_until(out.exists)
    seen = json.loads(out.read_text())
    assert seen == {
        "PORT": str(slot_ports(repo, 1)["PORT"]),
        "GROVE_SLOT": "1",
        "API_KEY": "sk_test_devkey1234567890",
    }
    assert wait_until(lambda: str(repo.parent / "myproject-wt1") in grove("logs", "1", "probe").out)
    assert grove("down", "1").code == 0


def test_release_without_reset_leaves_the_service_warm_for_the_next_task(
    served: Path, grove
) -> None:
    up = grove("up", "1", "--json")
    pid = up.json["services"][0]["pid"]
    assert grove("take", "--label", "first", "--json").json["slot"] == 1
    assert grove("release", "1", "--label", "first").code == 0
    state = grove("list", "--json").json["slots"][1]["services"][0]
    assert (state["state"], state["pid"]) == ("up", pid)
    second = grove("take", "--label", "second", "--json")
    assert second.json["slot"] == 1
    assert get(slot_ports(served, 1)["PORT"]) == 200
