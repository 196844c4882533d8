"""`grove env`'s answers, kept with the stats of every file they were computed from.

Agents ask for a slot's environment on nearly every step, and computing it needs git, TOML,
pathlib and the dotenv reader: 40-60 ms, four times the interpreter's own start. An answer
here is reused only while nothing it was computed from changed: the same folder, the same
arguments, the same git and grove variables, and for every input file the same inode, size,
mtime and ctime (ctime cannot be set from user space, so any write changes it). A file
changed within the last few seconds is never recorded (a second change within the same
clock tick could otherwise look unchanged), and --reveal is never cached: no value that is
masked on screen is ever written here.

`lookup` is the fast path: it runs before anything else is imported, so it uses os and sys
only (no pathlib, json or hashing module: each costs milliseconds to load) and answers None
on anything unexpected, leaving the work to the normal path. `store` runs on that normal
path, after a successful answer.
"""

from __future__ import annotations

import os
import stat
import sys

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing
if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

MAGIC = b"grove-env-cache 1\n"
FOLDER = "cache"  # under .git/grove
SLOTS = 32  # answers kept per repository: the name is a hash of the question, modulo this
MAX_BYTES = 1 << 20  # a bigger answer is computed each time rather than kept
SETTLED_NS = 3_000_000_000  # a file younger than this may still change within its tick
OFF = "GROVE_NO_CACHE"  # set (to anything) to compute every answer afresh
# git's own lookup of the repository reads these; grove drops them before running git, but
# a changed one still means "not the question that was answered".
_ASKED_VARS = ("HOME", "XDG_CONFIG_HOME", "XDG_STATE_HOME")
_ASKED_PREFIXES = ("GIT_", "GROVE_")

# output.safe's set, without loading re: C0 and C1 controls but tab and newline, and the
# bidirectional overrides.
_TERMINAL_CONTROLS = dict.fromkeys(
    [
        *range(0x00, 0x09),
        *range(0x0B, 0x20),
        *range(0x7F, 0xA0),
        *range(0x202A, 0x202F),
        *range(0x2066, 0x206A),
    ]
)

# How an input is compared: every field that a write changes, or (for folders whose
# entries come and go as an agent works, like the slot itself) only what the folder is.
CONTENT = "c"
IDENTITY = "i"


def lookup(argv: Sequence[str]) -> tuple[str, str] | None:
    """The recorded (stdout, stderr) of this exact `grove env` call, when still true."""
    if OFF in os.environ:
        return None
    try:
        return _lookup(list(argv))
    except (OSError, ValueError, UnicodeError):
        return None


def _lookup(argv: list[str]) -> tuple[str, str] | None:
    from grove import dotgit

    cwd = os.getcwd()
    found = dotgit.locate(cwd)
    if found is None:
        return None
    # A regular file of this user's, never through a link or waiting on a planted FIFO.
    entry = os.path.join(found[1], "grove", FOLDER, _entry_name(cwd, argv))
    data = dotgit.read_bytes(entry, MAX_BYTES, own=True)
    if data is None or not data.startswith(MAGIC):
        return None
    fields = data[len(MAGIC) :].split(b"\0")
    question, inputs, answer = _split(fields)
    if question != _question(cwd, argv):
        return None
    for i in range(0, len(inputs), 3):
        path, how, recorded = inputs[i : i + 3]
        stats = _stats(path)
        if stats is None or _signature(stats, how.decode()) != recorded:
            return None
    said = (answer[0].decode("utf-8"), answer[1].decode("utf-8"))
    # Any slot can write under .git/grove: an entry is printed only when it holds no
    # character a terminal acts on, as every answer grove writes there is (output.safe
    # escaped them, JSON has none). Anything else is computed again.
    if any(text.translate(_TERMINAL_CONTROLS) != text for text in said):
        return None
    return said


