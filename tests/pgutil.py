"""Helpers for tests that run real PostgreSQL servers (never as root)."""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest


def require_unprivileged() -> None:
    if os.geteuid() == 0:
        message = "PostgreSQL refuses to run as root; .ci/run runs the suite as a normal user"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


def port_free(port: int) -> bool:
    """Nobody listens on port. SO_REUSEADDR, as servers bind: a TIME_WAIT left by a closed
    client connection does not count as taken, a listener does."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port_base(width: int) -> int:
    """A base port with `width` free ports after it, picked at random to avoid other runs."""
    rng = random.Random()
    for _ in range(200):
        base = rng.randrange(20000, 60000, 10)
        if all(port_free(base + i) for i in range(width)):
            return base
    raise RuntimeError("no free port range found")


def stop_all_clusters(root: Path, bin_dir: Path) -> None:
    """Stop every PostgreSQL a test started under root (teardown; never leaves servers)."""
    for pid_file in root.rglob("postmaster.pid"):
        data = pid_file.parent
        subprocess.run(
            [str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"],
            capture_output=True,
            check=False,
        )


def kill_postmaster(data: Path) -> int:
    pid = int((data / "postmaster.pid").read_text().splitlines()[0])
    os.kill(pid, signal.SIGKILL)
    import psutil

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        alive = []
        for process in psutil.process_iter(["cwd", "pid"]):
            try:
                if process.info["cwd"] and Path(process.info["cwd"]) == data:
                    alive.append(process.pid)
            except psutil.Error:
                continue
        if not alive:
            return pid
        time.sleep(0.1)
    raise RuntimeError(f"postgres children of {pid} did not exit")


def query(port: int, sql: str, dbname: str = "app", host: str = "127.0.0.1") -> list[tuple]:
    import psycopg

    with psycopg.connect(
        host=host, port=port, user="postgres", dbname=dbname, autocommit=True
    ) as conn:
        cursor = conn.execute(sql)
        return cursor.fetchall() if cursor.description else []
