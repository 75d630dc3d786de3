"""The house keeps its design: layers that only import downwards, no import cycles, small modules.

These read the source (``ast``); they run no flow. docs/architecture.md draws the same map.
"""
from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "scriptflow"
MAX_LINES = 400
MAX_TOP_LEVEL_MODULES = 10

#: Each part of the package and the parts it may import (besides itself). Read downwards:
#: data flows flow code -> task -> engine -> executor -> engine -> ledger; the CLI sits on top.
LAYERS: dict[str, set[str]] = {
    "base": set(),                                   # errors, clock, names, project, config
    "executors": {"base"},
    "ledger": {"base", "executors"},
    "core": {"base", "executors", "ledger"},
    "terminal": {"base", "executors", "core"},
    "readers": {"base", "ledger", "core"},
    "notifications": {"base", "executors", "core", "terminal"},   # run events POSTed to configured URLs
    "run": {"base", "executors", "ledger", "core", "terminal", "notifications"},
    "web": {"base", "ledger", "readers"},            # scriptflow serve: read-only pages over the ledger
    "bundle": {"base"},                              # scriptflow bundle: the single-file scriptflow.pyz
    "api": {"base", "core"},                         # scriptflow/__init__.py, the flow-facing API
    "cli": {"base", "executors", "ledger", "core", "terminal", "readers", "run", "web", "bundle"},
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imports(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """Modules of scriptflow that ``name`` imports, anywhere in the file (TYPE_CHECKING blocks too)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for alias in node.names:
                candidate = f"{target}.{alias.name}"
                found.add(candidate if candidate in known else target)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {m for m in found if m in known and m != name}


def graph() -> dict[str, set[str]]:
    known = modules()
    return {name: imports(name, path, known) for name, path in known.items()}


#: Top-level modules that belong to a part other than "base": the command's entry points.
TOP_LEVEL_PARTS = {"scriptflow.entry": "cli", "scriptflow.__main__": "cli"}


def part_of(name: str) -> str:
    if name in TOP_LEVEL_PARTS:
        return TOP_LEVEL_PARTS[name]
    parts = name.split(".")
    if len(parts) == 1:
        return "api"
    if len(parts) == 2 and (PACKAGE / f"{parts[1]}.py").exists():
        return "base"
    return parts[1]


def test_no_import_cycles() -> None:
    g = graph()
    cycles: list[list[str]] = []
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for dep in sorted(g[node]):
            if state.get(dep) == 1:
                cycles.append(stack[stack.index(dep):] + [dep])
            elif dep not in state:
                visit(dep)
        stack.pop()
        state[node] = 2

    for node in sorted(g):
        if node not in state:
            visit(node)
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def test_layers_only_import_downwards() -> None:
    wrong = []
    for name, deps in graph().items():
        part = part_of(name)
        allowed = LAYERS[part] | {part}
        for dep in sorted(deps):
            if part_of(dep) not in allowed and not (part == "api" or name.endswith("__init__")):
                wrong.append(f"{name} ({part}) imports {dep} ({part_of(dep)})")
    assert not wrong, "imports against the layers of docs/architecture.md:\n" + "\n".join(wrong)


def test_every_part_is_a_known_layer() -> None:
    unknown = sorted({part_of(name) for name in modules()} - set(LAYERS))
    assert not unknown, f"parts missing from LAYERS (and from docs/architecture.md): {unknown}"


def test_executors_never_import_the_ledger_or_the_engine() -> None:
    offending = [f"{name} imports {dep}" for name, deps in graph().items() if part_of(name) == "executors"
                 for dep in deps if part_of(dep) in ("ledger", "core")]
    assert not offending, offending


def test_only_serve_imports_the_web_app() -> None:
    """The web app is an optional corner: only ``scriptflow serve`` reaches it (lazily)."""
    offending = [f"{name} imports {dep}" for name, deps in graph().items() if part_of(name) != "web"
                 for dep in deps if part_of(dep) == "web" and name != "scriptflow.cli.serve"]
    assert not offending, offending


def test_modules_stay_small() -> None:
    big = {name: len(path.read_text(encoding="utf-8").splitlines()) for name, path in modules().items()}
    over = {name: n for name, n in big.items() if n > MAX_LINES}
    assert not over, f"modules over {MAX_LINES} lines: {over}"


def test_few_modules_at_the_top_level() -> None:
    top = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(top) <= MAX_TOP_LEVEL_MODULES, top
