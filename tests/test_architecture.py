"""The layout rules newcomers rely on (docs/ARCHITECTURE.md): no import circles but db <-> migrations,
rooms on floors that import only downwards, no Flask outside the web layer, and few modules loose at
the top of the package."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "server" / "jaicat"
NATURAL_CIRCLES = [{"jaicat.db", "jaicat.migrations"}]
# The house, floor by floor: a room imports only rooms on floors below it (or its own room). The ground
# floor is the package's loose modules but the two that assemble the running server.
FLOORS = [
    {"ground"},
    {"models", "photos", "devices"},
    {"people", "search", "xmp", "posts"},
    {"suggest", "backup"},
    {"pipeline"},
    {"commands"},
    {"runtime"},
    {"web"},
    {"cli"},
    {"__main__"},
]
TOP_MODULES = {"jaicat.runtime": "runtime", "jaicat.commands": "commands", "jaicat.__main__": "__main__"}


def _modules() -> dict[str, Path]:
    out = {}
    for p in PACKAGE.rglob("*.py"):
        name = ".".join(("jaicat", *p.relative_to(PACKAGE).with_suffix("").parts)).removesuffix(".__init__")
        out[name] = p
    return out


def import_graph() -> dict[str, set[str]]:
    """Module -> the package modules it imports (anywhere in the file, lazy imports included)."""
    mods = _modules()
    edges: dict[str, set[str]] = {m: set() for m in mods}
    for m, p in mods.items():
        pkg = m if p.name == "__init__.py" else m.rsplit(".", 1)[0]
        for node in ast.walk(ast.parse(p.read_text(encoding="utf-8"))):
            targets = []
            if isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = pkg.split(".")[: len(pkg.split(".")) - node.level + 1]
                    base = ".".join(parts + ([base] if base else []))
                # `from x import y`: y is a module of the package, or a name defined in x
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in mods else base for a in node.names]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            edges[m].update(t for t in targets if t in mods and t != m)
    return edges


def room_of(module: str) -> str:
    """The room a module lives in: its sub-package, or "ground" for the loose modules at the top."""
    if module in TOP_MODULES:
        return TOP_MODULES[module]
    parts = module.split(".")
    if len(parts) > 2 or (PACKAGE / parts[-1]).is_dir():
        return parts[1]
    return "ground"


def room_graph(edges: dict[str, set[str]]) -> dict[str, set[str]]:
    """Room -> the other rooms its modules import."""
    rooms: dict[str, set[str]] = {}
    for m, targets in edges.items():
        rooms.setdefault(room_of(m), set()).update(room_of(t) for t in targets)
    return {r: {t for t in ts if t != r} for r, ts in rooms.items()}


def circles(edges: dict[str, set[str]]) -> list[set[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[set[str]] = []
    counter = 0
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            v, it = work[-1]
            for w in it:
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(edges[w]))))
                    break
                if w in on_stack:
                    low[v] = min(low[v], index[w])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[v])
                if low[v] == index[v]:
                    comp = set()
                    while True:
                        w = stack.pop()
                        on_stack.discard(w)
                        comp.add(w)
                        if w == v:
                            break
                    if len(comp) > 1:
                        found.append(comp)
    return found


def test_circle_finder_sees_a_circle():
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert circles(edges) == [{"a", "b", "c"}]


def test_no_import_circles_but_db_and_migrations():
    found = circles(import_graph())
    unexpected = [sorted(c) for c in found if c not in NATURAL_CIRCLES]
    assert not unexpected, f"import circles: {unexpected}"


def test_no_circles_between_rooms():
    found = circles(room_graph(import_graph()))
    assert not found, f"rooms import each other in a circle: {[sorted(c) for c in found]}"


def test_every_room_has_a_floor_and_imports_only_downwards():
    floor = {room: i for i, rooms in enumerate(FLOORS) for room in rooms}
    graph = room_graph(import_graph())
    assert not set(graph) - set(floor), f"rooms with no floor in FLOORS: {sorted(set(graph) - set(floor))}"
    edges = import_graph()
    upward = sorted(f"{m} -> {t}" for m, ts in edges.items() for t in ts
                    if floor[room_of(t)] >= floor[room_of(m)] and room_of(t) != room_of(m))
    assert not upward, f"imports that point up or across a floor: {upward}"


def test_domain_never_imports_flask():
    offenders = []
    for name, path in _modules().items():
        if name.startswith("jaicat.web") or name == "jaicat.cli.web":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            mods = ([a.name for a in node.names] if isinstance(node, ast.Import)
                    else [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else [])
            if any(m.split(".")[0] in ("flask", "flask_sock", "werkzeug") for m in mods):
                offenders.append(name)
    assert not offenders, f"Flask imported outside web/: {sorted(set(offenders))}"


def test_few_modules_loose_at_the_top():
    loose = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(loose) <= 12, loose
