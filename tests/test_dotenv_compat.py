"""What grove writes into env files reads back identically in every dotenv reader that matters.

Readers checked, each against the exact value grove was asked to write:

* Node's ``dotenv`` (the real npm package, pinned in tests/js/package.json), with both its
  default parser and its ``{fast: true}`` parser. One ``node`` process reads every file.
  Install it with ``npm ci --prefix tests/js``. Missing node or a missing install FAILS the
  run; set ``GROVE_SKIP_NODE=1`` to skip only the Node readers.
* python-dotenv's ``dotenv_values`` with ``interpolate=False`` and with its default
  interpolation.
* grove's own ``read_block`` (what ``grove`` itself reads back from the block it wrote).

docker compose is NOT checked. ``docker compose config`` renders env files client-side, but the
compose plugin is not installed where this suite was written (``docker compose version`` gives
"unknown command: docker compose"; only the bare docker CLI is present, with no engine), so
there was nothing to run. Add it as another reader where the plugin exists.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import string
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from dotenv import dotenv_values

from grove import envfile
from grove.envfile import (
    UnsafeValue,
    format_assignment,
    read_block,
    render_block,
    replace_block,
)

JS_DIR = Path(__file__).parent / "js"
READ_ENV_JS = JS_DIR / "read_env.js"
DOTENV_PACKAGE_JSON = JS_DIR / "node_modules" / "dotenv" / "package.json"
INSTALL_HINT = "run `npm ci --prefix tests/js` (or set GROVE_SKIP_NODE=1 to skip the Node readers)"

UNQUOTED_CHARS = set(string.ascii_letters + string.digits + "_./:@%+,=~?&!*-")
REFUSED_CHARS = ['"', "\\", "`", "$", "\r", "\n"]

# (id, value). Every one of these is allowed by grove's rule and must read back unchanged.
CASES: list[tuple[str, str]] = [
    ("plain", "hello"),
    ("empty", ""),
    ("space-middle", "hello world"),
    ("spaces-only", "   "),
    ("leading-space", "  leading"),
    ("trailing-space", "trailing  "),
    ("both-ends-space", " both "),
    ("hash-middle", "abc#def"),
    ("hash-after-space", "abc #def"),
    ("hash-start", "#start"),
    ("hash-only", "#"),
    ("url-fragment", "https://example.com/page#section"),
    ("single-quote-middle", "it's"),
    ("single-quote-only", "'"),
    ("single-quoted", "'wrapped'"),
    ("single-quote-ends-spaced", " 'x' "),
    ("equals-only", "="),
    ("equals-many", "a=b=c=="),
    ("url-db", "postgres://user:password@db.example.com:5432/app?sslmode=require&x=1"),
    ("url-db-pct", "postgresql://us%40er:p%2Fw@host:5432/db?sslmode=require&x=1"),
    ("url-spaces", "https://example.com/a b?q=1 2"),
    ("braces", "{}"),
    ("braces-var-like", "{VAR}"),
    ("parens", "()"),
    ("semicolon", "a;b"),
    ("pipe", "a|b"),
    ("angle", "<a>"),
    ("percent", "%"),
    ("percent-format", "%(name)s %s 100%"),
    ("bang", "!"),
    ("star", "*"),
    ("tilde", "~"),
    ("tilde-path", "~/path/to/file"),
    ("question-amp", "?&"),
    ("dash", "-"),
    ("dot", "."),
    ("colon-space", "key: value"),
    ("brackets", "[a, b]"),
    ("json-like", "{'a': [1, 2]}"),
    ("caret", "^x"),
    ("unicode-latin", "héllo wörld"),
    ("unicode-cjk", "日本語テキスト"),
    ("unicode-emoji", "rocket 🚀 launch"),
    ("unicode-rtl", "שלום"),
    ("unicode-combining", "e\u0301"),
    ("nbsp-ends", "\u00a0nbsp\u00a0"),
    ("tab-middle", "a\tb"),
    ("tab-ends", "\tx\t"),
    ("export-prefix", "export X=1"),
    ("grove-begin-marker", "# >>> grove"),
    ("grove-end-marker", "# <<< grove"),
    ("long-unquoted", "x" * 5000),
    ("long-quoted", "word " * 1000),
    # Characters the rule lets through (only CR and LF are refused among controls and line
    # breaks) that line-splitting code may still treat as line ends or whitespace.
    ("vertical-tab", "a\x0bb"),
    ("form-feed", "a\x0cb"),
    ("nul", "a\x00b"),
    ("escape", "a\x1bb"),
    ("delete", "a\x7fb"),
    ("next-line-u0085", "a\x85b"),
    ("line-separator-u2028", "a\u2028b"),
    ("paragraph-separator-u2029", "a\u2029b"),
    ("file-separator-u001c", "a\x1cb"),
    ("group-separator-u001d", "a\x1db"),
    ("record-separator-u001e", "a\x1eb"),
    ("u2028-fake-end-marker", "a\u2028# <<< grove\u2028b"),
    ("bom-start", "\ufeffbom"),
    ("all-unquoted-chars", "".join(sorted(UNQUOTED_CHARS))),
    (
        "all-printable-allowed",
        "".join(c for c in string.printable if c not in REFUSED_CHARS and c not in "\x0b\x0c"),
    ),
    # Each punctuation mark of the unquoted set at both ends of an unquoted value.
    *((f"unquoted-ends-{ord(c):02x}", f"{c}x{c}") for c in sorted("./:@%+,=~?&!*-_")),
]

READERS = ["node", "node-fast", "python-dotenv", "python-dotenv-interpolate", "grove-read_block"]


def _params() -> list[object]:
    params: list[object] = []
    for reader in READERS:
        for case_id, value in CASES:
            params.append(pytest.param(reader, case_id, value, id=f"{reader}-{case_id}"))
    return params


def _all_good_values() -> dict[str, str]:
    return {f"V_{i:03d}": value for i, (_, value) in enumerate(CASES)}


ALL = "__all__"
ALL_PREFIX = "# user line\nUSER_BEFORE=1\n\n"
ALL_SUFFIX = "USER_AFTER=2\n"


@pytest.fixture(scope="module")
def env_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One file per case (so one misread cannot spill into the others), and one file ALL with
    every value no reader is known to get wrong in one block, between user lines."""
    folder = tmp_path_factory.mktemp("envfiles")
    files: dict[str, Path] = {}
    for index, (case_id, value) in enumerate(CASES):
        path = folder / f"{index:03d}.env"
        path.write_text(render_block(1, {"VALUE": value}), encoding="utf-8", newline="")
        files[case_id] = path
    files[ALL] = folder / "all.env"
    files[ALL].write_text(
        ALL_PREFIX + render_block(3, _all_good_values()) + ALL_SUFFIX, encoding="utf-8", newline=""
    )
    return files


