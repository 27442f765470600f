"""The package's layers: no import cycle anywhere, and the arrows between protocol, statistics and
reporting point one way (README, Design). Read from the source with ``ast``, so an import inside a
function counts as much as one at the top of a file."""

import ast
from pathlib import Path

import hfcbench

PACKAGE = Path(hfcbench.__file__).parent


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, modules: set[str]) -> set[str]:
    """The hfcbench modules ``path`` imports (``from . import x`` resolves to the module ``x``)."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for alias in node.names:
                if f"{target}.{alias.name}" in modules:
                    found.add(f"{target}.{alias.name}")
                elif target in modules:
                    found.add(target)
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name in modules}
    found.discard(name)
    return found


def import_graph() -> dict[str, set[str]]:
    paths = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    return {name: _imports(path, set(paths)) for name, path in paths.items()}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of ``graph`` as a list of modules, or None (depth-first search)."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_the_cycle_finder_finds_a_planted_cycle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_the_import_walker_sees_the_known_edges():
    graph = import_graph()
    assert "hfcbench.stats.bootstrap" in graph["hfcbench.stats.cell"]
    assert "hfcbench.protocol.artifacts" in graph["hfcbench.protocol.runner"]
    assert "hfcbench.report.page" in graph["hfcbench.report.files"]


def test_no_module_of_hfcbench_is_part_of_an_import_cycle():
    assert _cycle(import_graph()) is None


def test_statistics_import_neither_protocol_nor_report_and_those_two_not_each_other():
    forbidden = {"hfcbench.stats": ("hfcbench.protocol", "hfcbench.report", "hfcbench.experiments"),
                 "hfcbench.protocol": ("hfcbench.report", "hfcbench.experiments"),
                 "hfcbench.report": ("hfcbench.protocol", "hfcbench.experiments")}
    wrong = [(module, target) for module, targets in import_graph().items()
             for layer, banned in forbidden.items() if module.startswith(layer)
             for target in targets if target.startswith(banned)]
    assert wrong == []
