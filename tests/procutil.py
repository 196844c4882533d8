"""Real processes in tests: bounded waits, process groups, listening ports."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable

import psutil


def wait_until(check: Callable[[], bool], seconds: float = 10.0, step: float = 0.05) -> bool:
    """Poll check until it holds or seconds pass; never a timed assertion, only a bound."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(step)
    return bool(check())


def group_members(pgid: int) -> list[int]:
    """The running (not zombie) processes of one process group."""
    found = []
    for process in psutil.process_iter(["status"]):
        try:
            if process.info["status"] != psutil.STATUS_ZOMBIE and os.getpgid(process.pid) == pgid:
                found.append(process.pid)
        except (OSError, psutil.Error):
            continue
    return found


def accepts(port: int) -> bool:
    """Something accepts connections on 127.0.0.1:port."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False
