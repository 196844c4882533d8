"""grove's arguments: one argparse parser per command, built only for the command being
run, and the checks of flags that do not go together."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence

from grove import __version__, usage
from grove.errors import UsageError

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing
if TYPE_CHECKING:
    from typing import Any, NoReturn

    from grove.lifecycle.holders import Caller

# argparse passes each of its own strings through gettext, and gettext looks for catalog
# files on disk at every call (importing locale to name them): 3 ms of each command.
# CPython ships no catalog for them, so the answer is always the string itself.
argparse._ = lambda message: message  # type: ignore[attr-defined]
argparse.ngettext = lambda singular, plural, n: singular if n == 1 else plural  # type: ignore[attr-defined]


class _Formatter(argparse.HelpFormatter):
    """argparse's formatter, measuring the terminal without shutil: argparse makes one for
    every argument it adds, and shutil brings bz2, lzma and zlib with it (3-4 ms)."""

    def __init__(
        self,
        prog: str,
        indent_increment: int = 2,
        max_help_position: int = 24,
        width: int | None = None,
    ) -> None:
        super().__init__(prog, indent_increment, max_help_position, width or _columns())


def _columns() -> int:
    """What shutil.get_terminal_size().columns says: $COLUMNS, else the terminal's, else 80."""
    import os

    try:
        return int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        pass
    try:
        return os.get_terminal_size(1).columns or 80
    except OSError:
        return 80


class _Parser(argparse.ArgumentParser):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", _Formatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message}", hint=f"`{self.prog} --help` shows the usage")


def slot_arg(text: str) -> int:
    try:
        return _slot(text)
    except argparse.ArgumentTypeError as exc:
        raise UsageError(f"grove env: {exc}") from None


