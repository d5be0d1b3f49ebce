"""The architecture as a test: model < training < eval < apps, imports going downward only, no cycles.

The graph is built from the source with `ast` (every import, at the top of a module or inside a
function), so a lazy import cannot hide an upward dependency. There are no exceptions: the
training loop's selection score lives in training/dev_score.py, which eval.metrics reports.
"""
import ast
from pathlib import Path

from conftest import ROOT

LAYERS = ("model", "training", "eval", "apps")
ALLOWED_UPWARD: set[tuple[str, str]] = set()


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return {name for name in found if name.split(".")[0] in LAYERS}


def import_graph() -> dict[str, set[str]]:
    """Each project module -> the project modules it imports."""
    sources = {_module_name(p): p for layer in LAYERS for p in (ROOT / layer).rglob("*.py")}
    return {name: {target for target in _imports(path) if target in sources} for name, path in sources.items()}


def test_imports_go_downward_only():
    upward = []
    for module, targets in import_graph().items():
        for target in targets:
            source_layer, target_layer = module.split(".")[0], target.split(".")[0]
            if LAYERS.index(target_layer) > LAYERS.index(source_layer) and (source_layer, target) not in ALLOWED_UPWARD:
                upward.append(f"{module} -> {target}")
    assert upward == []


def test_no_import_cycles():
    graph = import_graph()
    # A package's __init__ re-exporting its own modules is not a cycle between modules.
    graph = {m: {t for t in ts if not m.startswith(t + ".") and not t.startswith(m + ".")} for m, ts in graph.items()}
    state: dict[str, int] = {}
    cycles = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                cycles.append(" -> ".join(path[path.index(target):] + [target]))
            elif target not in state:
                visit(target, path + [target])
        state[node] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert cycles == []


def test_the_graph_sees_the_packages():
    graph = import_graph()
    assert {"model.classifier", "training.trainer", "eval.post_training", "apps.cli"} <= set(graph)
    assert "training.objective" in graph["training.trainer"] and "training.trainer" not in graph["training.distill"]
