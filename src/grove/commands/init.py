"""grove init: read the repository and write the grove.toml that isolates it."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from grove import config, detect, fsio, git
from grove.errors import Refused
from grove.proposal import Proposal, propose, toml_string
from grove.record import field, record
from grove.slots import Grove

SLOTS = 3


def render(p: Proposal, slots: int = SLOTS) -> str:
    q = toml_string
    out: list[str] = [
        '# grove.toml: how this repository\'s evergreen worktrees ("slots") are isolated.',
        "# Written by `grove init` from what it found; every choice says why. Slot 0 is this",
        "# checkout (main); slots 1..slots-1 are sibling folders.",
        "",
        "[grove]",
        f"slots = {slots}                   # main + {slots - 1}; `grove create` refuses beyond",
        'naming = "{name}-wt{n}"     # sibling folder: {name} = main\'s folder, {n} = index',
        "",
        "[ports]                     # each slot gets base + n * stride",
        f"# stride: {p.stride_reason}",
        f"stride = {p.stride}",
    ]
    for name, (old, new, why) in p.moved.items():
        swapped = [key for key, var in p.rewrites.items() if var == name]
        tail = (
            f", which [env.rewrite] swaps below (`from`) in {', '.join(swapped)}" if swapped else ""
        )
        out += _comment(f"{name}: {old} moved to {new}: {why}; the shared files keep {old}{tail}")
    width = max((len(k) for k in p.ports), default=4)
    for name, base in p.ports.items():
        where = ", ".join(p.port_sources.get(name, [])[:3]) or "the seed's default table"
        out.append(f"{name.ljust(width)} = {base:<5}  # {where}")
    for why in p.not_per_slot.values():
        out += _comment(f"not per slot: {why}")
    out += [
        "",
        "[env]",
        "# Shared: one real file in main, a link in every slot (dev/staging values only).",
        f"shared = [{', '.join(q(s) for s in p.shared)}]",
        "# Local: per slot, never shared; each gets grove's managed block (one per app folder,",
        "# since frameworks like Next.js read env files from each app's own folder).",
        f"local = [{', '.join(q(s) for s in p.local)}]",
    ]
    if p.protect_reasons:
        out += [f"# protect: {reason}" for reason in p.protect_reasons]
        out.append("protect = true              # main's shared files read-only; `grove env edit`")
    else:
        out.append("# protect = true            # make main's shared files read-only")
    out += ["", "[env.derived]               # more values for each slot's managed block"]
    if p.compose_files:
        out.append(f"# compose found ({', '.join(p.compose_files[:3])}): one project per slot, so")
        out.append("# containers, networks and volumes never mix (`down -v` stays in its slot)")
        out.append('COMPOSE_PROJECT_NAME = "{name}-wt{n}"')
    else:
        out.append('# COMPOSE_PROJECT_NAME = "{name}-wt{n}"')
    if p.aliases:
        out.append("# copies of a port variable (same port): each slot's follows it")
        for key, var in p.aliases.items():
            out.append(f"{key} = {q('{' + var + '}')}  # {p.alias_sources.get(key, '')}")
    out += [
        "",
        "[env.rewrite]               # shared values that embed a port: each slot gets its own",
        "# version in its block; the rest of the value (user, password, path) is read from the",
        "# shared file when the block is written, so no credential is copied here.",
    ]
    for key, port_var in p.rewrites.items():
        source = p.rewrite_sources.get(key, "")
        if key in p.rewrite_from and port_var:
            value = f"{{ port = {q(port_var)}, from = {p.rewrite_from[key]} }}"
        else:
            value = q(port_var) if port_var else "{}"
        out.append(f"{key} = {value}  # {source}")
    if p.auth:
        out += _session_lines(p)
    out += ["", "[setup]                     # once per slot, in the slot, with its environment"]
    if p.setup_reason:
        out += _comment(p.setup_reason)
    out.append(f"copy = [{', '.join(q(c) for c in p.setup_copy)}]")
    out.append(f"run = [{', '.join(q(c) for c in p.setup_run)}]")
    out += [
        "",
        "[reset]",
        'disposable = [".next", "dist", "coverage"]  # `release --reset` removes',
    ]
    out += ["", *_render_services(p)]
    out += ["", *_render_database(p)]
    if p.notes:
        out += ["", "# Still the same in every slot (grove cannot rewrite these):"]
        out += [f"# - {note}" for note in p.notes]
    return "\n".join(out) + "\n"


def _session_lines(p: Proposal) -> list[str]:
    """The shared-login note, naming what actually decides a cookie's host in this app."""
    lines = _comment(
        f"{', '.join(p.auth)} found: browsers keep cookies per host, not per port, so every "
        f"slot on localhost shares one login. {p.session_hint}."
    )
    var = p.session_var
    if var is None:
        return [*lines, "# Give the session cookie a name per slot there (e.g. from PORT)."]
    port = p.rewrites.get(var) or next(iter(p.ports))
    verb = "replace its line above with" if var in p.rewrites else "add"
    return [
        *lines,
        f"# A per-slot host fixes it (wt1.localhost resolves to loopback): {verb}",
        f'# {var} = {{ port = "{port}", host = "wt{{n}}.localhost" }}',
    ]