def _slot(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a slot number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a slot number >= 0, got {value}")
    return value


def _init_args(p: _Parser, common: _Parser) -> None:
    p.add_argument("--dry-run", action="store_true", help="print the file instead of writing it")
    p.add_argument("--force", action="store_true", help="overwrite an existing grove.toml")


def _create_args(p: _Parser, common: _Parser) -> None:
    p.add_argument("slot", nargs="?", type=_slot, help="slot index (default: lowest free)")
    p.add_argument("--branch", "-b", help="check out BRANCH, creating it from --from if new")
    p.add_argument("--from", dest="start", metavar="REF", help="start point (default: main's HEAD)")


def _refresh_args(p: _Parser, common: _Parser) -> None:
    p.add_argument("slots", nargs="*", type=_slot, help="slots (default: the current one)")
    p.add_argument("--all", action="store_true", help="every slot, main included")
    p.add_argument("--dry-run", action="store_true", help="list what would change")


def _validate_args(p: _Parser, common: _Parser) -> None:
    p.add_argument(
        "slots", nargs="*", type=_slot, help="slots (default: current, or all from main)"
    )
    p.add_argument("--all", action="store_true", help="every slot")


def _no_args(p: _Parser, common: _Parser) -> None:
    pass


def _peek_args(p: _Parser, common: _Parser) -> None:
    p.add_argument("slot", nargs="?", type=_slot)
    p.add_argument("-n", "--commits", type=int, default=5, help="recent commits to show")


def _env_args(p: _Parser, common: _Parser) -> None:
    p.add_argument("slot", nargs="?", metavar="N|approve|edit")
    p.add_argument("--file", help="with `edit`: which shared file (default: the first)")
    p.add_argument(
        "--format", choices=("dotenv", "shell", "json"), default=None, help="default: dotenv"
    )
    p.add_argument(
        "--reveal",
        action="store_true",
        help="print values from the shared and user-owned lines unmasked",
    )


def _secrets_args(p: _Parser, common: _Parser) -> None:
    p.add_argument(
        "action",
        choices=("pull", "check", "export"),
        help="pull: rewrite the shared file from [secrets] pull; check: run [secrets] inject "
        "and list its keys, masked; export: its values as shell `export` lines (for eval)",
    )
    p.add_argument("slot", nargs="?", type=_slot, help="check and export: slot (default: current)")


def _exec_args(p: _Parser, common: _Parser) -> None:
    p.add_argument("slot", nargs="?", type=_slot)
    p.add_argument(
        "cmd", nargs="*", metavar="-- CMD", help="the command and its arguments, after --"
    )


def _compose_args(p: _Parser, common: _Parser) -> None:
    p.add_argument("slot", nargs="?", type=_slot)
    p.add_argument("cmd", nargs="*", metavar="-- ARGS", help="docker compose arguments, after --")


def _shell_args(p: _Parser, common: _Parser) -> None:
    p.add_argument("slot", nargs="?", type=_slot)


def _switch_args(p: _Parser, common: _Parser) -> None:
    p.add_argument("slot", type=_slot)
    p.add_argument("branch")
    p.add_argument("--from", dest="start", metavar="REF", help="start point for a new branch")
    _add_holder_args(
        p,
        "switch a slot another live task holds, ending the slot's processes that are not "
        "its services",
    )


def _remove_args(p: _Parser, common: _Parser) -> None:
    p.add_argument("slot", type=_slot)
    p.add_argument(
        "--force",
        action="store_true",
        help="discard uncommitted work (or a holder's), end the slot's processes that are not "
        "its services, and remove",
    )
    p.set_defaults(label=None, pid=None)
    p.add_argument("--keep-db", action="store_true", help="keep the slot's database")


def _up_args(p: _Parser, common: _Parser) -> None:
    p.add_argument("items", nargs="*", metavar="[N] SERVICE", help="slot, then services (all)")
    _add_allow_unapproved(p, "")


def _down_args(p: _Parser, common: _Parser) -> None:
    p.add_argument("items", nargs="*", metavar="[N] SERVICE", help="slot, then services (all)")


def _logs_args(p: _Parser, common: _Parser) -> None:
    p.add_argument("items", nargs="+", metavar="[N] SERVICE", help="slot, then one service")
    p.add_argument("-f", "--follow", action="store_true", help="keep printing what it writes")
    p.add_argument("--tail", type=int, default=50, metavar="K", help="last K lines (50)")


def _take_args(p: _Parser, common: _Parser) -> None:
    p.add_argument("--branch", "-b", help="the task's branch (created from --from if new)")
    p.add_argument("--from", dest="start", metavar="REF", help="start point (default: main's HEAD)")
    p.add_argument("--label", default="", help="who or what holds the slot")
    p.add_argument("--pid", type=int, help="the process that holds it (stale once it exits)")
    p.add_argument(
        "--here",
        action="store_true",
        help="take the worktree you stand in, adopting it as a slot if another tool made it",
    )
    p.add_argument(
        "--claim",
        action="store_true",
        help="first claim --branch on the git remote ([team] remote, else origin); "
        "with [team] in grove.toml every take with --branch does",
    )


def _release_args(p: _Parser, common: _Parser) -> None:
    p.add_argument("slot", nargs="?", type=_slot)
    p.add_argument("--stale", action="store_true", help="only leases whose pid is gone")
    p.add_argument(
        "--reset",
        action="store_true",
        help="clean start: detached at main's HEAD, build output removed, db reset",
    )
    p.add_argument("--from", dest="start", metavar="REF", help="with --reset: where to detach")
    _add_holder_args(
        p,
        "end another task's lease; with --reset: discard uncommitted work and end the "
        "slot's processes that are not its services",
    )


def _add_holder_args(p: argparse.ArgumentParser, force_help: str) -> None:
    """Who the caller is, for commands that refuse a slot another live task holds."""
    p.add_argument("--label", help="act as the holder that took the slot with this label")
    p.add_argument("--pid", type=int, help="act as the holder that took the slot with this pid")
    p.add_argument("--force", action="store_true", help=force_help)


def _add_allow_unapproved(parser: argparse.ArgumentParser, when: str) -> None:
    """The override for lifecycle.gate. Not --force: on switch and release that already
    means acting on another task's slot, and one flag must not grant both."""
    parser.add_argument(
        "--allow-unapproved",
        action="store_true",
        help=f"{when}run steps although the shared files changed since `grove env approve`",
    )


def _agents_args(agents: _Parser, common: _Parser) -> None:
    sub = agents.add_subparsers(dest="agents_command", metavar="ACTION", parser_class=_Parser)
    q = sub.add_parser("install", parents=[common], help="skills, permissions, hooks, AGENTS.md")
    q.add_argument(
        "agents",
        nargs="*",
        metavar="AGENT[=PROFILE]",
        help="claude codex cursor gemini (all), each with its own profile if given",
    )
    q.add_argument(
        "--profile",
        action="append",
        metavar="[AGENT=]PROFILE",
        help="default, strict or reviewer (read-only): for every agent given without one, or "
        "AGENT=PROFILE for one (repeatable)",
    )
    q.add_argument("--dry-run", action="store_true", help="show the diff, write nothing")
    q = sub.add_parser("uninstall", parents=[common], help="remove exactly what install added")
    q.add_argument("--dry-run", action="store_true", help="show the diff, write nothing")
    q = sub.add_parser(
        "hook", parents=[common], help="called by agents: worktree and session hooks"
    )
    q.add_argument("event", choices=("worktree-create", "worktree-remove", "session-start"))


def _db_args(db: _Parser, common: _Parser) -> None:
    dbsub = db.add_subparsers(dest="db_command", metavar="ACTION", parser_class=_Parser)
    for action, text in (
        ("status", "is each database provisioned and up"),
        ("start", "start (cloning first if needed)"),
        ("stop", "stop"),
    ):
        q = dbsub.add_parser(action, parents=[common], help=text)
        q.add_argument("slots", nargs="*", type=_slot, help="slots (default: the current one)")
        q.add_argument("--all", action="store_true", help="every slot")
        if action == "start":
            _add_allow_unapproved(q, "")
    q = dbsub.add_parser("reset", parents=[common], help="back to the template's state")
    q.add_argument("slot", type=_slot)
    _add_holder_args(q, "reset the database of a slot another live task holds")
    _add_allow_unapproved(q, "")
    q = dbsub.add_parser("psql", parents=[common], help="psql into slot N's database")
    q.add_argument("slot", nargs="?", type=_slot)
    q.add_argument("cmd", nargs="*", metavar="-- ARGS", help="arguments for psql, after --")
    q = dbsub.add_parser("reseed", parents=[common], help="rebuild the template from the seed")
    _add_allow_unapproved(q, "")
    q = dbsub.add_parser("drop", parents=[common], help="delete slot N's database")
    q.add_argument("slot", type=_slot)
    q.add_argument("--yes", action="store_true", help="yes, delete its data")


def _claims_args(claims: _Parser, common: _Parser) -> None:
    sub = claims.add_subparsers(dest="claims_command", metavar="ACTION", parser_class=_Parser)
    sub.add_parser("list", parents=[common], help="the remote's claims (the default)")
    q = sub.add_parser("renew", parents=[common], help="push a fresh expiry for a slot's claim")
    q.add_argument("slots", nargs="*", type=_slot, help="slots (default: the current one)")
    q.add_argument("--all", action="store_true", help="every slot holding a claim")
    q = sub.add_parser("drop", parents=[common], help="end a claim a crashed take left behind")
    q.add_argument("branch")
    q.add_argument(
        "--force", action="store_true", help="end another holder's claim that has not expired"
    )


ArgumentAdder = Callable[[_Parser, _Parser], None]

# What adds each command's arguments (usage.COMMAND_HELP names and orders them).
ADDERS: dict[str, ArgumentAdder] = {
    "init": _init_args,
    "create": _create_args,
    "refresh": _refresh_args,
    "validate": _validate_args,
    "list": _no_args,
    "peek": _peek_args,
    "env": _env_args,
    "secrets": _secrets_args,
    "exec": _exec_args,
    "compose": _compose_args,
    "shell": _shell_args,
    "switch": _switch_args,
    "take": _take_args,
    "release": _release_args,
    "agents": _agents_args,
    "db": _db_args,
    "remove": _remove_args,
    "up": _up_args,
    "down": _down_args,
    "logs": _logs_args,
    "claims": _claims_args,
}
DESCRIPTIONS = {
    "env": "grove env [N]: the merged environment of slot N. "
    "grove env approve: record the shared files' current state as reviewed. "
    "grove env edit: edit main's shared file (protection lifted), then approve it.",
}

# The commands that run steps, and so refuse unapproved changes to the shared files.
GATED_COMMANDS = (
    "create",
    "refresh",
    "take",
    "switch",
    "release",
    "exec",
    "compose",
    "shell",
    "secrets",
)


def slot_and_names(items: list[str]) -> tuple[int | None, list[str]]:
    """`[N] [SERVICE...]`: a leading number is the slot (service names start with a letter)."""
    if items and items[0].isdigit():
        return slot_arg(items[0]), items[1:]
    return None, list(items)


def caller(args: argparse.Namespace) -> Caller:
    from grove.lifecycle.holders import Caller

    return Caller(label=args.label, pid=args.pid, force=args.force)


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser for `command`'s arguments only, or, with None, every command's name and
    help. Building all thirty parsers with their options took a third of a call's start-up,
    and a call only ever parses one."""
    common = _Parser(add_help=False)
    common.add_argument(
        "--json",
        action="store_true",
        default=argparse.SUPPRESS,
        help="print one JSON document on stdout (logs go to stderr)",
    )
    parser = _Parser(
        prog="grove",
        description=usage.DESCRIPTION,
        parents=[common],
    )
    parser.add_argument("--version", action="version", version=f"grove {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name, text in usage.COMMAND_HELP.items():
        if command is not None and name != command:
            continue
        p = sub.add_parser(name, parents=[common], help=text, description=DESCRIPTIONS.get(name))
        if command is not None:
            ADDERS[name](p, common)
            if name in GATED_COMMANDS:
                _add_allow_unapproved(p, "with --reset: " if name == "release" else "")
    return parser


def command_in(argv: Sequence[str]) -> str | None:
    """The command argv names (its first word that is not an option), if grove has it and
    no --help before it asks for the list of every command."""
    for arg in argv:
        if arg in ("-h", "--help"):
            return None
        if not arg.startswith("-"):
            return arg if arg in usage.COMMAND_HELP else None
    return None


def parse(argv: list[str]) -> argparse.Namespace:
    """Parse grove's own arguments; everything after `--` is the command `exec` runs."""
    own, tail = (
        (argv[: argv.index("--")], argv[argv.index("--") + 1 :]) if "--" in argv else (argv, [])
    )
    args = build_parser(command_in(own)).parse_args(own)
    args.json = getattr(args, "json", False)
    if args.command in ("exec", "compose") or getattr(args, "db_command", None) == "psql":
        if args.cmd:
            raise UsageError(
                f"put the arguments after --: {' '.join(args.cmd)}",
                hint="`--` keeps the command's own options away from grove",
            )
        args.cmd = tail
    elif tail:
        raise UsageError(f"unexpected arguments after --: {' '.join(tail)}")
    return args


def refuse_ignored_flags(args: argparse.Namespace) -> None:
    """A flag the command would ignore is a usage error: whoever passed it expected it to
    do something. Checked before anything is opened, read or written."""
    command = f"db {args.db_command}" if args.command == "db" else args.command
    if args.command == "claims" and args.claims_command is not None:
        command = f"claims {args.claims_command}"
    ignored: str | None = None
    hint = f"`grove {command} --help` shows which options go together"
    if command == "release":
        # --stale never acts for a holder: it ends only leases whose pid is gone.
        holder_flags = {"--force": args.force, "--label": args.label is not None}
        holder_flags["--pid"] = args.pid is not None
        holder = next((flag for flag, given in holder_flags.items() if given), None)
        if args.stale and args.reset:
            ignored = "--stale cannot be combined with --reset (--reset starts one slot afresh)"
        elif args.stale and holder is not None:
            ignored = (
                f"{holder} has no effect with --stale, which ends only leases whose pid is gone"
            )
        elif args.start is not None and not args.reset:
            ignored = "--from only applies with --reset (where the slot is detached)"
        elif args.allow_unapproved and not args.reset:
            ignored = "--allow-unapproved only applies with --reset (ending a lease runs nothing)"
    elif command == "take" and args.claim and (args.here or not args.branch):
        ignored = "--claim needs --branch (a claim is on a branch)"
        if args.here:
            ignored = "--claim cannot be combined with --here (a claim is made before a take)"
    elif command == "take" and args.here and (args.branch or args.start):
        flag = "--branch" if args.branch else "--from"
        ignored = (
            f"--here takes the worktree as it is checked out; it cannot be combined with {flag}"
        )
        hint = "check out the branch there first, then `grove take --here`"
    elif command in ("refresh", "validate", "db status", "db start", "db stop", "claims renew"):
        if args.all and args.slots:
            numbers = " ".join(str(n) for n in args.slots)
            ignored = f"--all cannot be combined with slot numbers ({numbers})"
        elif command == "refresh" and args.dry_run and args.allow_unapproved:
            ignored = "--allow-unapproved has no effect with --dry-run, which runs nothing"
    elif command == "env":
        action = args.slot if args.slot in ("approve", "edit") else None
        if args.file is not None and action != "edit":
            ignored = "--file only applies to `grove env edit`"
        elif action is not None and args.reveal:
            ignored = f"--reveal does not apply to `grove env {action}`"
        elif action is not None and args.format is not None:
            ignored = f"--format does not apply to `grove env {action}`"
    elif command == "logs" and args.follow and args.json:
        ignored = "--follow cannot be combined with --json (one document, then the end)"
    elif command == "shell" and args.json:
        ignored = "--json does not apply to an interactive shell (its output is the session)"
        hint = "`grove env N --format json` prints the environment; `grove exec N --json -- CMD`"
    if ignored is not None:
        raise UsageError(f"grove {command}: {ignored}", hint=hint)
