"""Dotenv reading and merging, the managed block, and safe value writing. Pure functions."""

from __future__ import annotations

import functools
import io
import re
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from types import ModuleType

from grove import fsio
from grove.errors import GroveError
from grove.record import record

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing
if TYPE_CHECKING:
    from typing import Any

BLOCK_BEGIN = "# >>> grove"
BLOCK_END = "# <<< grove"
# Patterns compiled on first use (re caches them): only commands that write a file use these.
KEY = r"[A-Z_][A-Z0-9_]*"  # used with fullmatch: `$` would accept "KEY\n"
# Characters that Node's dotenv, python-dotenv and docker compose all read the same way
# when unquoted. Anything else is double-quoted; the few characters that each reader
# treats differently inside double quotes are refused outright.
_UNQUOTED = r"^[A-Za-z0-9_./:@%+,=~?&!*-]+$"
_REFUSED = {
    '"': "a double quote",
    "\\": "a backslash",
    "`": "a backtick",
    "$": "a dollar sign",
    "\n": "a newline",
    "\r": "a carriage return",
}


class UnsafeValue(ValueError):
    def __init__(self, key: str, reason: str):
        super().__init__(f"{key}: {reason}")
        self.key = key
        self.reason = reason


def format_assignment(key: str, value: str) -> str:
    if not re.fullmatch(KEY, key):
        raise UnsafeValue(key, "keys must match ^[A-Z_][A-Z0-9_]*$")
    for char, name in _REFUSED.items():
        if char in value:
            raise UnsafeValue(
                key,
                f"the value contains {name}, which Node's dotenv, python-dotenv and docker "
                "compose read differently",
            )
    if re.match(_UNQUOTED, value):
        return f"{key}={value}"
    return f'{key}="{value}"'


def block_header(n: int) -> str:
    return f"{BLOCK_BEGIN} (slot {n}): managed, rewritten by `grove refresh`"


def render_block(n: int, values: Mapping[str, str]) -> str:
    lines = [block_header(n)]
    lines += [format_assignment(k, v) for k, v in values.items()]
    lines.append(BLOCK_END)
    return "\n".join(lines) + "\n"


class BrokenBlock(ValueError):
    pass


def _lines(text: str, keepends: bool = False) -> list[str]:
    """Split on newlines only. str.splitlines also splits on U+2028, \\v, \\f and others,
    which dotenv readers keep inside a quoted value."""
    parts = text.split("\n")
    if keepends:
        lines = [part + "\n" for part in parts[:-1]]
        return [*lines, parts[-1]] if parts[-1] else lines
    if parts and parts[-1] == "":
        parts.pop()
    return [part.removesuffix("\r") for part in parts]


def _block_span(lines: list[str]) -> tuple[int, int] | None:
    begin = next((i for i, line in enumerate(lines) if line.startswith(BLOCK_BEGIN)), None)
    if begin is None:
        return None
    end = next((i for i in range(begin + 1, len(lines)) if lines[i].strip() == BLOCK_END), None)
    if end is None:
        raise BrokenBlock(f"line {begin + 1} opens a grove block that is never closed")
    return begin, end


def replace_block(text: str, block: str) -> str:
    """Put block in place of the existing managed block, or append it; user lines stay."""
    lines = _lines(text, keepends=True)
    span = _block_span([line.removesuffix("\n").removesuffix("\r") for line in lines])
    if span is None:
        if text and not text.endswith("\n"):
            text += "\n"
        separator = "\n" if text.strip() else ""
        return (text if text.strip() else "") + separator + block
    begin, end = span
    return "".join(lines[:begin]) + block + "".join(lines[end + 1 :])


def read_block(text: str) -> dict[str, str] | None:
    """The assignments inside the managed block, or None when there is no block."""
    lines = _lines(text)
    try:
        span = _block_span(lines)
    except BrokenBlock:
        return None
    if span is None:
        return None
    begin, end = span
    return parse_text("\n".join(lines[begin + 1 : end]))