def _render_database(p: Proposal) -> list[str]:
    """An active [database] when the repository uses PostgreSQL, else a commented example
    that is valid TOML once uncommented."""
    q = toml_string
    tool = p.tool
    db = p.db
    head = "[database]                  # a PostgreSQL per slot, main included, seeded once"
    out: list[str] = []
    if db is None:
        if tool:
            out.append(f"# {tool.name} found ({tool.source}), but nothing says PostgreSQL:")
        out.append("# " + head)
        out.append('# engine = "postgres"')
        out.append('# seed = ["psql -v ON_ERROR_STOP=1 -f db/seed.sql"]')
        if tool and tool.migrate:
            out.append(f"# migrate = [{', '.join(q(c) for c in tool.migrate)}]")
        return out
    out = [head]
    out += _comment(f"PostgreSQL found: {'; '.join(db.reasons[:3])}")
    out.append('engine = "postgres"')
    name_from = f"from {db.name_source}" if db.name_source else "no database name found"
    out.append(f"name = {q(db.name)}  # {name_from}")
    port_from = f" ({db.port_source})" if db.port_source else ""
    out.append(
        f"port = {q(db.port_var)}  # each slot's server listens on its {db.port_var}{port_from}"
    )
    if tool is None:
        out.append("# no migration tool found: set migrate and migrate_status to yours")
    else:
        out += _comment(f"{tool.name} found ({tool.source})")
        if tool.migrate:
            out.append(f"migrate = [{', '.join(q(c) for c in tool.migrate)}]")
        out += _comment(f"migrate_status: {tool.status_why}")
        if tool.migrate_status:
            out.append(f"migrate_status = {q(tool.migrate_status)}")
        if tool.migrations:
            where = f" ({tool.migrations_source})" if tool.migrations_source else ""
            out += _comment(f"migrations: migrate runs again when these change{where}")
            out.append(f"migrations = [{', '.join(q(m) for m in tool.migrations)}]")
    if tool and tool.seed:
        out.append(f"seed = [{', '.join(q(c) for c in tool.seed)}]  # once, into the template")
    else:
        out.append('# seed = ["psql -v ON_ERROR_STOP=1 -f db/seed.sql"]  # once, into the template')
    if db.env:
        out += [
            "",
            "[database.env]              # the app's own connection variables, per slot",
            "# Each slot's block gets DATABASE_URL and PG* for its own server, and these too;",
            "# the user is grove's (postgres), the password one grove keeps in .git/grove/pg.",
        ]
        width = max(len(k) for k in db.env)
        for key, part in db.env.items():
            out.append(f"{key.ljust(width)} = {q(part)}  # {db.env_sources.get(key, '')}")
    return out


def _comment(text: str, width: int = 92) -> list[str]:
    """text as TOML comment lines, wrapped; a continuation is indented under its start."""
    import textwrap

    wrapped = textwrap.wrap(text, width, break_on_hyphens=False, break_long_words=False)
    return [("# " if i == 0 else "#   ") + line for i, line in enumerate(wrapped)]


def _render_services(p: Proposal) -> list[str]:
    q = toml_string
    head = "[services]                  # `grove up` starts them in each slot, in the background"
    if not p.services:
        return [
            "# " + head,
            '# (no package.json "dev" or "start" script found), e.g.',
            '# web = { run = "npm run dev", port = "PORT" }',
        ]
    out = [
        head,
        "# with the slot's env and ports; `grove down` stops them, `grove logs` shows them",
    ]
    reasons = [p.services_reason] if p.services_reason else []
    for service in p.services:
        for line in [*reasons, *service.why]:
            out += _comment(line)
        reasons = []
        port = f", port = {q(service.port)}" if service.port else ""
        out.append(f"{service.name} = {{ run = {q(service.run)}{port} }}")
    return out


