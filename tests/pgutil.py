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


def grove_password(inside: Path | None = None) -> str | None:
    """The database password of the repository around `inside` (default: the current
    folder), as grove keeps it for cluster mode; None when it has none."""
    try:
        common = subprocess.run(
            ["git", "rev-parse", "--path-format=absolute", "--git-common-dir"],
            cwd=inside or Path.cwd(),
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except subprocess.CalledProcessError:
        return None
    try:
        return (Path(common) / "grove" / "pg" / "password").read_text().strip()
    except FileNotFoundError:
        return None


def query(
    port: int,
    sql: str,
    dbname: str = "app",
    host: str = "127.0.0.1",
    password: str | None = None,
) -> list[tuple]:
    """Run sql as postgres; the password defaults to the current repository's (grove's
    clusters take nothing else)."""
    import psycopg

    with psycopg.connect(
        host=host,
        port=port,
        user="postgres",
        password=password or grove_password(),
        dbname=dbname,
        autocommit=True,
    ) as conn:
        cursor = conn.execute(sql)
        return cursor.fetchall() if cursor.description else []


def postgres_serving(data: Path) -> list[int]:
    """pids of live postmasters (not their backends, not zombies) serving `data`."""
    import psutil

    found = []
    for process in psutil.process_iter(["name", "cwd", "status", "ppid"]):
        try:
            info = process.info
            if "postgres" not in (info["name"] or "") or info["cwd"] != str(data):
                continue
            if info["status"] == psutil.STATUS_ZOMBIE:
                continue
            parent = psutil.Process(info["ppid"])
            if "postgres" in parent.name() and parent.cwd() == str(data):
                continue  # a backend of that postmaster
            found.append(process.pid)
        except psutil.Error:
            continue
    return found


def postgres_under(root: Path) -> list[int]:
    """pids of live postgres processes whose working directory is inside root, including
    one whose folder was deleted under it (Linux shows it as `<path> (deleted)`)."""
    import psutil

    found = []
    for process in psutil.process_iter(["name", "cwd", "status"]):
        try:
            info = process.info
            if "postgres" not in (info["name"] or "") or not info["cwd"]:
                continue
            if info["status"] == psutil.STATUS_ZOMBIE:
                continue
            if info["cwd"] == str(root) or info["cwd"].startswith(str(root) + os.sep):
                found.append(process.pid)
        except psutil.Error:
            continue
    return found


def gone(pid: int, wait: float = 0.0) -> bool:
    """The process has exited (a zombie counts as exited), waiting up to `wait` seconds."""
    import psutil

    deadline = time.monotonic() + wait
    while True:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)


def start_server(data: Path, bin_dir: Path) -> int:
    """initdb and start a PostgreSQL on a free port (loopback, trust, no Unix socket), the
    way a user's own server or a leftover of grove's would run; returns its port."""
    subprocess.run(
        [str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "--no-sync"],
        check=True,
        capture_output=True,
    )
    port = free_port_base(1)
    subprocess.run(
        [
            str(bin_dir / "pg_ctl"),
            "-D",
            str(data),
            "-w",
            "-l",
            str(data.parent / f"{data.name}.log"),
            "-o",
            f"-p {port} -k '' -c listen_addresses=127.0.0.1",
            "start",
        ],
        check=True,
        capture_output=True,
    )
    return port


def stop_server(data: Path, bin_dir: Path) -> None:
    subprocess.run(
        [str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"],
        check=False,
        capture_output=True,
    )


class HeldLock:
    """An flock on `path` held by another process (fsio's locks are re-entrant within one
    process, so only another process can make grove wait or back off)."""

    SCRIPT = (
        "import fcntl, os, sys\n"
        "fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o644)\n"
        "fcntl.flock(fd, fcntl.LOCK_EX)\n"
        "print('locked', flush=True)\n"
        "sys.stdin.read()\n"
    )

    def __init__(self, path: Path) -> None:
        import sys

        path.parent.mkdir(parents=True, exist_ok=True)
        self.child = subprocess.Popen(
            [sys.executable, "-c", self.SCRIPT, str(path)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.child.stdout is not None
        assert self.child.stdout.readline().strip() == "locked"

    def release(self) -> None:
        if self.child.stdin and not self.child.stdin.closed:
            self.child.stdin.close()
        self.child.wait(timeout=30)

    def __enter__(self) -> HeldLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
