#!/usr/bin/env python3
"""How long `grove init` takes to read a 20,000-file monorepo (target: under 1 s).

Run on purpose, not by the test suite:

    python bench/init_speed.py            # print a markdown table
    python bench/init_speed.py --write    # also update docs/benchmarks.md

The fixture is a pnpm/turbo-style monorepo built in a temporary folder: 20 workspace
packages with source trees, env examples, package.json scripts, a compose file under
.devcontainer/, and node_modules folders full of files that init must skip (they are not
counted in the 20,000). `grove init --dry-run --json` is timed as a subprocess after a
warm-up, and its own `seconds` (the scan and proposal, without interpreter start-up) is
reported next to the wall clock.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchlib import find_grove, write_section
from list_latency import hermetic_env, run

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "benchmarks.md"
SECTION = "## grove init on a 20,000-file monorepo"


def build(parent: Path, files: int, packages: int, env: dict[str, str]) -> Path:
    repo = parent / "mono"
    (repo / ".devcontainer").mkdir(parents=True)
    (repo / "package.json").write_text(
        json.dumps(
            {
                "name": "mono",
                "private": True,
                "workspaces": ["apps/*"],
                "scripts": {
                    "dev": "turbo dev",
                    "db": "docker compose -f .devcontainer/compose.yml up",
                },
            }
        )
    )
    (repo / "pnpm-lock.yaml").write_text("lockfileVersion: '9.0'\n")
    (repo / ".devcontainer" / "compose.yml").write_text(
        "services:\n  db:\n    ports: ['${DB_PORT:-5432}:5432']\n"
    )
    (repo / ".gitignore").write_text("node_modules/\n.env\n.env.local\n")
    written = 4
    per_package = (files - written) // packages
    for p in range(packages):
        pkg = repo / "apps" / f"app{p:02d}"
        (pkg / "src").mkdir(parents=True)
        (pkg / "package.json").write_text(
            json.dumps(
                {
                    "name": f"app{p}",
                    "scripts": {"dev": f"next dev --port {4000 + p}"},
                    "dependencies": {"next": "15"},
                }
            )
        )
        (pkg / ".env.example").write_text(
            f"APP{p}_PORT={5000 + p * 10}\nAPP{p}_URL=http://localhost:{5000 + p * 10}\n"
        )
        written += 2
        for i in range(per_package - 2):
            folder = pkg / "src" / f"mod{i // 50}"
            folder.mkdir(exist_ok=True)
            (folder / f"file{i}.ts").write_text(f"export const v{i} = {i};\n")
            written += 1
        modules = pkg / "node_modules" / "dep"  # skipped by init, not counted
        modules.mkdir(parents=True)
        for i in range(200):
            (modules / f"m{i}.js").write_text("module.exports = 1\n")
    run(["git", "init", "-q", "-b", "main"], repo, env)
    run(["git", "add", "-A"], repo, env)
    run(["git", "commit", "-q", "-m", "fixture"], repo, env)
    return repo


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--files", type=int, default=20000)
    parser.add_argument("--packages", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--write", action="store_true")
    parser.add_argument("--grove", help="grove executable (default: the one in this venv)")
    args = parser.parse_args(argv)
    grove = find_grove(args.grove)
    with tempfile.TemporaryDirectory(prefix="grove-init-bench-") as tmp:
        home = Path(tmp) / "home"
        home.mkdir()
        env = hermetic_env(home, bytecode_cache=True)
        repo = build(Path(tmp), args.files, args.packages, env)
        counted = sum(
            1
            for p in repo.rglob("*")
            if p.is_file() and "node_modules" not in p.parts and ".git" not in p.parts
        )
        wall: list[float] = []
        inner: list[float] = []
        found: dict[str, object] = {}
        for i in range(args.repeat + 1):
            started = time.perf_counter()
            proc = subprocess.run(
                [str(grove), "init", "--dry-run", "--json"],
                cwd=repo,
                env=env,
                capture_output=True,
                text=True,
                check=True,
            )
            elapsed = time.perf_counter() - started
            data = json.loads(proc.stdout)
            found = data["found"]
            if i:  # the first run is the warm-up
                wall.append(elapsed)
                inner.append(data["seconds"])
    ports = len(found["ports"])  # type: ignore[arg-type]
    rows = [
        "| measure | median ms | min ms | max ms |",
        "|---|---:|---:|---:|",
        f"| `grove init --dry-run --json`, wall clock | {statistics.median(wall) * 1000:.0f} | "
        f"{min(wall) * 1000:.0f} | {max(wall) * 1000:.0f} |",
        f"| the scan and proposal alone (`seconds` in its JSON) | "
        f"{statistics.median(inner) * 1000:.0f} | {min(inner) * 1000:.0f} | "
        f"{max(inner) * 1000:.0f} |",
    ]
    body = "\n".join(
        [
            SECTION,
            "",
            f"A monorepo of {counted:,} files in {args.packages} workspace packages (plus "
            f"{args.packages * 200:,} files in node_modules folders that init skips). init found "
            f"{ports} port variables, {len(found['local'])} local files and "  # type: ignore[arg-type]
            f"{len(found['rewrites'])} values to rewrite per slot. "  # type: ignore[arg-type]
            f"{args.repeat} runs after a warm-up. Target: under 1 s.",
            "",
            *rows,
            "",
            f"Measured {time.strftime('%Y-%m-%d')} on {os.cpu_count()} CPUs, Python "
            f"{sys.version.split()[0]}, load {os.getloadavg()[0]:.2f}.",
            "",
            "Reproduce:",
            "",
            "```sh",
            "python bench/init_speed.py --write",
            "```",
            "",
        ]
    )
    print(body)
    if args.write:
        write_section(SECTION, body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
