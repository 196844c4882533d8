#!/usr/bin/env python3
"""A warm dev server: `grove take` of a slot whose web service is already up, next to a
cold start of the same server in a fresh worktree, and `grove up` of a running service.

Run on purpose, not by the test suite:

    python bench/services.py                 # print the markdown section
    python bench/services.py --write         # also update docs/benchmarks.md

The fixture is a git repository with a Node dev server (`server.js`) that, like a dev
bundler, reads and compiles every module under `src/` (2,000 files, about 6 MB) before it
listens, and a `grove.toml` with `[services] web = { run = "node server.js", port = "PORT" }`
on a free high port range. Slot 1 is made once with `grove create`, and its web service is
started once with `grove up 1`.

Then, round by round (the order alternating), it times:

- (a) `grove take --branch <new>`, then polling the slot's port until the first HTTP 200,
  with the service already up (then `grove release 1` for the next round);
- (b) a cold start: `git worktree add -b <new>` and `node server.js` in it, to the first
  HTTP 200 (the worktree and the server are removed outside the timed region);
- (c) `grove up 1` while the service runs.

Targets (issue 14): (a) at most 1/10 of (b); (c) at most 150 ms.
Standard library only; grove, git and node run as subprocesses.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from benchlib import cpu_description, find_grove, port_free, write_section

HEADING = "## A warm dev server: grove take with the service up vs a cold start"
MODULES = 2000

SERVER_JS = """\
const fs = require('fs'), path = require('path'), http = require('http'), vm = require('vm');
// What a dev bundler does before it serves: read and compile every module of the app.
let compiled = 0;
for (const name of fs.readdirSync('src')) {
  const code = fs.readFileSync(path.join('src', name), 'utf8');
  new vm.Script(code, { filename: name });
  compiled++;
}
const port = Number(process.env.PORT);
http.createServer((req, res) => { res.end('ok ' + compiled); })
  .listen(port, '127.0.0.1', () => console.log('listening on ' + port));
