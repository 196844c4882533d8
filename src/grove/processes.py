"""The slot's processes (DESIGN.md): besides its services, any process that listens on one of
the slot's ports or has its working directory inside the slot's folder. Read-only: this
module finds them; the lifecycle layer decides what to do about them.

One pass over the listening sockets and one over the processes, for any number of slots at
once. On Linux both read /proc directly: importing psutil alone costs ~40 ms, and `take`
looks at every free slot. Elsewhere psutil does the same two passes.

Processes of other users may be unreadable (their working directory, their sockets): they
are skipped, and a slot port held by a process nobody lets us see is reported as unseen.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Collection
from pathlib import Path, PurePath

from grove.record import field, record
from grove.slots import Grove
from grove.state import leases
from grove.state import services as service_records

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing
if TYPE_CHECKING:
    from typing import Any

COMMAND_CHARS = 160  # a command line is named, not reproduced: a runaway one stays short
LINUX = sys.platform.startswith("linux")

# (pid, working directory when readable, the watched ports it listens on)
_Seen = tuple[int, str | None, set[int]]


@record(frozen=True)
class SlotProcess:
    """A process of slot `slot` that is not one of its services."""

    slot: int
    pid: int
    command: str
    ports: tuple[int, ...] = ()  # the slot's ports it listens on
    cwd: str | None = None  # its working directory, when readable
    in_slot: bool = False  # that directory is inside the slot's folder
    home: int | None = None  # the slot whose folder holds that directory, if any

    @property
    def reasons(self) -> list[str]:
        why = [f"port {port}" for port in self.ports]
        if self.in_slot:
            why.append("cwd in the slot")
        return why

    def describe(self) -> str:
        return f"pid {self.pid} ({self.command}): {', '.join(self.reasons)}"

    def as_json(self) -> dict[str, Any]:
        return {
            "pid": self.pid,
            "command": self.command,
            "ports": list(self.ports),
            "cwd": self.cwd,
            "in_slot": self.in_slot,
            "reasons": self.reasons,
        }


@record
class Found:
    processes: dict[int, list[SlotProcess]] = field(default_factory=dict)
    # Per slot, its ports that something listens on although no visible process holds them
    # (another user's process: the OS does not say whose).
    unseen: dict[int, list[int]] = field(default_factory=dict)

    def of(self, n: int) -> list[SlotProcess]:
        return self.processes.get(n, [])


def scan(grove: Grove, slots: Collection[int], *, cwd: bool = True) -> Found:
    """The processes of each slot in `slots` that are not its services, this process or one
    of its ancestors (an agent's own shell works inside the slot), nor the slot's database.
    With cwd=False only the port holders are looked for (what take needs)."""
    wanted = sorted(set(slots))
    port_slots: dict[int, list[int]] = {}  # two slots share a port only in a broken table
    for n in wanted:
        for port in grove.config.ports_for(n).values():
            port_slots.setdefault(port, []).append(n)
    places = _places(grove, wanted)

    def interesting(where: str) -> bool:
        kind, n = _place_of(where, places)
        return kind == "slot" and n in wanted

    seen, unseen_ports = (_walk_proc if LINUX else _walk_psutil)(set(port_slots), cwd, interesting)
    found = Found()
    for port in sorted(unseen_ports):
        for n in port_slots[port]:
            found.unseen.setdefault(n, []).append(port)
    if not seen:
        return found
    groups = _service_groups(grove, wanted)
    mine: set[int] | None = None  # psutil, imported only when something is found
    for pid, seen_cwd, held in sorted(seen):
        # A port holder's folder says whether it is a database, or which slot it runs in.
        where = seen_cwd if seen_cwd is not None or not held else _cwd(pid)
        kind, home = _place_of(where, places) if where is not None else ("", None)
        group = _group(pid)
        if group is None:
            continue  # gone since the pass
        for n in wanted:
            ports = tuple(sorted(p for p in held if n in port_slots[p]))
            in_slot = kind == "slot" and home == n
            if not ports and not in_slot:
                continue
            if groups.get(group) == n or (kind == "db" and home == n):
                continue  # the slot's own service or database
            if mine is None:
                mine = leases.caller_pids()
            if pid in mine:
                break
            found.processes.setdefault(n, []).append(
                SlotProcess(
                    n,
                    pid,
                    command_of(pid),
                    ports,
                    where,
                    in_slot,
                    home if kind == "slot" else None,
                )
            )
    return found


def command_of(pid: int) -> str:
    """pid's command line, cut to COMMAND_CHARS ("?" when it cannot be read)."""
    text = ""
    if LINUX:
        try:
            with Path(f"/proc/{pid}/cmdline").open("rb") as handle:
                raw = handle.read(COMMAND_CHARS * 4)
            text = " ".join(part.decode("utf-8", "replace") for part in raw.split(b"\0") if part)
            if not text:  # a kernel thread, or a zombie: only its name is left
                name = Path(f"/proc/{pid}/comm").read_bytes().decode("utf-8", "replace")
                text = f"[{name.strip()}]"
        except OSError:
            text = ""
    else:
        import psutil

        try:
            process = psutil.Process(pid)
            text = " ".join(process.cmdline()) or f"[{process.name()}]"
        except psutil.Error:
            text = ""
    if len(text) > COMMAND_CHARS:
        text = text[: COMMAND_CHARS - 3] + "..."
    return text or "?"


def locator(grove: Grove, slots: Collection[int]) -> Callable[[str], tuple[str, int | None]]:
    """Where a working directory is: ("slot", n) inside slot n's folder, ("db", n) inside
    slot n's database folder, ("grove", None) elsewhere in grove's state, ("", None) anywhere
    else. The innermost folder wins, so a slot nested inside main is that slot."""
    places = _places(grove, slots)
    return lambda path: _place_of(path, places)


def service_groups(grove: Grove, slots: Collection[int]) -> dict[int, int]:
    """The process group of each running service of these slots (its supervisor leads it),
    mapped to the slot."""
    return _service_groups(grove, sorted(set(slots)))


def group_of(pid: int) -> int | None:
    return _group(pid)


def _service_groups(grove: Grove, slots: list[int]) -> dict[int, int]:
    groups: dict[int, int] = {}
    for n in slots:
        for name in service_records.recorded_names(grove.state_dir, n):
            record = service_records.read(grove.state_dir, n, name)
            if record is not None and record.alive:
                groups[record.pid] = n
    return groups


def _places(grove: Grove, slots: Collection[int]) -> dict[str, tuple[str, int | None]]:
    """Every slot's folder (not only the slots asked about: a process in another slot's
    folder is that slot's) and grove's state folder, where the databases run.

    Only these, grove's own paths, are resolved: the kernel reports a working directory with
    its links resolved already. A process's directory is matched as reported, never followed
    through a link, so a link planted in a slot cannot make an outside process the slot's."""
    numbers = {*range(grove.config.slots), *grove.adopted, *slots}
    places: dict[str, tuple[str, int | None]] = {
        os.path.realpath(grove.slot_path(n)): ("slot", n) for n in sorted(numbers)
    }
    state = os.path.realpath(grove.state_dir)
    places[state] = ("grove", None)
    for n in sorted(numbers):
        places[str(Path(state, "pg", f"slot-{n}"))] = ("db", n)
    return places


def _place_of(path: str, places: dict[str, tuple[str, int | None]]) -> tuple[str, int | None]:
    """Walks up from path, so the cost is its depth, whatever the number of slots."""
    current = PurePath(path)
    if not current.is_absolute():
        return ("", None)
    for folder in (current, *current.parents):
        place = places.get(str(folder))
        if place is not None:
            return place
    return ("", None)


def name_and_cwd(pid: int) -> tuple[str, str] | None:
    """pid's name and working directory; None when it is gone (a zombie included) or not
    ours to read. On Linux from /proc: psutil's import alone was 6-10 ms of a take."""
    if LINUX:
        try:
            name = Path(f"/proc/{pid}/comm").read_text(encoding="utf-8", errors="replace")
        except OSError:
            return None
        where = _readlink(f"/proc/{pid}/cwd")
        return None if where is None else (name.strip(), where)
    import psutil

    try:
        process = psutil.Process(pid)
        return process.name(), str(process.cwd())
    except (psutil.Error, OSError):
        return None


def _group(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except OSError:
        return None


def _cwd(pid: int) -> str | None:
    if LINUX:
        return _readlink(f"/proc/{pid}/cwd")
    import psutil

    try:
        return str(psutil.Process(pid).cwd())
    except psutil.Error:
        return None


def _readlink(path: str) -> str | None:
    try:
        # The link's own text, never followed: a str, as the places are.
        return os.readlink(path)  # noqa: PTH115
    except OSError:
        return None  # gone, or another user's process: not ours to read


def _walk_proc(
    ports: set[int], want_cwd: bool, interesting: Callable[[str], bool]
) -> tuple[list[_Seen], set[int]]:
    """Linux: the listening sockets from /proc/net/tcp{,6}, matched to processes by inode
    in one pass over /proc that also reads each working directory."""
    inodes = _listening_inodes(ports)
    if not inodes and not want_cwd:
        return [], set()
    matched: set[int] = set()
    seen: list[_Seen] = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        pid = int(entry.name)
        where = _readlink(f"/proc/{pid}/cwd") if want_cwd else None
        if where is not None and not interesting(where):
            where = None
        held: set[int] = set()
        if inodes:
            for inode in _socket_inodes(pid):
                port = inodes.get(inode)
                if port is not None:
                    held.add(port)
                    matched.add(inode)
        if held or where is not None:
            seen.append((pid, where, held))
    return seen, {port for inode, port in inodes.items() if inode not in matched}


def listening(ports: Collection[int]) -> set[int]:
    """Which of these TCP ports something listens on, whoever's process it is. On Linux the
    kernel's own socket table answers (no psutil, no walk of every connection)."""
    wanted = set(ports)
    if LINUX:
        return set(_listening_inodes(wanted).values())
    from grove import ports as port_table

    return wanted & set(port_table.listeners())


def _listening_inodes(ports: set[int]) -> dict[int, int]:
    """{socket inode: port} of the TCP sockets listening on these ports, IPv4 and IPv6."""
    try:
        return _listening_by_netlink(ports)
    except OSError:
        return _listening_by_table(ports)  # sock_diag not available (an old or locked kernel)


# sock_diag (what `ss` uses): the kernel returns only listening sockets. Reading
# /proc/net/tcp instead costs ~4 ms per table however few sockets there are, because the
# kernel walks its whole connection hash to print it.
_NETLINK_SOCK_DIAG = 4
_SOCK_DIAG_BY_FAMILY = 20
_NLM_F_REQUEST_DUMP = 0x1 | 0x300
_NLMSG_ERROR, _NLMSG_DONE = 2, 3
_TCP_LISTEN = 10


def _listening_by_netlink(ports: set[int]) -> dict[int, int]:
    # _socket, the C type behind socket.socket: one netlink query needs none of socket.py's
    # layer, whose import (selectors, its enums) cost 3-5 ms of every `list` and `take`.
    import _socket as socket
    import struct

    found: dict[int, int] = {}
    link = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, _NETLINK_SOCK_DIAG)
    try:
        for seq, family in enumerate((socket.AF_INET, socket.AF_INET6), start=1):
            # inet_diag_req_v2: family, protocol, ext, pad, states; then a zeroed sockid.
            request = struct.pack("=BBBBI", family, socket.IPPROTO_TCP, 0, 0, 1 << _TCP_LISTEN)
            request += bytes(48)
            header = struct.pack(
                "=IHHII", 16 + len(request), _SOCK_DIAG_BY_FAMILY, _NLM_F_REQUEST_DUMP, seq, 0
            )
            link.sendall(header + request)
            done = False
            while not done:
                data = link.recv(65536)
                offset = 0
                while offset + 16 <= len(data):
                    length, kind, _, _, _ = struct.unpack_from("=IHHII", data, offset)
                    if length < 16:
                        raise OSError("sock_diag: a malformed answer")
                    if kind == _NLMSG_DONE:
                        done = True
                        break
                    if kind == _NLMSG_ERROR:
                        if family == socket.AF_INET6:
                            done = True  # no IPv6 here: no IPv6 listeners either
                            break
                        raise OSError("sock_diag refused the request")
                    if length < 16 + 72:
                        raise OSError("sock_diag: a short answer")
                    body = offset + 16  # inet_diag_msg: sport at 4 (big-endian), inode at 68
                    port = struct.unpack_from(">H", data, body + 4)[0]
                    inode = struct.unpack_from("=I", data, body + 68)[0]
                    if port in ports and inode:
                        found[inode] = port
                    offset += (length + 3) & ~3
                if not data:
                    raise OSError("sock_diag: the answer ended early")
    finally:
        link.close()
    return found


def _listening_by_table(ports: set[int]) -> dict[int, int]:
    found: dict[int, int] = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text(encoding="ascii", errors="replace").splitlines()[1:]
        except OSError:
            continue  # no IPv6 on this machine
        for line in lines:
            fields = line.split()
            if len(fields) < 10 or fields[3] != "0A":  # 0A: TCP_LISTEN
                continue
            try:
                port = int(fields[1].rpartition(":")[2], 16)
                inode = int(fields[9])
            except ValueError:
                continue
            if port in ports and inode:
                found[inode] = port
    return found


def _socket_inodes(pid: int) -> list[int]:
    try:
        fds = list(os.scandir(f"/proc/{pid}/fd"))
    except OSError:
        return []  # another user's process: its sockets stay unseen
    inodes: list[int] = []
    for fd in fds:
        link = _readlink(fd.path)
        if link is not None and link.startswith("socket:["):
            try:
                inodes.append(int(link[8:-1]))
            except ValueError:
                continue
    return inodes


def _walk_psutil(
    ports: set[int], want_cwd: bool, interesting: Callable[[str], bool]
) -> tuple[list[_Seen], set[int]]:
    """Elsewhere: the same two passes through psutil."""
    import psutil

    held: dict[int, set[int]] = {}
    unseen: set[int] = set()
    try:
        connections = psutil.net_connections(kind="tcp") if ports else []
    except (psutil.AccessDenied, OSError):
        connections = []  # macOS lists other processes' sockets only to root
    for conn in connections:
        if conn.status != psutil.CONN_LISTEN or not conn.laddr or conn.laddr.port not in ports:
            continue
        if conn.pid is None:
            unseen.add(conn.laddr.port)
        else:
            held.setdefault(conn.pid, set()).add(conn.laddr.port)
    seen: list[_Seen] = []
    if want_cwd:
        # An unreadable cwd (another user's process) comes back as None and is skipped.
        for process in psutil.process_iter(["cwd"]):
            where = process.info.get("cwd")
            where = where if where and interesting(where) else None
            ports_held = held.pop(process.pid, set())
            if where is not None or ports_held:
                seen.append((process.pid, where, ports_held))
    seen += [(pid, None, ports_held) for pid, ports_held in held.items()]
    return seen, unseen
