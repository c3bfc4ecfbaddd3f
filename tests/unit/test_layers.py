"""common/'s rooms are layers: a module imports only its own room and the rooms below it (common.LAYERS)."""

import ast
from pathlib import Path

import common

ROOT = Path(common.__file__).parent


def room_of(name: str) -> str | None:
    """`common.capacity.search` -> "capacity"; `common.cli` -> "cli"; anything outside common -> None."""
    parts = name.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "common" else None


def imported_rooms(path: Path) -> set[str]:
    """Every room a module imports, at its top or inside a function (`from common import cli` counts as cli)."""
    rooms = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            rooms |= {room_of(a.name) for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "common":
                rooms |= {a.name for a in node.names}
            else:
                rooms.add(room_of(node.module))
    return rooms - {None}


def test_every_room_is_a_layer():
    rooms = {
        p.stem if p.suffix == ".py" else p.name
        for p in ROOT.iterdir()
        if (p.suffix == ".py" and p.stem != "__init__") or (p / "__init__.py").exists()
    }
    assert rooms == set(common.LAYERS)


def test_no_room_imports_a_room_above_it():
    rank = {room: i for i, room in enumerate(common.LAYERS)}
    upward = []
    for path in sorted(ROOT.rglob("*.py")):
        rel = path.relative_to(ROOT)
        if rel.name == "__init__.py" and len(rel.parts) == 1:
            continue
        own = rel.parts[0].removesuffix(".py")
        upward += [f"{rel} imports {r}" for r in imported_rooms(path) if rank[r] > rank[own]]
    assert not upward, upward


def test_the_check_sees_an_import_inside_a_function(tmp_path):
    mod = tmp_path / "m.py"
    mod.write_text("def f():\n    from common.capacity.probe import Probe\n    from common import cli\n")
    assert imported_rooms(mod) == {"capacity", "cli"}
