"""The import graph of lossmath: one-way, and the engine below the losses.

Read from the sources (``ast``), lazy imports inside functions included: an
import made late is still a dependency. A package's ``__init__`` run as a side
effect of importing one of its modules is not counted.
"""

from __future__ import annotations

import ast
from pathlib import Path

import lossmath

ROOT = Path(lossmath.__file__).resolve().parent


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """``module -> lossmath modules it imports``."""
    modules = {_module_name(p): p for p in ROOT.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        edges = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1])
                    base = f"{base}.{node.module}" if node.module else base
                # ``from pkg import mod`` imports the module ``pkg.mod`` where there is one.
                targets = [
                    f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
                    for alias in node.names
                ]
            else:
                continue
            edges |= {t for t in targets if t in modules and t != name}
        graph[name] = edges
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as a list of modules, or ``None``."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_the_graph_is_read():
    graph = import_graph()
    assert "lossmath.engine.routes" in graph["lossmath.engine.methods"]
    assert "lossmath.engine.methods" in graph["lossmath.losses._base"]


def test_there_is_no_import_cycle():
    assert find_cycle(import_graph()) is None


def test_a_cycle_is_found():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


def test_the_engine_imports_no_loss_and_nothing_above_it():
    """The engine (and its compiled layer) sits under the losses: it reaches them
    through the loss object it is handed, never by import."""
    graph = import_graph()
    above = ("lossmath.losses", "lossmath.linear_model", "lossmath.integrations", "lossmath.cli")
    for module, edges in graph.items():
        if module.startswith("lossmath.engine"):
            bad = sorted(e for e in edges if e.startswith(above) or e == "lossmath")
            assert not bad, f"{module} imports {bad}"