@pytest.fixture(scope="module")
def node_results(env_files: dict[str, Path]) -> dict[str, dict[str, dict[str, str]]]:
    """{str(path): {"default": parsed, "fast": parsed}} for every file, from one node process."""
    if os.environ.get("GROVE_SKIP_NODE") == "1":
        pytest.skip("GROVE_SKIP_NODE=1: Node's dotenv not checked")
    node = shutil.which("node")
    if node is None:
        pytest.fail(f"`node` is not on PATH; install Node.js, then {INSTALL_HINT}", pytrace=False)
    if not DOTENV_PACKAGE_JSON.is_file():
        pytest.fail(f"Node's dotenv is not installed in {JS_DIR}: {INSTALL_HINT}", pytrace=False)
    locked = json.loads((JS_DIR / "package-lock.json").read_text(encoding="utf-8"))
    wanted = locked["packages"]["node_modules/dotenv"]["version"]
    installed = json.loads(DOTENV_PACKAGE_JSON.read_text(encoding="utf-8"))["version"]
    if installed != wanted:
        pytest.fail(
            f"tests/js has dotenv {installed} but package-lock.json pins {wanted}: {INSTALL_HINT}",
            pytrace=False,
        )
    proc = subprocess.run(
        [node, str(READ_ENV_JS), *(str(p) for p in env_files.values())],
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=60,
        check=False,
    )
    if proc.returncode != 0:
        pytest.fail(f"{READ_ENV_JS} exited {proc.returncode}: {proc.stderr}", pytrace=False)
    output = json.loads(proc.stdout)
    assert output["version"] == wanted
    files: dict[str, dict[str, dict[str, str]]] = output["files"]
    return files


def _python_dotenv(interpolate: bool) -> Callable[[Path], dict[str, str | None]]:
    def read(path: Path) -> dict[str, str | None]:
        return dict(dotenv_values(path, interpolate=interpolate, encoding="utf-8"))

    return read


def _grove_read_block(path: Path) -> dict[str, str | None]:
    return dict(read_block(path.read_text(encoding="utf-8")) or {})


PYTHON_READERS: dict[str, Callable[[Path], dict[str, str | None]]] = {
    "python-dotenv": _python_dotenv(interpolate=False),
    "python-dotenv-interpolate": _python_dotenv(interpolate=True),
    "grove-read_block": _grove_read_block,
}


def read_with(reader: str, path: Path, request: pytest.FixtureRequest) -> dict[str, str | None]:
    if reader in PYTHON_READERS:
        return PYTHON_READERS[reader](path)
    # Only the Node readers need node: the python readers run (and fail) without it.
    results: dict[str, dict[str, dict[str, str]]] = request.getfixturevalue("node_results")
    return dict(results[str(path)]["fast" if reader == "node-fast" else "default"])