@record
class InitResult:
    path: Path
    content: str
    written: bool
    dry_run: bool
    ignored_added: list[str]
    found: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    def as_json(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "written": self.written,
            "dry_run": self.dry_run,
            "gitignore_added": self.ignored_added,
            "content": self.content,
            "found": self.found,
            "seconds": round(self.seconds, 3),
        }

    def as_text(self) -> str:
        if self.dry_run:
            return self.content.rstrip()
        found = self.found
        lines = [f"wrote {self.path}"]
        lines.append(
            f"  ports: {', '.join(p['name'] for p in found['ports'])} (stride {found['stride']})"
        )
        for moved in found["moved"]:
            lines.append(
                f"  moved: {moved['name']} {moved['from']} -> {moved['to']} ({moved['why']})"
            )
        if found["aliases"]:
            copies = ", ".join(f"{a['key']} = {a['port']}" for a in found["aliases"])
            lines.append(f"  same port, derived: {copies}")
        if found["rewrites"]:
            lines.append(f"  rewritten per slot: {', '.join(r['key'] for r in found['rewrites'])}")
        for skipped in found["not_per_slot"]:
            lines.append(f"  not per slot: {skipped['why']}")
        lines.append(f"  local files: {', '.join(found['local'])}")
        setup = found["setup"]
        if setup["run"] or setup["copy"]:
            chosen = ", ".join(setup["run"]) if setup["run"] else f"copy {', '.join(setup['copy'])}"
            lines.append(f"  setup: {chosen}" + (f" ({setup['why']})" if setup["why"] else ""))
        if found["services"]:
            services = ", ".join(f"{s['name']} ({s['run']})" for s in found["services"])
            lines.append(f"  services: {services}")
        if found["database_active"]:
            db = found["database"]
            tool = f", {db['tool']} migrations" if db.get("tool") else ""
            lines.append(
                f"  database: PostgreSQL per slot, {db['name']} on {db['port']}{tool}"
                + (f"; app variables: {', '.join(db['env'])}" if db["env"] else "")
            )
        if self.ignored_added:
            lines.append(f"  added to .gitignore: {', '.join(self.ignored_added)}")
        lines += [f"  note: {n}" for n in found["notes"]]
        lines.append(
            "next: review grove.toml, then `grove create` makes slot 1"
            + (" and `grove up` starts its services there" if found["services"] else "")
        )
        return "\n".join(lines)


def _other_projects_ports(grove: Grove) -> dict[int, str]:
    """Every port another grove project on this machine uses, with its name and folder."""
    from grove.state import machine

    return {
        port: f"project {project.name} ({project.main})"
        for project in machine.others(grove.common_dir)
        for port in project.ports
    }


def run(grove: Grove, dry_run: bool, force: bool) -> InitResult:
    started = time.monotonic()
    path = grove.main / config.CONFIG_NAME
    if path.exists() and not force and not dry_run:
        raise Refused(f"{path} already exists", hint="`grove init --force` overwrites it")
    proposal = propose(detect.scan(grove.main), SLOTS, _other_projects_ports(grove))
    tracked_shared = git.tracked(grove.main, proposal.shared)
    if tracked_shared:
        # A committed env file is every checkout's already; linking would replace it, and
        # grove.toml refuses a tracked shared file.
        proposal.shared = [name for name in proposal.shared if name not in tracked_shared]
        proposal.notes.append(
            f"{', '.join(sorted(tracked_shared))} is tracked by git, so it is not shared: "
            "keep secrets out of it, or untrack it and add it to [env] shared"
        )
    content = render(proposal)
    # The file we write must load: a bug here should fail here, not in the user's repo.
    import tomllib

    config.parse(tomllib.loads(content), path)
    wanted = [name for name in proposal.local if not git.tracked(grove.main, [name])]
    ignored = git.check_ignore(grove.main, wanted)
    needs_ignore = [name for name in wanted if name not in ignored]
    found = proposal.as_json()
    if dry_run:
        return InitResult(
            path, content, False, True, needs_ignore, found, time.monotonic() - started
        )
    fsio.write_atomic(path, content)
    if needs_ignore:
        gitignore = grove.main / ".gitignore"
        current = gitignore.read_text(encoding="utf-8") if gitignore.exists() else ""
        if current and not current.endswith("\n"):
            current += "\n"
        fsio.write_atomic(gitignore, current + "".join(f"/{name}\n" for name in needs_ignore))
    return InitResult(path, content, True, False, needs_ignore, found, time.monotonic() - started)
