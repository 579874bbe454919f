"""The package's layout stays as designed: a thin root, concept packages, no import circle, no twin module names,
one place that talks to MLflow, identifiers free of the run schema."""

import ast
from collections import Counter
from pathlib import Path

PACKAGE = Path(__file__).parent.parent / "hardness"
ROOT_FACES = {"__init__.py", "__main__.py", "api.py", "catalogue.py", "cli.py", "config.py", "console.py", "errors.py",
              "interrupts.py", "redaction.py"}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in PACKAGE.rglob("*.py")}


def imported_modules(name: str) -> set[str]:
    """The package's modules that module `name` imports (at any depth of its code, lazy imports included; those under
    `if TYPE_CHECKING:` left out)."""
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found, tree = set(), ast.parse(path.read_text())
    typing_only = {id(inner) for node in ast.walk(tree) if isinstance(node, ast.If)
                   and getattr(node.test, "id", getattr(node.test, "attr", None)) == "TYPE_CHECKING"
                   for inner in ast.walk(node)}  # imports for type checkers never run
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([node.module] if node.module else [])])
            for alias in node.names:
                target = f"{base}.{alias.name}"
                found.add(target if target in MODULES else base)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {module for module in found if module in MODULES and module != name}


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one module in an import graph {module: modules it imports} (Tarjan)."""
    index, low, stack, on_stack, cycles = {}, {}, [], set(), []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                cycles.append(sorted(group))

    for name in sorted(graph):
        if name not in index:
            visit(name)
    return cycles


def test_the_root_holds_only_the_faces():
    root = {path.name for path in PACKAGE.glob("*.py")}
    assert root <= ROOT_FACES and len(root) <= 10


def test_nothing_imports_in_a_circle():
    assert find_cycles({name: imported_modules(name) for name in MODULES}) == []


def test_the_cycle_finder_sees_a_circle():
    assert find_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_two_modules_share_a_name_apart_from_the_study_shells():
    names = Counter(path.name for path in PACKAGE.rglob("*.py") if path.name not in ("__init__.py", "run.py"))
    assert [name for name, count in names.items() if count > 1] == []
    shells = [path for path in PACKAGE.rglob("run.py")]
    assert all(path.parent.parent.name == "studies" for path in shells)


def test_only_the_tracking_package_talks_to_mlflow():
    talking = sorted(name for name, path in MODULES.items()
                     if any(isinstance(node, (ast.Import, ast.ImportFrom))
                            and any((getattr(node, "module", None) or alias.name).split(".")[0] == "mlflow"
                                    for alias in node.names)
                            for node in ast.walk(ast.parse(path.read_text()))))
    assert talking == ["hardness.tracking.reader", "hardness.tracking.tracker"]


def test_identifiers_do_not_import_the_run_schema_or_the_studies():
    for name in MODULES:
        if name.startswith("hardness.identifiers"):
            assert not {m for m in imported_modules(name) if m.startswith(("hardness.tracking", "hardness.studies"))}, name