"""


def module_source(i: int) -> str:
    body = "\n".join(
        f"export function f{i}_{j}(a, b) {{ return [a, b, {j}].map(x => x * {i}).join('-'); }}"
        for j in range(40)
    )
    return f"// module {i}\n{body}\n".replace("export ", "")


def free_base(span: int) -> int:
    for base in range(42000, 60000, span):
        if all(port_free(base + k) for k in range(span)):
            return base
    raise SystemExit("no free port range")


def first_200(port: int, deadline: float = 60.0) -> float:
    start = time.perf_counter()
    while time.perf_counter() - start < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as response:
                if response.status == 200:
                    return time.perf_counter()
        except OSError:
            time.sleep(0.005)
    raise SystemExit(f"no HTTP 200 on port {port} within {deadline}s")


def git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(cwd), *args], check=True, capture_output=True)


def build_fixture(root: Path, base: int) -> Path:
    main = root / "app"
    (main / "src").mkdir(parents=True)
    for i in range(MODULES):
        (main / "src" / f"m{i}.js").write_text(module_source(i))
    (main / "server.js").write_text(SERVER_JS)
    (main / ".gitignore").write_text(".env\n.env.local\n")
    (main / ".env").write_text("API_KEY=sk_test_bench000000000000\n")
    (main / "grove.toml").write_text(
        f"[grove]\nslots = 2\n[ports]\nPORT = {base}\n"
        '[services]\nweb = { run = "node server.js", port = "PORT" }\n'
    )
    git(main, "init", "-q", "-b", "main")
    git(main, "add", "-A")
    git(main, "-c", "user.name=bench", "-c", "user.email=b@b", "commit", "-q", "-m", "app")
    return main


def run(grove: Path, main: Path, *args: str) -> float:
    start = time.perf_counter()
    subprocess.run([str(grove), *args], cwd=main, check=True, capture_output=True)
    return time.perf_counter() - start


def measure(grove: Path, rounds: int) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {"a": [], "b": [], "c": [], "cj": []}
    with tempfile.TemporaryDirectory(prefix="grove-bench-services-") as tmp:
        root = Path(tmp)
        base = free_base(4)
        main = build_fixture(root, base)
        env = {**os.environ, "GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "b@b"}
        env |= {"GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "b@b"}
        os.environ.update(env)
        # An installed grove has its bytecode compiled; without the cache every call would
        # compile grove's modules again, which no user pays.
        os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
        run(grove, main, "create")
        run(grove, main, "up", "1")
        slot_port = base + 1
        cold_port = base + 3
        try:
            for i in range(rounds):
                order = ["a", "b", "c"] if i % 2 == 0 else ["c", "b", "a"]
                for what in order:
                    if what == "a":
                        start = time.perf_counter()
                        subprocess.run(
                            [str(grove), "take", "--branch", f"task-{i}", "--label", "bench"],
                            cwd=main,
                            check=True,
                            capture_output=True,
                        )
                        times["a"].append(first_200(slot_port) - start)
                        run(grove, main, "release", "1", "--label", "bench")
                    elif what == "b":
                        tree = root / f"cold-{i}"
                        start = time.perf_counter()
                        git(main, "worktree", "add", "-q", "-b", f"cold-{i}", str(tree))
                        server = subprocess.Popen(
                            ["node", "server.js"],
                            cwd=tree,
                            env={**env, "PORT": str(cold_port)},
                            stdout=subprocess.DEVNULL,
                            start_new_session=True,
                        )
                        times["b"].append(first_200(cold_port) - start)
                        os.killpg(server.pid, signal.SIGTERM)
                        server.wait()
                        git(main, "worktree", "remove", "--force", str(tree))
                    else:
                        times["c"].append(run(grove, main, "up", "1"))
                        times["cj"].append(run(grove, main, "up", "1", "--json"))
        finally:
            subprocess.run([str(grove), "down", "1"], cwd=main, capture_output=True, check=False)
    return times


def _row(label: str, values: list[float]) -> str:
    median, low, high = (f(values) * 1000 for f in (statistics.median, min, max))
    return f"| {label} | {median:.0f} ms | {low:.0f} ms | {high:.0f} ms |"


def section(times: dict[str, list[float]], rounds: int) -> str:
    a, b, c = (statistics.median(times[k]) for k in "abc")
    cpus, model = cpu_description()
    ratio = a / b
    machine = f"{platform.system()} {platform.machine()}, {cpus} CPU(s)"
    machine += f", {model}" if model else ""
    rows = "\n".join(
        [
            _row("(a) `grove take --branch B` to the first HTTP 200, service up", times["a"]),
            _row("(b) cold: `git worktree add` + `node server.js` to the first 200", times["b"]),
            _row("(c) `grove up 1` with the service already running", times["c"]),
            _row("(c) the same with `--json` (what agents call)", times["cj"]),
        ]
    )
    verdict_a = "met" if ratio <= 0.1 else "NOT met"
    verdict_c = "met" if c <= 0.150 else "NOT met"
    return (
        f"{HEADING}\n\n"
        f"`python bench/services.py --write` ({rounds} rounds, medians; {dt.date.today()}, "
        f"{machine}, Python {platform.python_version()}, node {_node_version()}).\n\n"
        f"The fixture: a git repository whose dev server (`node server.js`) reads and compiles "
        f"{MODULES:,} modules under `src/` before it listens, as a dev bundler does, and "
        '`[services] web = { run = "node server.js", port = "PORT" }`. Slot 1 exists and its '
        "web service is up.\n\n"
        "| measurement | median | min | max |\n|---|---:|---:|---:|\n"
        f"{rows}\n\n"
        f"(a) / (b) = {ratio:.3f} (target: at most 0.1, {verdict_a}); "
        f"(c) = {c * 1000:.0f} ms (target: at most 150 ms, {verdict_c}); `python -c pass` "
        f"takes {_python_pass() * 1000:.0f} ms here.\n"
    )


def _python_pass() -> float:
    runs = []
    for _ in range(5):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        runs.append(time.perf_counter() - start)
    return statistics.median(runs)


def _node_version() -> str:
    node = shutil.which("node")
    if node is None:
        return "none"
    done = subprocess.run([node, "--version"], capture_output=True, text=True, check=False)
    return done.stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--grove", help="the grove executable (default: found)")
    parser.add_argument("--write", action="store_true", help="update docs/benchmarks.md")
    args = parser.parse_args()
    if shutil.which("node") is None:
        sys.exit("node is needed for the dev server")
    grove = find_grove(args.grove)
    text = section(measure(grove, args.rounds), args.rounds)
    print(text)
    if args.write:
        write_section(HEADING, text)


if __name__ == "__main__":
    main()
