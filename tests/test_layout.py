"""The package's shape: no import circles, and no import from a lower layer up into a higher one.

Every ``import`` statement is read from the source (imports inside functions included, since a
lazy import is a dependency all the same), so the test fails on the line that breaks the layering.
The layers, lowest first (a module imports only from its own package or from lower layers):
"""

import ast
from collections import defaultdict
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "evoforge"

#: packages by layer: the kernel; representations, readers and plumbing; what builds on
#: representations; what fitness and search mean; the engine that knows them all; the dashboard over
#: its records; the command line
LAYERS = {
    "core": 0,
    "spaces": 1,
    "data": 1,
    "backends": 1,
    "store": 1,
    "report": 2,  # plots and views of genomes (spaces), used by problems and above
    "optim": 2,
    "strategies": 3,
    "problems": 3,
    "engine": 4,
    "dashboard": 5,  # reads run stores and records; served by the command line
    "testing": 6,
    "cli": 6,
    "pipelines": 6,  # evoforge/pipelines.py: the estimator over the engine
    "(root)": 7,
    "__main__": 7,  # evoforge/__main__.py: python -m evoforge, over the command line
}


def _module(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _package(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "(root)"


def imports() -> dict[str, dict[str, int]]:
    """module -> {imported evoforge module: line}."""
    modules = {_module(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, dict[str, int]] = defaultdict(dict)
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                # "from evoforge.x import y" names module evoforge.x.y if there is one, else evoforge.x
                targets = [f"{node.module}.{a.name}" for a in node.names]
                found = [t for t in targets if t in modules] or [node.module]
            elif isinstance(node, ast.Import):
                found = [a.name for a in node.names]
            else:
                continue
            for target in found:
                if target.startswith("evoforge") and target != name:
                    graph[name].setdefault(target, node.lineno)
    return graph


def test_every_package_has_a_layer():
    packages = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert packages <= set(LAYERS), sorted(packages - set(LAYERS))


def test_no_import_runs_up_a_layer():
    upward = []
    for module, targets in imports().items():
        for target, line in targets.items():
            a, b = _package(module), _package(target)
            if a != b and LAYERS[b] >= LAYERS[a]:
                upward.append(f"{module}:{line} imports {target} ({a} may not import {b})")
    assert upward == []


def test_no_import_circles():
    graph = imports()
    cycles = []
    state: dict[str, int] = {}  # 1: on the path, 2: done
    path: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        path.append(node)
        for nxt in graph.get(node, {}):
            if state.get(nxt) == 1:
                cycles.append(" -> ".join([*path[path.index(nxt) :], nxt]))
            elif nxt not in state:
                visit(nxt)
        path.pop()
        state[node] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module)
    assert cycles == []


def test_the_kernel_imports_nothing_else_of_evoforge():
    outside = [
        f"{m} imports {t}"
        for m, targets in imports().items()
        if _package(m) == "core"
        for t in targets
        if _package(t) != "core"
    ]
    assert outside == []
