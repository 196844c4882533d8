"""The one policy for grove's record files: read strictly, write atomically.

A record that exists but does not read (not JSON, non-UTF-8, the wrong shape, a folder
where a file belongs) raises DamagedState naming the file and the repair. Treating it as
empty would let the next write destroy what it held (a lease, an adopted slot's number).
"""

from __future__ import annotations

import errno
import json
import stat
from collections.abc import Callable
from pathlib import Path

from grove import fsio
from grove.errors import DamagedState

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing
if TYPE_CHECKING:
    from typing import Any, TypeVar

    T = TypeVar("T")

MAX_RECORD_BYTES = 1 << 20  # records are small; a huge one is damage, not data


def damaged(path: Path, problem: str, repair: str) -> DamagedState:
    return DamagedState(f"{path}: {problem}", hint=repair, details={"file": str(path)})


def check_folder(path: Path, repair: str) -> None:
    """A folder grove keeps records in must be a real folder (or not exist yet)."""
    try:
        mode = path.lstat().st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISDIR(mode):
        raise damaged(path, "expected a folder", repair)


def check_state_dir(state_dir: Path) -> None:
    """`.git/grove` itself must be a folder: every record and lock lives in it."""
    check_folder(
        state_dir,
        f"grove keeps its records in {state_dir}: move the file away, then run the command again",
    )


def read_json(path: Path, repair: str) -> Any | None:
    """The parsed record, or None when there is none. Anything else that is not a readable
    JSON document is damage."""
    check_folder(path.parent, repair)
    try:  # not through a link, and never waiting on a FIFO
        data = fsio.read_regular(path, MAX_RECORD_BYTES, follow=False)
    except FileNotFoundError:
        return None
    except fsio.FileTooLarge:
        raise damaged(path, f"larger than {MAX_RECORD_BYTES} bytes", repair) from None
    except OSError as exc:
        if isinstance(exc, fsio.NotRegularFile) or exc.errno == errno.ELOOP:
            raise damaged(path, "expected a regular file", repair) from None
        raise damaged(path, f"cannot be read ({exc.strerror})", repair) from None
    try:
        return json.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise damaged(path, "not UTF-8", repair) from None
    except json.JSONDecodeError as exc:
        # Position only: the content may be anything, and is never echoed.
        where = f"line {exc.lineno}, column {exc.colno}"
        raise damaged(path, f"not valid JSON ({where})", repair) from None


def read_record(path: Path, repair: str, parse: Callable[[Any], T]) -> T | None:
    """read_json, then parse(data); parse raises ValueError/TypeError/KeyError on a wrong
    shape, which becomes DamagedState too."""
    data = read_json(path, repair)
    if data is None:
        return None
    try:
        return parse(data)
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        reason = str(exc) if isinstance(exc, ValueError | TypeError) else "unexpected structure"
        raise damaged(path, f"wrong shape: {reason}", repair) from None


def write_json(path: Path, data: Any) -> None:
    fsio.write_atomic(path, json.dumps(data, indent=2, sort_keys=True) + "\n")


def remove(path: Path) -> bool:
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    except IsADirectoryError:
        raise damaged(path, "expected a regular file", f"delete the folder {path}") from None
    return True
