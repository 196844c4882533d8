"""No secret value, no raw byte and no control character in any output (issue 13).

The repository here is what a compromised agent leaves behind: the shared `.env` and a
slot's `.env.local` hold planted secrets, terminal escape codes and (in one variant) bytes
that are not UTF-8; a lease label and an untracked file name carry escape codes. Every
command runs over it, as text and as `--json`, on its success and its error paths. None may
crash (exit 3), print a planted value, or let a control character other than a newline or
a tab through.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from conftest import grove_process, write_config

# Distinct markers: any of them in any output is a leak.
PLANTED = (
    "PLANTEDhunter2",
    "sk_live_PLANTED0123456789abcdefABCDEF",
    "PLANTEDprodpass",
    "PLANTEDuserline",
)
ESC_VALUE = "\x1b]0;pwned\x07\x1b[2J"
ESC_LABEL = "agent\x1b[31m-red\x1b]0;title\x07\u202e"
RAW_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def shared_text(valid_utf8: bool) -> bytes:
    lines = [
        b"API_KEY=sk_test_devkey1234567890",
        b"DB_PASSWORD=PLANTEDhunter2",
        b"STRIPE_SECRET_KEY=sk_live_PLANTED0123456789abcdefABCDEF",
        b"DATABASE_URL=postgres://admin:PLANTEDprodpass@db.prod.example.com:5432/app",
        b"TITLE=" + ESC_VALUE.encode(),
        b"BANNER=" + b"x" * 5000 + ESC_VALUE.encode(),
    ]
    if not valid_utf8:
        lines.insert(3, b"CITY=M\xfcnchen PLANTEDhunter2")
    return b"\n".join(lines) + b"\n"


@pytest.fixture(params=["utf8", "not-utf8"])
def hostile(request: pytest.FixtureRequest, repo: Path, grove) -> Path:
    """Two slots made on a clean repository, then the planted content, as an agent would
    leave it after the fact."""
    write_config(
        repo,
        '[env.derived]\nDATABASE_URL = "postgres://localhost:{DB_PORT}/app_{n}"\n',
    )
    (repo / ".env").write_text("API_KEY=sk_test_devkey1234567890\n")
    assert grove("create").code == 0
    assert grove("create").code == 0
    valid = request.param == "utf8"
    (repo / ".env").write_bytes(shared_text(valid))
    if valid:
        assert grove("env", "approve").code == 0
    slot1 = repo.parent / "myproject-wt1"
    local = slot1 / ".env.local"
    extra = b"USER_TOKEN=PLANTEDuserline\nGREETING=" + ESC_VALUE.encode() + b"\n"
    if not valid:
        extra += b"PLACE=M\xfcnchen\n"
    local.write_bytes(local.read_bytes() + extra)
    (slot1 / f"evil{ESC_VALUE}name.txt").write_text("untracked\n")
    # Slot 2's local file is gone: DATABASE_URL, managed by name, now comes from the
    # shared file (a production URL with its password) and must be masked all the same.
    (repo.parent / "myproject-wt2" / ".env.local").unlink()
    return repo


COMMANDS = [
    ("list",),
    ("peek", "1"),
    ("env", "1"),
    ("env", "2"),
    ("env", "1", "--format", "shell"),
    ("env", "2", "--format", "json"),
    ("validate",),
    ("validate", "--all"),
    ("refresh", "1", "--dry-run"),
    ("refresh", "1"),
    ("take", "--label", ESC_LABEL),
    ("list",),
    ("take", "--branch", "task-x"),
    ("switch", "1", "task-y"),
    ("db", "status"),
    ("secrets", "pull"),
    ("agents", "install", "--dry-run"),
    ("release", "1", "--label", ESC_LABEL),
    ("release", "1", "--reset", "--force"),
    ("remove", "2"),
    ("create", "3"),
    ("env", "approve"),
    ("nosuch", ESC_LABEL),
]


def test_exec_and_its_errors_print_no_value(hostile: Path) -> None:
    """exec replaces grove's process with the command, so it runs as a real process here."""
    for argv in (["exec", "1", "--", "true"], ["exec", "1", "--json", "--", "true"]):
        for args in (argv, [*argv[:-1], "no-such-program-" + ESC_LABEL]):
            result = grove_process(*args, cwd=hostile)
            assert_clean(tuple(args), result.out, result.err, result.code)


