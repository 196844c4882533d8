"""argv -> command -> rendered result -> exit code. The only module that prints answers.

Start-up matters (agents call grove on every step), so this module imports only os and sys
at the top: `grove --help` and `--version` are answered before argparse loads, and each
command's modules load when it runs."""

from __future__ import annotations

import os
import sys

from grove import usage
from grove.errors import GroveError, UsageError

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing
if TYPE_CHECKING:
    import argparse
    from collections.abc import Sequence
    from pathlib import Path
    from typing import Any

    from grove import output
    from grove.slots import Grove


def _dispatch(args: argparse.Namespace, opened: Grove | None) -> tuple[output.Result, int]:
    from grove import arguments
    from grove.slots import open_grove

    command = args.command
    if command == "init":
        from grove.commands import init

        grove = open_grove(load_config=False)
        return init.run(grove, args.dry_run, args.force), 0
    if command == "agents" and args.agents_command == "hook":
        from grove.commands import agent_hooks

        return agent_hooks.run(args.event, sys.stdin.fileno())
    grove = opened if opened is not None else open_grove()
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
            None if args.slot is None else arguments.slot_arg(args.slot),
            args.format or "dotenv",
            args.reveal,
        ), 0
    if command == "secrets":
        from grove.commands import secrets

        if args.action == "check":
            return secrets.check(grove, args.slot), 0
        if args.action == "export":
            return secrets.export(grove, args.slot), 0
        return secrets.pull(grove, args.allow_unapproved), 0
    if command in ("exec", "compose", "shell"):
        return _dispatch_run(grove, args)
    if command == "switch":
        from grove.commands import switch

        caller, allow = arguments.caller(args), args.allow_unapproved
        return switch.run(
            grove, args.slot, args.branch, args.start, caller, allow_unapproved=allow
        ), 0
    if command == "remove":
        from grove.commands import remove

        return remove.run(grove, args.slot, arguments.caller(args), args.keep_db), 0
    if command == "db":
        return _dispatch_db(grove, args)
    if command == "agents":
        return _dispatch_agents(grove, args)
    if command == "take":
        return _dispatch_take(grove, args)
    if command in ("up", "down", "logs"):
        return _dispatch_services(grove, args)
    if command == "claims":
        return _dispatch_claims(grove, args)
    if command == "release":
        from grove.commands import release

        return release.run(
            grove,
            args.slot,
            stale_only=args.stale,
            reset=args.reset,
            start=args.start,
            caller=arguments.caller(args),
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
        claim=args.claim,
    ), 0


def _dispatch_claims(grove: Grove, args: argparse.Namespace) -> tuple[output.Result, int]:
    from grove.commands import claims

    if args.claims_command == "renew":
        renewed = claims.renew(grove, args.slots, args.all)
        return renewed, 1 if renewed.failed else 0
    if args.claims_command == "drop":
        return claims.drop(grove, args.branch, args.force), 0
    return claims.run(grove), 0


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
    from grove import arguments

    n, names = arguments.slot_and_names(args.items)
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
    from grove import arguments
    from grove.commands import db

    action = args.db_command
    if action == "status":
        return db.status(grove, args.slots, args.all), 0
    if action == "start":
        return db.start(grove, args.slots, args.all, args.allow_unapproved), 0
    if action == "stop":
        return db.stop(grove, args.slots, args.all), 0
    if action == "reset":
        return db.reset(grove, args.slot, arguments.caller(args), args.allow_unapproved), 0
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
    import time
    import traceback
    from pathlib import Path

    from grove import __version__, fsio

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
    from grove import output

    if data:
        print(data if raw else output.safe(data), file=stream, flush=True)


def _emit_json(data: dict[str, Any]) -> None:
    from grove import output

    _emit(output.to_json(data), sys.stdout, raw=True)