# python-dotenv reads most input in linear time, but not all of it: it strips an inline
# comment from an unquoted value with re.sub(r"\s+#.*"), which backtracks over every run of
# blanks (a run of k costs about k*k/2 steps: 40,000 blanks took 4.9 s, 10 MB would take
# days), and its quoted-value pattern costs about 0.7 us a character. So no dotenv parser
# grove calls is handed a line longer than LINE_LIMIT or one with more than BLANK_RUN_LIMIT
# blanks in a row: such a line reads as empty, and `validate` names it (issue 13).
LINE_LIMIT = 128 * 1024  # Linux's MAX_ARG_STRLEN: no program receives a longer KEY=value
BLANK_RUN_LIMIT = 256  # no real value holds this many blanks in a row
# What python-dotenv counts as a line break: a pattern compiled on first use (re caches it).
_DOTENV_BREAK = r"\r\n|\n|\r"
# Each is anchored at the first character of a line (or of a run of blanks), so a line or
# run is scanned once, up to the limit: linear in the text.
_LONG_LINE = re.compile(rf"(?<![^\r\n])[^\r\n]{{{LINE_LIMIT + 1}}}")
_LONG_BLANK_RUN = re.compile(rf"(?<![^\S\r\n])[^\S\r\n]{{{BLANK_RUN_LIMIT + 1}}}")


@record(frozen=True)
class SkippedLine:
    """A line no dotenv parser is given (see LINE_LIMIT). Its text is never printed."""

    line: int  # counted as python-dotenv counts: \r\n, \n and \r each end a line
    text: str
    blank_run: bool  # too many blanks in a row (else: the line itself is too long)


@record(frozen=True)
class Assignment:
    """One KEY=value as python-dotenv reads it, and where it was written."""

    key: str
    value: str
    line: int  # the key's line, counted as python-dotenv counts
    source: str  # the text it was read from: its line(s), comment included


@record(frozen=True)
class Reading:
    assignments: list[Assignment]
    skipped: list[SkippedLine]


def _dotenv_safe(text: str) -> tuple[str, list[SkippedLine]]:
    """text with every line a dotenv parser cannot read in linear time made empty (line
    numbers stay), and those lines."""
    if not (_LONG_LINE.search(text) or _LONG_BLANK_RUN.search(text)):
        return text, []
    parts = re.split(_DOTENV_BREAK, text)  # the breaks themselves stay in the text below
    breaks = re.findall(_DOTENV_BREAK, text)
    skipped: list[SkippedLine] = []
    for index, line in enumerate(parts):
        too_long = len(line) > LINE_LIMIT
        # Blanks cost time only in an unquoted value; a line starting with # is a comment
        # (or inside a quoted value), both read in linear time.
        if too_long or (_LONG_BLANK_RUN.search(line) and not line.lstrip().startswith("#")):
            skipped.append(SkippedLine(index + 1, line, blank_run=not too_long))
            parts[index] = ""
    safe = "".join(part + brk for part, brk in zip(parts, [*breaks, ""], strict=True))
    return safe, skipped


def parse_stream(text: str) -> Iterator[Any]:
    """python-dotenv's own parser over text: its Binding for each line group, in order."""
    return _dotenv_parser().parse_stream(io.StringIO(text))  # type: ignore[no-any-return]


@functools.cache
def _dotenv_parser() -> ModuleType:
    """python-dotenv's `dotenv.parser`, loaded without the package's __init__. That runs
    dotenv.main, which imports logging: 6-10 ms of every grove call that reads an env file,
    while the parser itself needs only re and codecs. When python-dotenv is laid out some
    other way, the ordinary import serves, so grove always parses with python-dotenv."""
    import importlib.machinery

    package = importlib.machinery.PathFinder.find_spec("dotenv")  # finds; runs nothing
    folders = package.submodule_search_locations if package else None
    source = Path(folders[0]) / "parser.py" if folders else None
    if source is None or not source.is_file():
        import dotenv.parser

        return dotenv.parser
    loader = importlib.machinery.SourceFileLoader("grove._dotenv_parser", str(source))
    module = ModuleType(loader.name)
    module.__file__ = str(source)
    loader.exec_module(module)
    return module


def read_assignments(text: str) -> Reading:
    """Every KEY=value of a dotenv text in file order (a key set twice appears twice), with
    its line, as python-dotenv reads it; lines too costly to parse are left out and listed."""
    safe, skipped = _dotenv_safe(text)
    found: list[Assignment] = []
    for binding in parse_stream(safe):
        if binding.key is None or binding.value is None:
            continue
        source = binding.original.string
        # A binding starts at the blank lines before its key; report the key's own line.
        lead = len(source) - len(source.lstrip())
        line = binding.original.line + len(re.compile(_DOTENV_BREAK).findall(source, 0, lead))
        found.append(Assignment(binding.key, binding.value, line, source[lead:]))
    return Reading(found, skipped)


@record(frozen=True)
class UserLine:
    """A KEY=value a person wrote in a local file, outside grove's block."""

    assignment: Assignment
    first: bool  # no earlier line of the file sets the key
    last: bool  # no later line sets it: what Node's dotenv and python-dotenv end up with