def assert_clean(command: tuple[str, ...], out: str, err: str, code: int) -> None:
    shown = " ".join(command).encode("unicode_escape").decode()
    assert code != 3, f"grove {shown} crashed: {err}"
    for value in PLANTED:
        assert value not in out, f"grove {shown} printed a planted value on stdout"
        assert value not in err, f"grove {shown} printed a planted value on stderr"
    for stream, text in (("stdout", out), ("stderr", err)):
        found = RAW_CONTROL.search(text)
        assert found is None, f"grove {shown}: raw {found.group()!r} on {stream}"


def test_no_command_prints_a_value_a_raw_byte_or_a_control_character(hostile: Path, grove) -> None:
    codes = {}
    for command in COMMANDS:
        for as_json in (False, True):
            argv = [*command, "--json"] if as_json else list(command)
            if "--" in argv and as_json:
                argv = [*command[: command.index("--")], "--json", *command[command.index("--") :]]
            result = grove(*argv)
            assert_clean(tuple(argv), result.out, result.err, result.code)
            if as_json and result.out.strip():
                result.json  # noqa: B018 - one JSON document, even on an error path
            codes[" ".join(argv)] = result.code
    # The run went through real success and error paths, not only refusals.
    assert 0 in codes.values()
    assert any(code in (1, 2) for code in codes.values())


def test_a_managed_key_whose_value_comes_from_the_shared_file_is_masked(
    hostile: Path, grove
) -> None:
    if b"\xfc" in (hostile / ".env").read_bytes():
        pytest.skip("the shared file is unreadable in this variant")
    shown = grove("env", "2", "--json")
    assert shown.code == 0, shown.out
    assert "DATABASE_URL" in shown.json["masked"]
    assert "PLANTEDprodpass" not in shown.out
    # While the slot sees grove's own value, it is shown as it is.
    ours = grove("env", "1", "--json")
    assert ours.json["env"]["DATABASE_URL"].startswith("postgres://localhost:")
    assert "DATABASE_URL" not in ours.json["masked"]


def test_a_label_with_escape_codes_is_shown_escaped(hostile: Path, grove) -> None:
    if b"\xfc" in (hostile / ".env").read_bytes():
        pytest.skip("take refuses on an unreadable shared file in this variant")
    taken = grove("take", "--label", ESC_LABEL, "--json")
    assert taken.code == 0, taken.out + taken.err
    listing = grove("list")
    assert "agent\\x1b[31m-red\\x1b]0;title\\x07\\u202e" in listing.out
    # JSON keeps it exact (json.dumps escapes it), so an agent can match its own label.
    listed = grove("list", "--json")
    labels = [(s.get("lease") or {}).get("label") for s in listed.json["slots"]]
    assert ESC_LABEL in labels
    assert "\\u001b[31m" in listed.out


def test_validate_names_each_file_it_cannot_decode(hostile: Path, grove) -> None:
    if b"\xfc" not in (hostile / ".env").read_bytes():
        pytest.skip("only the not-UTF-8 variant has such files")
    result = grove("validate", "--all", "--json")
    assert result.code == 1
    unreadable = [f for f in result.json["findings"] if f["check"] == "env.unreadable"]
    messages = sorted(f["message"] for f in unreadable)
    assert len(messages) == 2, messages
    assert messages[0].startswith(".env: not UTF-8 (line 4)")
    assert messages[1].endswith(
        "myproject-wt1/.env.local: not UTF-8 (line 10); its content is not shown"
    )