def store(
    state_dir: Path,
    argv: Sequence[str],
    inputs: Sequence[tuple[Path, str]],
    answer: tuple[str, str],
    started_ns: int,
) -> None:
    """Record an answer computed from `inputs` (path, CONTENT or IDENTITY). Nothing is
    recorded when an input changed since `started_ns` less the settling time, cannot be
    read, or the answer is too big; a cache that cannot be written only costs time."""
    import contextlib

    from grove import fsio
    from grove.errors import GroveError

    if OFF in os.environ:
        return
    cwd = os.getcwd()
    newest = 0
    fields: list[bytes] = []
    for path, how in inputs:
        raw = os.fsencode(path)
        stats = _stats(raw)
        if stats is None:
            return
        if how == CONTENT:  # a folder's identity has no tick to race with
            times = [t for st in stats if st for t in (st.st_mtime_ns, st.st_ctime_ns)]
            newest = max(newest, *times, 0)
        fields += [raw, how.encode(), _signature(stats, how)]
    if newest >= started_ns - SETTLED_NS:
        return
    said = [text.encode("utf-8") for text in answer]  # stdout, stderr
    question = _question(cwd, list(argv))
    body = b"\0".join([*question, str(len(inputs)).encode(), *fields, *said])
    if any(b"\0" in text for text in said) or len(body) > MAX_BYTES:
        return
    name = f"{FOLDER}/{_entry_name(cwd, list(argv))}"
    # Inside the state folder only: a link planted at cache/ is refused, not followed.
    with contextlib.suppress(OSError, GroveError):
        fsio.write_inside(state_dir, name, MAGIC + body, 0o600, make_parents=True)


def _split(fields: list[bytes]) -> tuple[list[bytes], list[bytes], list[bytes]]:
    """question, inputs (path, how, signature triples), answer (stdout, stderr)."""
    argc = int(fields[3])
    question_end = 5 + argc
    count = int(fields[question_end])
    if argc < 0 or count < 0:
        raise ValueError("a damaged cache entry")
    inputs_end = question_end + 1 + 3 * count
    if len(fields) != inputs_end + 2:
        raise ValueError("a damaged cache entry")
    return fields[:question_end], fields[question_end + 1 : inputs_end], fields[inputs_end:]


def _question(cwd: str, argv: list[str]) -> list[bytes]:
    """Who asks, from where and how: user, folder (by name and by inode, so a folder swapped
    in under the same name is another question), arguments and environment."""
    here = os.stat(cwd)
    asked = sorted(
        f"{k}={v}"
        for k, v in os.environ.items()
        if k in _ASKED_VARS or k.startswith(_ASKED_PREFIXES)
    )
    return [
        str(os.geteuid()).encode(),
        os.fsencode(cwd),
        f"{here.st_dev}:{here.st_ino}".encode(),
        str(len(argv)).encode(),
        *(os.fsencode(arg) for arg in argv),
        f"{_fnv(chr(0).join(asked)):016x}".encode(),
    ]


def _fnv(text: str) -> int:
    """FNV-1a, 64 bits. Not a secure hash: it only tells one environment from another
    without writing the variables' values (a token can hide in GIT_CONFIG_PARAMETERS), and
    hashlib's module costs more to load than this whole lookup."""
    value = 0xCBF29CE484222325
    for byte in text.encode("utf-8", "surrogateescape"):
        value = ((value ^ byte) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return value


def _entry_name(cwd: str, argv: list[str]) -> str:
    return f"env-{_fnv(cwd + chr(0) + chr(0).join(argv)) % SLOTS:02d}"


def _stats(path: bytes) -> list[os.stat_result | None] | None:
    """path's own stat and, for a link, its target's (None where there is nothing): a link
    is compared as itself and as what it points to. None when it cannot be looked at (a
    cache entry is then not made, or not believed)."""
    try:
        own = os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return [None]
    except OSError:
        return None
    found: list[os.stat_result | None] = [own]
    if stat.S_ISLNK(own.st_mode):
        try:
            found.append(os.stat(path))
        except (FileNotFoundError, NotADirectoryError):
            found.append(None)
        except OSError:
            return None
    return found


def _signature(stats: list[os.stat_result | None], how: str) -> bytes:
    """What a change to the file would change, as recorded and compared."""
    return "|".join("-" if st is None else _stat_text(st, how) for st in stats).encode()


def _stat_text(st: os.stat_result, how: str) -> str:
    if how == IDENTITY:
        return f"{st.st_dev}:{st.st_ino}:{stat.S_IFMT(st.st_mode)}"
    return f"{st.st_dev}:{st.st_ino}:{st.st_mode}:{st.st_size}:{st.st_mtime_ns}:{st.st_ctime_ns}"


def emit(answer: tuple[str, str]) -> None:
    stdout, stderr = answer
    if stderr:
        sys.stderr.write(stderr)
        sys.stderr.flush()
    sys.stdout.write(stdout)
    sys.stdout.flush()
