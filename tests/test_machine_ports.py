"""The suite does not depend on the machine's ports: a developer's own servers on the seed's
3000 + N and 5434 + N (the zero-config table) never fail a test."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import TEST_PORTS_MARK, slot_ports, write_config
from grove import config

# Slot 1's PORT and DB_PORT under the seed's table: the ports a developer's dev server and
# database of their first worktree listen on.
SEED_SLOT_1 = (3001, 5435)


@contextlib.contextmanager
def listening_on(*ports: int) -> Iterator[list[int]]:
    """Listen on each port on 127.0.0.1, like another project's servers would. A port someone
    else already holds is busy anyway, which is the point: it is left to them."""
    held: list[socket.socket] = []
    try:
        for port in ports:
            server = socket.socket()
            server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                server.bind(("127.0.0.1", port))
            except OSError:
                server.close()
                continue
            server.listen()
            held.append(server)
        yield [s.getsockname()[1] for s in held]
    finally:
        for server in held:
            server.close()


def test_busy_seed_ports_do_not_reach_the_tests_repositories(repo: Path, grove) -> None:
    with listening_on(*SEED_SLOT_1):
        created = grove("create", "--json")
        assert created.code == 0, created.out + created.err
        ports = created.json["ports"]
        assert ports == slot_ports(repo, 1)
        assert not set(ports.values()) & set(SEED_SLOT_1)

        listed = grove("list", "--json")
        assert listed.code == 0, listed.out + listed.err
        rows = {row["slot"]: row for row in listed.json["slots"]}
        assert sorted(rows) == [0, 1]
        for row in rows.values():
            assert not any(p["listening"] for p in row["ports"].values()), row["ports"]

        validated = grove("validate", "--all", "--json")
        assert validated.code == 0, validated.out
        assert validated.json["ok"] is True
        assert not [f for f in validated.json["findings"] if f["check"].startswith("ports.")]

        env = grove("env", "1", "--json")
        assert env.code == 0, env.err
        assert env.json["ports"] == ports
        assert env.json["env"]["PORT"] == str(ports["PORT"])


def test_write_config_adds_the_free_table_only_where_none_is_given(repo: Path) -> None:
    table = slot_ports(repo, 0)
    assert set(table) == set(config.DEFAULT_PORTS)
    assert not set(table.values()) & set(config.DEFAULT_PORTS.values())

    # A config change without [ports] keeps the repository's table, so slots keep their ports.
    write_config(repo, "[grove]\nslots = 2\n")
    assert config.load(repo).slots == 2
    assert slot_ports(repo, 0) == table

    # A test that states its own [ports] gets exactly those.
    write_config(repo, "[ports]\nPORT = 45000\n")
    text = (repo / "grove.toml").read_text()
    assert text == "[ports]\nPORT = 45000\n"
    assert TEST_PORTS_MARK not in text
    assert slot_ports(repo, 1) == {"PORT": 45001}


def test_zero_config_is_opt_in(bare_repo: Path) -> None:
    assert not (bare_repo / "grove.toml").exists()
    assert config.load(bare_repo).ports_for(1) == {
        name: base + 1 for name, base in config.DEFAULT_PORTS.items()
    }


@pytest.mark.parametrize("text", ["", "[grove]\nslots = 4", "[env]\nshared = ['.env']\n"])
def test_the_added_table_always_parses(bare_repo: Path, text: str) -> None:
    write_config(bare_repo, text)
    loaded = config.load(bare_repo)
    assert set(loaded.ports_for(0)) == set(config.DEFAULT_PORTS)
