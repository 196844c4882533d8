"""An experiment for bench/speed.py, not a grove feature: `grove take` served by a resident
process that has grove's modules loaded, to measure what issue 16's take target would get
from one.

`serve SOCKET` imports the modules a take loads, then forks a child per request. The child
takes the caller's stdin, stdout and stderr (passed over the Unix socket), folder, argv and
environment, runs grove's own `main()`, and reports its exit code. `SOCKET ARGS...` is the
client: the per-call process that stands in for `grove ARGS...`. Only what a measurement
needs is here: one user, no version check, no stale-server handling, no signal forwarding.
"""

from __future__ import annotations

import os
import sys


def serve(path: str) -> None:
    import gc
    import importlib
    import signal
    import socket

    for name in MODULES:
        importlib.import_module(name)
    gc.freeze()  # the children share these pages instead of copying them on collection
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(path)
    listener.listen(16)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped by the kernel
    while True:
        conn, _ = listener.accept()
        payload, fds, _, _ = socket.recv_fds(conn, 1 << 20, 3)
        if os.fork() == 0:
            listener.close()
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)  # subprocess must wait for git
            conn.sendall(bytes([_child(payload, fds)]))
            os._exit(0)
        for fd in fds:
            os.close(fd)
        conn.close()


def _child(payload: bytes, fds: list[int]) -> int:
    import io

    for target, fd in enumerate(fds):
        os.dup2(fd, target)
        os.close(fd)
    cwd, count, *rest = payload.split(b"\0")
    argv = [arg.decode() for arg in rest[: int(count)]]
    os.chdir(cwd)
    os.environ.clear()
    os.environ.update(item.decode().split("=", 1) for item in rest[int(count) :] if item)
    sys.stdout = io.TextIOWrapper(io.FileIO(1, "w", closefd=False), write_through=True)
    sys.stderr = io.TextIOWrapper(io.FileIO(2, "w", closefd=False), write_through=True)
    from grove.cli import main

    return main(argv) & 0xFF


def call(path: str, argv: list[str]) -> int:
    # _socket, not socket: socket.py's import (enum, selectors) alone cost the client ~10 ms.
    import _socket

    client = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    client.connect(path)
    env = [f"{key}={value}".encode() for key, value in os.environ.items()]
    words = [os.getcwdb(), str(len(argv)).encode(), *map(os.fsencode, argv), *env]  # noqa: PTH109 (pathlib: ~8 ms)
    fds = b"".join(fd.to_bytes(4, sys.byteorder) for fd in (0, 1, 2))
    client.sendmsg([b"\0".join(words)], [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, fds)])
    code = client.recv(1)
    return code[0] if code else 3


MODULES = [
    "argparse",
    "json",
    "grove.cli",
    "grove.arguments",
    "grove.slots",
    "grove.lifecycle.headstart",
    "grove.commands.take",
    "grove.lifecycle.take",
    "grove.processes",
    "grove.steps",
    "grove.converge",
    "grove.approval",
    "grove.output",
]


if __name__ == "__main__":
    if sys.argv[1] == "serve":
        serve(sys.argv[2])
    else:
        sys.exit(call(sys.argv[1], sys.argv[2:]))
