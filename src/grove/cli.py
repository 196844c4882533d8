"""argv -> command -> rendered result -> exit code. The only module that prints answers."""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from grove import __version__, output
from grove.errors import GroveError, UsageError

if TYPE_CHECKING:
    from grove.lifecycle.holders import Caller
    from grove.slots import Grove


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message}", hint=f"`{self.prog} --help` shows the usage")


def _slot_arg(text: str) -> int:
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
    p.add_argument("action", choices=("pull",))


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
    q.add_argument("agents", nargs="*", metavar="AGENT", help="claude codex cursor gemini (all)")
    q.add_argument("--profile", choices=("default", "strict"), default="default")
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


ArgumentAdder = Callable[[_Parser, _Parser], None]

# Every command: its one-line help and what adds its arguments, in `grove --help` order.
COMMANDS: dict[str, tuple[str, ArgumentAdder]] = {
    "init": ("write a commented grove.toml", _init_args),
    "create": ("add the lowest free slot (or slot N)", _create_args),
    "refresh": ("converge slots (idempotent)", _refresh_args),
    "validate": ("read-only health check", _validate_args),
    "list": ("every slot: branch, state, ports, env", _no_args),
    "peek": ("what slot N is doing, read-only", _peek_args),
    "env": ("the merged environment of slot N; `env approve`", _env_args),
    "secrets": ("refresh the shared file from a manager", _secrets_args),
    "exec": ("run a command in slot N with its env", _exec_args),
    "compose": ("docker compose for slot N", _compose_args),
    "shell": ("$SHELL in slot N with its env", _shell_args),
    "switch": ("move BRANCH into slot N", _switch_args),
    "take": ("hand a free slot to a new task", _take_args),
    "release": ("end a slot's lease (the slot stays)", _release_args),
    "agents": ("install grove into coding agents", _agents_args),
    "db": ("the per-slot PostgreSQL databases", _db_args),
    "remove": ("remove slot N (refuses to lose work)", _remove_args),
    "up": ("start slot N's services in the background", _up_args),
    "down": ("stop slot N's services", _down_args),
    "logs": ("a service's log", _logs_args),
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


def _slot_and_names(items: list[str]) -> tuple[int | None, list[str]]:
    """`[N] [SERVICE...]`: a leading number is the slot (service names start with a letter)."""
    if items and items[0].isdigit():
        return _slot_arg(items[0]), items[1:]
    return None, list(items)


def _caller(args: argparse.Namespace) -> Caller:
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
        description="Evergreen git worktrees, each with its own ports, env and database.",
        parents=[common],
    )
    parser.add_argument("--version", action="version", version=f"grove {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name, (text, add_arguments) in COMMANDS.items():
        if command is not None and name != command:
            continue
        p = sub.add_parser(name, parents=[common], help=text, description=DESCRIPTIONS.get(name))
        if command is not None:
            add_arguments(p, common)
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
            return arg if arg in COMMANDS else None
    return None


def _dispatch(args: argparse.Namespace) -> tuple[output.Result, int]:
    from grove.slots import open_grove

    command = args.command
    if command == "init":
        from grove.commands import init

        grove = open_grove(load_config=False)
        return init.run(grove, args.dry_run, args.force), 0
    if command == "agents" and args.agents_command == "hook":
        from grove.commands import agent_hooks

        return agent_hooks.run(args.event, sys.stdin.fileno())
    grove = open_grove()
    if command == "create":
        from grove.commands import create

        return create.run(grove, args.slot, args.branch, args.start, args.allow_unapproved), 0
    if command == "refresh":
        from grove.commands import refresh

        return refresh.run(grove, args.slots, args.all, args.dry_run, args.allow_unapproved), 0
    if command == "validate":
        from grove.commands import validate

        checked = validate.run(grove, args.slots, args.all)
        return checked, 1 if checked.errors else 0
    if command == "list":
        from grove.commands import list_

        return list_.run(grove), 0
    if command == "peek":
        from grove.commands import peek

        return peek.run(grove, args.slot, args.commits), 0
    if command == "env":
        if args.slot == "approve":
            from grove.commands import secrets

            return secrets.approve(grove), 0
        if args.slot == "edit":
            from grove.commands import secrets

            return secrets.edit(grove, args.file), 0
        from grove.commands import env

        return env.run(
            grove,
            None if args.slot is None else _slot_arg(args.slot),
            args.format or "dotenv",
            args.reveal,
        ), 0
    if command == "secrets":
        from grove.commands import secrets

        return secrets.pull(grove, args.allow_unapproved), 0
    if command in ("exec", "compose", "shell"):
        return _dispatch_run(grove, args)
    if command == "switch":
        from grove.commands import switch

        caller, allow = _caller(args), args.allow_unapproved
        return switch.run(
            grove, args.slot, args.branch, args.start, caller, allow_unapproved=allow
        ), 0
    if command == "remove":
        from grove.commands import remove

        return remove.run(grove, args.slot, _caller(args), args.keep_db), 0
    if command == "db":
        return _dispatch_db(grove, args)
    if command == "agents":
        return _dispatch_agents(grove, args)
    if command == "take":
        return _dispatch_take(grove, args)
    if command in ("up", "down", "logs"):
        return _dispatch_services(grove, args)
    if command == "release":
        from grove.commands import release

        return release.run(
            grove,
            args.slot,
            stale_only=args.stale,
            reset=args.reset,
            start=args.start,
            caller=_caller(args),
            allow_unapproved=args.allow_unapproved,
        ), 0
    raise UsageError(f"unknown command {command!r}")


def _dispatch_take(grove: Grove, args: argparse.Namespace) -> tuple[output.Result, int]:
    from grove.commands import take

    return take.run(
        grove,
        branch=args.branch,
        start=args.start,
        label=args.label,
        pid=args.pid,
        here=args.here,
        allow_unapproved=args.allow_unapproved,
    ), 0


def _dispatch_agents(grove: Grove, args: argparse.Namespace) -> tuple[output.Result, int]:
    from grove import agents

    if args.agents_command == "install":
        return agents.install(grove, args.agents, args.profile, args.dry_run), 0
    if args.agents_command == "uninstall":
        return agents.uninstall(grove, args.dry_run), 0
    raise UsageError("grove agents needs an action", hint="install, uninstall or hook")


def _dispatch_run(grove: Grove, args: argparse.Namespace) -> tuple[output.Result, int]:
    allow = args.allow_unapproved
    if args.command == "exec":
        from grove.commands import exec_

        ran = exec_.run(grove, args.slot, args.cmd, allow, args.json)
    elif args.command == "shell":
        from grove.commands import shell

        ran = shell.run(grove, args.slot, allow)
    else:
        from grove.commands import compose

        ran = compose.run(grove, args.slot, args.cmd, allow, args.json)
    return ran, ran.exit_code


def _dispatch_services(grove: Grove, args: argparse.Namespace) -> tuple[output.Result, int]:
    n, names = _slot_and_names(args.items)
    if args.command == "up":
        from grove.commands import up

        return up.run(grove, n, names, args.allow_unapproved), 0
    if args.command == "down":
        from grove.commands import down

        return down.run(grove, n, names), 0
    from grove.commands import logs

    if len(names) != 1:
        raise UsageError(
            "grove logs needs exactly one service", hint="grove logs [N] SERVICE [-f] [--tail K]"
        )
    if args.tail < 1:
        raise UsageError(f"--tail: expected a number of lines >= 1, got {args.tail}")
    if args.follow:
        return logs.follow(grove, n, names[0], args.tail), 0
    return logs.run(grove, n, names[0], args.tail), 0


def _dispatch_db(grove: Grove, args: argparse.Namespace) -> tuple[output.Result, int]:
    from grove.commands import db

    action = args.db_command
    if action == "status":
        return db.status(grove, args.slots, args.all), 0
    if action == "start":
        return db.start(grove, args.slots, args.all, args.allow_unapproved), 0
    if action == "stop":
        return db.stop(grove, args.slots, args.all), 0
    if action == "reset":
        return db.reset(grove, args.slot, _caller(args), args.allow_unapproved), 0
    if action == "reseed":
        return db.reseed(grove, args.allow_unapproved), 0
    if action == "drop":
        return db.drop(grove, args.slot, args.yes), 0
    if action == "psql":
        db.psql(grove, args.slot, args.cmd)  # does not return
    raise UsageError("grove db needs an action", hint="`grove db --help` lists them")


def _crash_log(exc: BaseException) -> Path | None:
    """Where the code failed (files, lines, functions) and the exception's type, never its
    message or arguments: those can hold a file's bytes or a secret (a UnicodeDecodeError
    carries the whole buffer it failed on). Written 0600 all the same."""
    import traceback

    from grove import fsio

    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "grove"
    path = base / f"crash-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.log"
    frames = "".join(
        f'  File "{frame.filename}", line {frame.lineno}, in {frame.name}\n'
        for frame in traceback.extract_tb(exc.__traceback__)
    )
    try:
        fsio.write_atomic(
            path,
            f"grove {__version__}, python {sys.version.split()[0]}\n"
            f"command: grove {' '.join(sys.argv[1:2])}\n\n"
            f"Traceback (most recent call last):\n{frames}{type(exc).__name__}\n",
            mode=0o600,
        )
    except OSError:
        return None
    return path


def _emit(data: str, stream: Any, raw: bool = False) -> None:
    """Print a result. Text passes through output.safe (no control character from a label
    or a file reaches the terminal); JSON is already escaped by json.dumps."""
    if data:
        print(data if raw else output.safe(data), file=stream, flush=True)


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


def _refuse_ignored_flags(args: argparse.Namespace) -> None:
    """A flag the command would ignore is a usage error: whoever passed it expected it to
    do something. Checked before anything is opened, read or written."""
    command = f"db {args.db_command}" if args.command == "db" else args.command
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
    elif command == "take" and args.here and (args.branch or args.start):
        flag = "--branch" if args.branch else "--from"
        ignored = (
            f"--here takes the worktree as it is checked out; it cannot be combined with {flag}"
        )
        hint = "check out the branch there first, then `grove take --here`"
    elif command in ("refresh", "validate", "db status", "db start", "db stop"):
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


def run(argv: list[str]) -> int:
    args = parse(argv)
    if args.command is None:
        build_parser().print_help()
        return 0
    _refuse_ignored_flags(args)
    result, code = _dispatch(args)
    if args.json:
        _emit(output.to_json(result.as_json()), sys.stdout, raw=True)
    else:
        _emit(result.as_text(), sys.stdout)
    return code


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    want_json = "--json" in (argv[: argv.index("--")] if "--" in argv else argv)
    try:
        return run(argv)
    except GroveError as exc:
        if want_json:
            _emit(output.to_json(exc.as_json()), sys.stdout, raw=True)
        else:
            _emit(f"grove: error: {exc.message}", sys.stderr)
            if exc.hint:
                _emit(f"  hint: {exc.hint}", sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("grove: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 1
    except Exception as exc:
        # The type only: an exception's text can carry file content (see _crash_log).
        log = _crash_log(exc)
        message = f"unexpected error: {type(exc).__name__}" + (
            f"; where it happened is in {log}" if log else ""
        )
        if want_json:
            bug = {"code": "bug", "message": message, "hint": "please report it with the log"}
            _emit(output.to_json({"error": bug}), sys.stdout, raw=True)
        else:
            _emit(f"grove: {message}", sys.stderr)
        return 3
