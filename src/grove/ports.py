"""The port table and who is listening on a port."""

from __future__ import annotations

from grove.record import record


@record(frozen=True)
class Listener:
    port: int
    pid: int | None
    program: str | None
    cwd: str | None


def listeners() -> dict[int, list[Listener]]:
    """Listening TCP ports on this machine, with the process where the OS lets us see it.

    Other users' processes show no pid without privileges; the port is still reported.
    """
    import psutil

    found: dict[int, list[Listener]] = {}
    try:
        connections = psutil.net_connections(kind="tcp")
    except (psutil.AccessDenied, OSError):
        return found
    for conn in connections:
        if conn.status != psutil.CONN_LISTEN or not conn.laddr:
            continue
        port = conn.laddr.port
        program = cwd = None
        if conn.pid is not None:
            try:
                process = psutil.Process(conn.pid)
                program = process.name()
                cwd = process.cwd()
            except (psutil.Error, OSError):
                pass
        entry = Listener(port, conn.pid, program, cwd)
        if entry not in found.get(port, []):
            found.setdefault(port, []).append(entry)
    return found
