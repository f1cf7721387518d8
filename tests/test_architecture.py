"""The package layout is the architecture: no import cycle between accelsim's packages and modules.

Every import statement in accelsim/ (module-level and inside functions: a lazy import is still a dependency)
is an edge from the importing top-level package (or module) to the imported one; the graph must be acyclic.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "accelsim"


def _unit(path: Path) -> str:
    rel = path.relative_to(ROOT).parts
    return rel[0].removesuffix(".py")


def import_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for path in ROOT.rglob("*.py"):
        src = _unit(path)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                continue
            for name in names:
                parts = name.split(".")
                if parts[0] == "accelsim" and len(parts) > 1 and parts[1] != src:
                    graph.setdefault(src, set()).add(parts[1])
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_no_import_cycle_between_packages():
    cycle = find_cycle(import_graph())
    assert cycle is None, " -> ".join(cycle)


def test_the_cycle_finder_finds_cycles():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}}) is None
    graph = import_graph()
    assert "loading" in graph and {"onnx", "models", "workload"} <= graph["loading"]


def test_every_package_is_shipped():
    """pyproject lists packages explicitly: a package directory missing from the list would be absent from a
    non-editable install."""
    import tomllib

    listed = set(tomllib.loads((ROOT.parent / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    on_disk = {"accelsim." + ".".join(p.parent.relative_to(ROOT).parts) if p.parent != ROOT else "accelsim"
               for p in ROOT.rglob("__init__.py") if "_builtin" not in p.parts}
    assert on_disk <= listed, sorted(on_disk - listed)