def user_lines(text: str) -> list[UserLine] | None:
    """The assignments outside the managed block, or None when there is no closed block."""
    try:
        span = _block_span(re.split(_DOTENV_BREAK, text))  # lines numbered as python-dotenv does
    except BrokenBlock:
        return None
    if span is None:
        return None
    begin, end = span[0] + 1, span[1] + 1
    assignments = read_assignments(text).assignments
    final = {a.key: a for a in assignments}  # a later definition replaces an earlier one
    first = {a.key: a for a in reversed(assignments)}
    return [
        UserLine(a, first=first[a.key] is a, last=final[a.key] is a)
        for a in assignments
        if not begin <= a.line <= end
    ]


def parse_text(text: str) -> dict[str, str]:
    safe, _skipped = _dotenv_safe(text)
    # What python-dotenv's dotenv_values(interpolate=False) gives (Node's dotenv does not
    # expand ${VAR}; grove reports what both see): the last binding of a key wins, and a
    # bare KEY with no `=` sets it to None, which is then left out.
    values: dict[str, str | None] = {}
    for binding in parse_stream(safe):
        if binding.key is not None:
            values[binding.key] = binding.value
    return {k: v for k, v in values.items() if v is not None}


class UnreadableEnvFile(GroveError):
    """An env file that is not a readable UTF-8 file. The message names the file and never
    quotes its bytes: they are secrets."""

    code = "unreadable-env-file"
    exit_code = 2


def parse_file(path: Path) -> dict[str, str]:
    text = read_text(path)
    return {} if text is None else parse_text(text)


MAX_ENV_FILE_BYTES = 16 << 20  # dotenv files are small; a bigger one is planted, not data


def read_bytes(path: Path) -> bytes:
    """An env file's bytes. Links are followed (a slot's shared file is one); a FIFO,
    device or folder at the end is refused without blocking on it (fsio.NotRegularFile),
    and so is a file too large to be one (fsio.FileTooLarge); a missing one raises
    FileNotFoundError."""
    return fsio.read_regular(path, MAX_ENV_FILE_BYTES)


def read_text(path: Path) -> str | None:
    """An env file's text (read_bytes); None when there is none, UnreadableEnvFile when it
    cannot be read."""
    try:
        data = read_bytes(path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as exc:
        raise unreadable(path, exc) from None
    return decode(data, path)


def unreadable(path: Path, exc: OSError) -> UnreadableEnvFile:
    """Why the env file at path was not read, naming the file and never its bytes."""
    details: dict[str, object] = {"file": str(path)}
    if isinstance(exc, fsio.NotRegularFile):
        return UnreadableEnvFile(
            f"{path} is a {exc.kind} where an env file belongs",
            hint="move it away; `grove refresh` then writes or links the file",
            details=details,
        )
    if isinstance(exc, fsio.FileTooLarge):
        return UnreadableEnvFile(
            f"{path} is larger than {exc.limit >> 20} MiB; its content is not read",
            hint="an env file holds a few variables: move this one away",
            details=details,
        )
    return UnreadableEnvFile(f"{path} cannot be read ({exc.strerror})", details=details)


def decode(data: bytes, path: Path) -> str:
    """An env file's bytes as text; an UnreadableEnvFile naming the file and line, never
    the bytes, when they are not UTF-8."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise UnreadableEnvFile(
            f"{path}: not UTF-8 (line {line}); its content is not shown",
            hint="save the file as UTF-8 (dotenv readers disagree about other encodings)",
            details={"file": str(path), "line": line},
        ) from None


MANAGED_FILE_LIMIT = 1 << 20  # a local file larger than this is a person's, not grove's


def holds_only_managed_block(path: Path) -> bool:
    """The file holds grove's managed block and nothing else a person wrote. An unreadable,
    huge or broken file counts as a person's: nothing is deleted on a guess."""
    try:
        data = fsio.read_regular(path, MANAGED_FILE_LIMIT)
        rest = replace_block(data.decode("utf-8"), "")
    except (OSError, UnicodeDecodeError, BrokenBlock):  # a FIFO among them: never waited on
        return False
    return not rest.strip()


def merge(layers: Iterable[Mapping[str, str]]) -> dict[str, str]:
    """First definition wins, as dotenv loads files without overriding: pass local first."""
    merged: dict[str, str] = {}
    for layer in layers:
        for key, value in layer.items():
            merged.setdefault(key, value)
    return merged
