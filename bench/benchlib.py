"""Helpers every benchmark script shares: finding grove, and updating its own section of
docs/benchmarks.md without touching the others."""

from __future__ import annotations

import os
import random
import shutil
import socket
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "benchmarks.md"


def find_grove(explicit: str | None) -> Path:
    candidates = [
        explicit,
        shutil.which("grove", path=str(Path(sys.executable).parent)),
        str(ROOT / ".venv" / "bin" / "grove"),
        shutil.which("grove"),
    ]
    for candidate in candidates:
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return Path(candidate)
    sys.exit("grove executable not found: install the project (pip install -e .) or pass --grove")


def grove_python(grove: Path) -> str:
    """The interpreter named in the grove script's shebang (else this one)."""
    try:
        with grove.open("rb") as fh:
            first = fh.readline().decode("utf-8", "replace").strip()
    except OSError:
        return sys.executable
    if first.startswith("#!"):
        parts = first[2:].split()
        if parts and Path(parts[0]).name != "env" and Path(parts[0]).exists():
            return parts[0]
    return sys.executable


def cpu_description() -> tuple[int, str]:
    """The CPUs this process may use, and their model name where Linux says it."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:
        cpus = os.cpu_count() or 0
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("model name"):
                return cpus, line.partition(":")[2].strip()
    return cpus, ""


def replace_section(doc: str, heading: str, new: str) -> str:
    """doc with the section under heading replaced by new (or new appended), others intact."""
    lines = doc.splitlines()
    start = end = None
    fenced = False
    for i, line in enumerate(lines):
        if line.lstrip().startswith(("```", "~~~")):
            fenced = not fenced
            continue
        if fenced:
            continue
        if start is None and line.rstrip() == heading:
            start = i
        elif start is not None and line.startswith(("## ", "# ")):
            end = i
            break
    new_lines = new.rstrip("\n").splitlines()
    if start is None:
        if not lines:
            lines = ["# Benchmarks"]
        while lines and not lines[-1].strip():
            lines.pop()
        return "\n".join([*lines, "", *new_lines]) + "\n"
    end = len(lines) if end is None else end
    tail = lines[end:]
    return "\n".join([*lines[:start], *new_lines, *(["", *tail] if tail else [])]) + "\n"


def write_section(heading: str, new: str, doc_path: Path = DOC) -> None:
    """Replace one section of docs/benchmarks.md, read right before writing: other
    sections are written by other scripts."""
    doc = doc_path.read_text(encoding="utf-8") if doc_path.exists() else "# Benchmarks\n"
    doc_path.parent.mkdir(parents=True, exist_ok=True)
    doc_path.write_text(replace_section(doc, heading, new), encoding="utf-8")


def command_line(base: str, args: Any, defaults: Mapping[str, object]) -> str:
    """base, plus each option of args (by its dest) whose value is not its default: a
    switch bare (`--skip-real-app`), an option with its value (`--repeat 9`)."""
    parts = [base]
    for dest, default in defaults.items():
        value = getattr(args, dest)
        if value == default:
            continue
        flag = "--" + dest.replace("_", "-")
        parts.append(flag if value is True else f"{flag} {value}")
    return " ".join(parts)


def port_free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port_range(count: int, taken: set[int], rng: random.Random) -> int:
    """A base port such that base .. base+count-1 are all free (and not in taken)."""
    for _ in range(500):
        base = rng.randrange(20000, 60000 - count)
        ports = range(base, base + count)
        if not taken.intersection(ports) and all(port_free(p) for p in ports):
            taken.update(ports)
            return base
    raise RuntimeError(f"no {count} consecutive free ports found")
