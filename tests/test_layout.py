"""The code reads top-down: imports (lazy ones included) only point down DESIGN.md's
layers, no command imports another, and the import graph has no cycle."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src" / "grove"

# Top to bottom; a module may import its own layer or any layer below it.
LAYERS: list[tuple[str, ...]] = [
    ("grove.cli", "grove.__main__", "grove.arguments", "grove.usage"),
    ("grove.commands",),
    ("grove.lifecycle", "grove.steps", "grove.converge"),
    (
        "grove.slotenv",
        "grove.shellenv",
        "grove.dbtarget",
        "grove.database",
        "grove.checks",
        "grove.agents",
        "grove.approval",
        "grove.detect",
        "grove.proposal",
        "grove.secretscan",
        "grove.injected",
    ),
    ("grove.state", "grove.slots", "grove.config", "grove.processes"),
    (
        "grove.git",
        "grove.dotgit",
        "grove.fsio",
        "grove.proc",
        "grove.envfile",
        "grove.errors",
        "grove.output",
        "grove.ports",
        "grove.record",
        "grove.values",
    ),
]


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


MODULES = {module_name(p): p for p in SRC.rglob("*.py")}


def layer_of(module: str) -> int:
    for index, prefixes in enumerate(LAYERS):
        if any(module == p or module.startswith(p + ".") for p in prefixes):
            return index
    if module == "grove":
        return len(LAYERS) - 1
    raise AssertionError(f"{module} belongs to no layer: add it to LAYERS")


def imports_of(module: str) -> set[str]:
    """Every grove module `module` imports, at the top or inside a function."""
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    package = module if MODULES[module].name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            names = [f"{base}.{alias.name}" for alias in node.names] + [base]
        else:
            continue
        for name in names:
            target = name
            while target and target not in MODULES:
                target = target.rpartition(".")[0]
            if target and target not in (module, "grove"):
                found.add(target)
    return found


GRAPH = {module: imports_of(module) for module in MODULES}


def test_every_module_has_a_layer() -> None:
    for module in MODULES:
        layer_of(module)


def test_imports_only_point_down() -> None:
    upward = [
        f"{module} -> {target}"
        for module, targets in GRAPH.items()
        for target in targets
        if layer_of(target) < layer_of(module)
    ]
    assert upward == []


def test_no_command_imports_another_command() -> None:
    crossing = [
        f"{module} -> {target}"
        for module, targets in GRAPH.items()
        if module.startswith("grove.commands.")
        for target in targets
        if target.startswith("grove.commands.")
    ]
    assert crossing == []


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of graph, or None. Package __init__ modules re-export their
    children; an edge from a package to its own child is how Python loads it, not a cycle."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(module: str) -> list[str] | None:
        state[module] = 1
        stack.append(module)
        for target in sorted(t for t in graph[module] if not t.startswith(module + ".")):
            if state.get(target) == 1:
                return [*stack[stack.index(target) :], target]
            if target not in state and (found := visit(target)):
                return found
        stack.pop()
        state[module] = 2
        return None

    for module in sorted(graph):
        if module not in state and (found := visit(module)):
            return found
    return None


def test_the_import_graph_has_no_cycle() -> None:
    assert find_cycle(GRAPH) is None


def test_the_cycle_check_finds_a_cycle_when_there_is_one() -> None:
    looped = {**GRAPH, "grove.git": {*GRAPH["grove.git"], "grove.lifecycle.take"}}
    assert find_cycle(looped) is not None
    assert find_cycle({"a": {"a.b"}, "a.b": set()}) is None


PROCESS_CALLS = {"system", "popen", "fork", "forkpty", "posix_spawn", "posix_spawnp"}


def test_only_proc_starts_processes() -> None:
    """proc.py is the one module that starts processes (git, user commands, postgres)."""
    offenders = []
    for module, path in MODULES.items():
        if module == "grove.proc":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import | ast.ImportFrom):
                names = [a.name for a in node.names] + [getattr(node, "module", "") or ""]
                if "subprocess" in names or "multiprocessing" in names:
                    offenders.append(f"{module} imports subprocess")
            starts = isinstance(node, ast.Attribute) and (
                node.attr.startswith(("exec", "spawn")) or node.attr in PROCESS_CALLS
            )
            if starts and isinstance(node.value, ast.Name) and node.value.id == "os":
                offenders.append(f"{module} calls os.{node.attr}")
    assert offenders == []