def run(argv: list[str]) -> int:
    answer = usage.early_answer(argv)
    if answer is not None:
        print(answer)
        return 0
    if argv[:1] == ["env"]:
        from grove.state import envcache

        cached = envcache.lookup(argv)
        if cached is not None:
            envcache.emit(cached)
            return 0
    if argv[:1] == ["list"]:
        _start_statuses_early()
        try:
            return _run_parsed(argv)
        finally:
            _reap_statuses_started_early()
    if argv[:1] == ["take"]:
        opened = _start_take_early(argv)
        try:
            return _run_parsed(argv, opened)
        finally:
            _end_take_head_start()
    return _run_parsed(argv)


def _run_parsed(argv: list[str], opened: Grove | None = None) -> int:
    import time

    started_ns = time.time_ns()
    from grove import arguments

    args = arguments.parse(argv)
    if args.command is None:
        print(usage.top_help())
        return 0
    arguments.refuse_ignored_flags(args)
    result, code = _dispatch(args, opened)
    if args.json:
        _emit_json(result.as_json())
    else:
        _emit(result.as_text(), sys.stdout)
    if args.command == "env" and getattr(result, "inputs", None):
        _remember_env(argv, result, args.json, started_ns)
    return code


def _start_statuses_early() -> None:
    """`list`: every slot's git status starts now, while the rest of grove loads."""
    import contextlib
    from pathlib import Path

    from grove import git

    with contextlib.suppress(OSError):  # list itself says what is wrong with the folder
        git.prestart_statuses(Path.cwd().resolve())


def _start_take_early(argv: list[str]) -> Grove | None:
    """`take`: the likely slot's status starts now, under that slot's lock, while argparse
    and take's modules load (lifecycle/headstart); the grove opened for it serves the take.
    Whatever fails here is left for the take itself to report, in its usual order."""
    if any(word.startswith(("-h", "--h", "--cl")) for word in argv[1:]):
        return None  # --help, --here, --claim (or a prefix of one): nothing to start early
    from grove.lifecycle import headstart
    from grove.slots import open_grove

    try:
        grove = open_grove()
        if grove.config.team is None:  # a team's take claims its branch first
            headstart.begin_status(grove)
    except (GroveError, OSError):
        return None
    return grove


def _end_take_head_start() -> None:
    """What the take did not take over (it failed first, or never ran) is let go."""
    if "grove.lifecycle.headstart" in sys.modules:
        from grove.lifecycle import headstart

        headstart.end()


def _reap_statuses_started_early() -> None:
    """What list did not take over (it failed first, or the guess was wrong) is reaped."""
    from grove import git

    for collect in git.end_prestart():
        collect()


def _remember_env(argv: list[str], result: Any, as_json: bool, started_ns: int) -> None:
    """Keep env's answer, exactly as it was just written, for the next identical call."""
    from grove import output
    from grove.state import envcache

    if as_json:
        stdout, stderr = output.to_json(result.as_json()), ""
    else:
        stdout = output.safe(result.render())
        stderr = output.narration(result.note()) if result.note() else ""
    if stdout:
        stdout += "\n"
    envcache.store(result.state_dir, argv, result.inputs, (stdout, stderr), started_ns)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    want_json = "--json" in (argv[: argv.index("--")] if "--" in argv else argv)
    try:
        return run(argv)
    except GroveError as exc:
        if want_json:
            _emit_json(exc.as_json())
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
            _emit_json({"error": bug})
        else:
            _emit(f"grove: {message}", sys.stderr)
        return 3


def entry() -> None:
    """The `grove` command: main(), then out without the interpreter's teardown. Destroying
    every module and collecting its objects took 10-20 ms of each call after the answer was
    written, and grove leaves nothing for it to do: files are written atomically and closed,
    and the processes it starts run in their own sessions."""
    code = main()
    for stream in (sys.stdout, sys.stderr):
        try:  # noqa: SIM105 (contextlib is not loaded on the --help path)
            stream.flush()
        except (OSError, ValueError):  # a closed pipe: whoever read it has gone
            pass
    os._exit(code)