@pytest.mark.parametrize(("reader", "case_id", "value"), _params())
def test_value_reads_back_unchanged(
    reader: str,
    case_id: str,
    value: str,
    env_files: dict[str, Path],
    request: pytest.FixtureRequest,
) -> None:
    line = format_assignment("VALUE", value)
    assert read_with(reader, env_files[case_id], request) == {"VALUE": value}, (
        f"line written: {line!r}"
    )


@pytest.mark.parametrize("reader", READERS)
def test_all_values_in_one_block(
    reader: str,
    env_files: dict[str, Path],
    request: pytest.FixtureRequest,
) -> None:
    """The block as grove really writes it: many keys together, with user lines around it."""
    good: dict[str, str | None] = dict(_all_good_values())
    if reader != "grove-read_block":  # read_block returns only what is inside the block
        good = {"USER_BEFORE": "1", **good, "USER_AFTER": "2"}
    assert read_with(reader, env_files[ALL], request) == good


REPLACE_PARAMS = [pytest.param(case_id, value, id=case_id) for case_id, value in CASES]


@pytest.mark.parametrize(("case_id", "value"), REPLACE_PARAMS)
def test_refresh_replaces_the_whole_block(case_id: str, value: str) -> None:
    """Rewriting a block that holds the value leaves exactly the new block and the user lines."""
    user = "USER=1\n"
    first = replace_block(user, render_block(1, {"VALUE": value}))
    second = replace_block(first, render_block(1, {"VALUE": "new"}))
    assert second == replace_block(user, render_block(1, {"VALUE": "new"}))


@pytest.mark.parametrize("char", REFUSED_CHARS, ids=repr)
@pytest.mark.parametrize("where", ["alone", "start", "middle", "end"])
def test_refused_characters_raise(char: str, where: str) -> None:
    value = {
        "alone": char,
        "start": char + "abc",
        "middle": "ab" + char + "c",
        "end": "abc" + char,
    }[where]
    with pytest.raises(UnsafeValue) as caught:
        format_assignment("SOME_KEY", value)
    assert caught.value.key == "SOME_KEY"


def test_every_other_character_is_written_and_quoted_by_the_rule() -> None:
    """Characters 0-0x2FFF: refused ones raise, the rest write unquoted iff in the safe set."""
    for code in range(0x3000):
        char = chr(code)
        if 0xD800 <= code <= 0xDFFF:
            continue
        if char in REFUSED_CHARS:
            with pytest.raises(UnsafeValue):
                format_assignment("K", "a" + char)
            continue
        line = format_assignment("K", "a" + char)
        if char in UNQUOTED_CHARS:
            assert line == f"K=a{char}", repr(char)
        else:
            assert line == f'K="a{char}"', repr(char)


def test_empty_value_is_quoted() -> None:
    assert format_assignment("K", "") == 'K=""'


BAD_KEYS: list[object] = [
    "",
    "lower",
    "Mixed",
    "1ABC",
    "A-B",
    "A.B",
    "A B",
    " A",
    "A ",
    "A=B",
    "A#",
    "É",
    "A\tB",
    "\nA",
    "export A",
    "A\x00",
    pytest.param("A\n", id="trailing-newline"),  # `$` in a regex matches before a final \n
]


@pytest.mark.parametrize("key", BAD_KEYS, ids=repr)
def test_bad_keys_raise(key: str) -> None:
    with pytest.raises(UnsafeValue):
        format_assignment(key, "value")


@pytest.mark.parametrize("key", ["A", "_", "_A", "A_1", "ABC_DEF_123", "EXPORT", "X" * 200])
def test_good_keys_are_written(key: str) -> None:
    assert format_assignment(key, "v") == f"{key}=v"


def test_bad_key_in_block_raises() -> None:
    with pytest.raises(UnsafeValue):
        render_block(1, {"GOOD": "1", "bad": "2"})


READER_CASES = [
    "A=1\nB='two words'\nC=\"esc\\nline\"\n",
    "A=1\nA\n",  # a bare key after a value: python-dotenv ends with None, so no A
    "export A=1 # comment\n#B=2\n  C = spaced  \nD=${A}\n",
    'A=1\r\nB=2\rC="multi\nline"\n',
    'A="unterminated\nB=2\n',
    "=novalue\nKEY WITH SPACE=1\nE=ok\n",
]


@pytest.mark.parametrize("text", READER_CASES)
def test_grove_reads_what_python_dotenv_reads(text: str) -> None:
    """envfile loads python-dotenv's parser module on its own (to skip the package's
    logging import); what it reads must stay exactly what dotenv_values reads."""
    expected = dotenv_values(stream=io.StringIO(text), interpolate=False)
    assert envfile.parse_text(text) == {k: v for k, v in expected.items() if v is not None}
    assert envfile._dotenv_parser().__name__ == "grove._dotenv_parser"
