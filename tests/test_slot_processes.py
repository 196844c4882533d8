"""The slot's processes stop with the task (issue 14, deliverable 2): real HTTP servers and
sleepers started in a slot's folder or on its ports make remove, switch and release --reset
refuse, naming them, until --force ends them; services stop and come back; take skips a
slot whose port a stranger holds; validate names crosswires and leftovers."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from conftest import grove_process, slot_ports, write_config
from grove import processes
from grove.slots import open_grove
from procutil import accepts, group_members, wait_until

SERVER = f"{sys.executable} -m http.server {{PORT}} --bind 127.0.0.1"
SLEEP = [sys.executable, "-c", "import time; time.sleep(120)"]

Spawn = Callable[..., subprocess.Popen[bytes]]


def server(port: int) -> list[str]:
    return [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"]


@pytest.fixture
def spawn() -> Iterator[Spawn]:
    """Start a process (waiting until it listens on `port`, when given); every one started,
    and its whole group when it leads one, is killed afterwards."""
    started: list[tuple[subprocess.Popen[bytes], bool]] = []

    def start(
        argv: list[str], cwd: Path, *, port: int | None = None, group: bool = False
    ) -> subprocess.Popen[bytes]:
        child = subprocess.Popen(
            argv,
            cwd=cwd,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=group,
        )
        started.append((child, group))
        if port is not None:
            assert wait_until(lambda: accepts(port) or child.poll() is not None), "never listened"
            assert child.poll() is None, f"exited with {child.returncode}"
        return child

    yield start
    for child, group in started:
        if group:
            with contextlib.suppress(OSError):
                os.killpg(child.pid, signal.SIGKILL)
        child.kill()
        child.wait()


@pytest.fixture
def two_slots(repo: Path, grove) -> Path:  # type: ignore[no-untyped-def]
    assert grove("create").code == 0
    assert grove("create").code == 0
    return repo


@pytest.fixture
def served(repo: Path, grove) -> Iterator[Path]:  # type: ignore[no-untyped-def]
    """A web service on PORT and one slot; every service stopped afterwards."""
    write_config(repo, f'[services]\nweb = {{ run = "{SERVER}", port = "PORT" }}\n')
    assert grove("create").code == 0
    yield repo
    for n in (1, 2):
        grove_process("down", str(n), cwd=repo)


def slot(repo: Path, n: int) -> Path:
    return repo.parent / f"myproject-wt{n}"


def test_remove_refuses_while_a_stranger_holds_a_slot_port_and_force_ends_it(
    two_slots: Path, grove, spawn: Spawn, tmp_path: Path
) -> None:
    port = slot_ports(two_slots, 1)["PORT"]
    stranger = spawn(server(port), tmp_path, port=port)  # in grove's own process group
    refused = grove("remove", "1", "--json")
    assert refused.code == 1
    error = refused.json["error"]
    assert error["code"] == "refused"
    assert f"pid {stranger.pid}" in error["message"]
    assert "http.server" in error["message"]
    (named,) = error["processes"]
    assert (named["pid"], named["ports"], named["in_slot"]) == (stranger.pid, [port], False)
    assert "(which also discards uncommitted work)" in error["hint"]
    assert slot(two_slots, 1).is_dir()

    forced = grove("remove", "1", "--force", "--json")
    assert forced.code == 0, forced.out + forced.err
    assert [p["pid"] for p in forced.json["ended"]] == [stranger.pid]
    assert stranger.wait(timeout=10) is not None  # it leads no group: only it was signalled
    assert not slot(two_slots, 1).exists()


def test_switch_refuses_while_a_process_works_in_the_slot_and_force_ends_its_group(
    two_slots: Path, grove, spawn: Spawn
) -> None:
    # A shell in its own group, whose child sleeps in the slot: --force must end both.
    nested = f"{sys.executable} -c 'import time; time.sleep(120)' & wait"
    shell = spawn(["sh", "-c", nested], slot(two_slots, 1), group=True)
    assert wait_until(lambda: len(group_members(shell.pid)) >= 2)
    refused = grove("switch", "1", "topic", "--json")
    assert refused.code == 1
    assert f"pid {shell.pid}" in refused.json["error"]["message"]
    assert "cwd in the slot" in refused.json["error"]["message"]
    assert refused.json["error"]["hint"].endswith("`grove switch 1 topic --force` to end them")

    switched = grove("switch", "1", "topic", "--force", "--json")
    assert switched.code == 0, switched.out + switched.err
    assert shell.pid in [p["pid"] for p in switched.json["ended"]]
    assert wait_until(lambda: not group_members(shell.pid))
    assert switched.json["branch"] == "topic"


def test_release_reset_refuses_a_stranger_then_force_ends_it_and_services_come_back(
    served: Path, grove, spawn: Spawn
) -> None:
    ports = slot_ports(served, 1)
    up = grove("up", "1", "--json")
    assert up.code == 0, up.out + up.err
    before = up.json["services"][0]["pid"]
    # A hand-started server in the slot's folder, on another of the slot's ports.
    stranger = spawn(
        server(ports["MAILPIT_UI_PORT"]), slot(served, 1), port=ports["MAILPIT_UI_PORT"]
    )
    refused = grove("release", "1", "--reset", "--json")
    assert refused.code == 1
    (named,) = refused.json["error"]["processes"]  # the service is not named: it is the slot's
    assert named["pid"] == stranger.pid
    assert named["reasons"] == [f"port {ports['MAILPIT_UI_PORT']}", "cwd in the slot"]
    assert accepts(ports["PORT"])  # a refused reset stopped nothing

    reset = grove("release", "1", "--reset", "--force", "--json")
    assert reset.code == 0, reset.out + reset.err
    done = reset.json["reset"]
    assert [p["pid"] for p in done["ended"]] == [stranger.pid]
    assert (done["stopped"], done["restarted"], done["restart_failed"]) == (["web"], ["web"], {})
    assert stranger.wait(timeout=10) is not None
    (web,) = grove("list", "--json").json["slots"][1]["services"]
    assert (web["state"], web["port"]) == ("up", ports["PORT"])
    assert web["pid"] != before  # stopped through the reset, then started again
    with urllib.request.urlopen(f"http://127.0.0.1:{ports['PORT']}/", timeout=5) as response:
        assert response.status == 200


def test_remove_and_switch_stop_the_slots_services(served: Path, grove) -> None:
    assert grove("create").code == 0
    for n in (1, 2):
        assert grove("up", str(n)).code == 0
    leaders = [
        s["pid"] for n in (1, 2) for s in grove("list", "--json").json["slots"][n]["services"]
    ]

    switched = grove("switch", "1", "topic", "--json")
    assert switched.code == 0, switched.out + switched.err
    assert (switched.json["stopped"], switched.json["ended"]) == (["web"], [])
    assert wait_until(lambda: not group_members(leaders[0]))

    removed = grove("remove", "2", "--json")
    assert removed.code == 0, removed.out + removed.err
    assert removed.json["stopped"] == ["web"]
    assert wait_until(lambda: not group_members(leaders[1]))
    assert not accepts(slot_ports(served, 2)["PORT"])  # nothing answers from a deleted folder


def test_the_callers_own_shell_in_the_slot_does_not_count(two_slots: Path) -> None:
    """An agent's shell works inside its slot: it runs grove, and is never refused for it."""
    ran = subprocess.run(
        ["sh", "-c", f"{sys.executable} -m grove release 1 --reset --json; exit $?"],
        cwd=slot(two_slots, 1),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert ran.returncode == 0, ran.stdout + ran.stderr


def test_take_skips_a_slot_whose_port_a_stranger_holds(
    two_slots: Path, grove, spawn: Spawn, tmp_path: Path
) -> None:
    port = slot_ports(two_slots, 1)["PORT"]
    stranger = spawn(server(port), slot(two_slots, 1), port=port)
    taken = grove("take", "--json")
    assert taken.code == 0, taken.out + taken.err
    assert taken.json["slot"] == 2
    assert f"slot 1 is free but port {port} (PORT) is held by pid {stranger.pid}" in taken.err


def test_take_hands_out_a_slot_whose_port_its_own_service_holds(served: Path, grove) -> None:
    assert grove("up", "1").code == 0
    taken = grove("take", "--json")
    assert taken.code == 0, taken.out + taken.err
    assert taken.json["slot"] == 1  # the warm server is the point of an evergreen slot
    assert "skipping" not in taken.err


def findings(result: object, check: str) -> list[dict[str, object]]:
    return [f for f in result.json["findings"] if f["check"] == check]  # type: ignore[attr-defined]


def test_validate_names_a_crosswire_from_either_slot(two_slots: Path, grove, spawn: Spawn) -> None:
    port = slot_ports(two_slots, 2)["PORT"]
    # Slot 1's code, started by hand, read main's or slot 2's env and listens on its port.
    crossed = spawn(server(port), slot(two_slots, 1), port=port)
    everything = grove("validate", "--json")
    assert everything.code == 1
    (finding,) = findings(everything, "ports.crosswire")
    assert (finding["slot"], finding["level"]) == (2, "error")
    assert f"pid {crossed.pid}" in str(finding["message"])
    assert "http.server" in str(finding["message"])
    assert "slot 1's folder" in str(finding["message"])
    # From inside slot 1, where the agent that started it validates its own slot.
    own = grove("validate", "--json", cwd=slot(two_slots, 1))
    assert [f["slot"] for f in findings(own, "ports.crosswire")] == [1]
    assert own.code == 1


def test_validate_is_quiet_about_a_held_slots_own_server(
    two_slots: Path, grove, spawn: Spawn
) -> None:
    assert grove("take", "--label", "task").code == 0  # slot 1 is held
    port = slot_ports(two_slots, 1)["PORT"]
    spawn(server(port), slot(two_slots, 1), port=port)
    result = grove("validate", "--json")
    assert [f for f in result.json["findings"] if f["check"].startswith("ports.")] == []


def test_validate_warns_about_a_leftover_server_on_a_free_slot(
    two_slots: Path, grove, spawn: Spawn
) -> None:
    port = slot_ports(two_slots, 1)["PORT"]
    left = spawn(server(port), slot(two_slots, 1), port=port)
    result = grove("validate", "--json")
    (finding,) = findings(result, "ports.leftover")
    assert (finding["slot"], finding["level"]) == (1, "warning")
    assert f"pid {left.pid}" in str(finding["message"])
    assert "http.server" in str(finding["message"])
    assert findings(result, "ports.crosswire") == []


def test_a_free_slots_service_is_no_leftover(served: Path, grove) -> None:
    assert grove("up", "1").code == 0
    result = grove("validate", "1", "--json")
    assert [f for f in result.json["findings"] if f["check"].startswith("ports.")] == []


def test_proc_and_psutil_find_the_same_processes(
    two_slots: Path, spawn: Spawn, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The /proc reader (Linux) and psutil (elsewhere) agree, and both leave out the caller."""
    if not processes.LINUX:
        pytest.skip("/proc is Linux's")
    ports = slot_ports(two_slots, 2)
    listener = spawn(server(ports["PORT"]), slot(two_slots, 1), port=ports["PORT"])
    sleeper = spawn(SLEEP, slot(two_slots, 2))
    monkeypatch.chdir(slot(two_slots, 2))  # this process works in slot 2 too: never counted
    grove_obj = open_grove(two_slots)

    def found() -> dict[int, list[tuple[int, tuple[int, ...], bool]]]:
        scan = processes.scan(grove_obj, [1, 2])
        return {n: sorted((p.pid, p.ports, p.in_slot) for p in scan.of(n)) for n in (1, 2)}

    by_proc = found()
    assert by_proc == {
        1: [(listener.pid, (), True)],
        2: sorted([(listener.pid, (ports["PORT"],), False), (sleeper.pid, (), True)]),
    }
    monkeypatch.setattr(processes, "LINUX", False)
    assert found() == by_proc
    # sock_diag, and the /proc/net tables read where it is not available, agree too.
    watched = set(ports.values())
    by_netlink = processes._listening_by_netlink(watched)
    assert sorted(by_netlink.values()) == [ports["PORT"]]
    assert processes._listening_by_table(watched) == by_netlink


def test_a_process_is_named_with_its_folder_until_it_is_gone(tmp_path: Path) -> None:
    """name_and_cwd, which tells a cluster's postmaster from a reused pid."""
    child = subprocess.Popen(["sleep", "120"], cwd=tmp_path)
    try:
        # Until its exec, the child is a copy of this Python: wait for sleep itself.
        expected = ("sleep", str(tmp_path))
        assert wait_until(lambda: processes.name_and_cwd(child.pid) == expected)
    finally:
        child.kill()
        child.wait()
    assert processes.name_and_cwd(child.pid) is None
