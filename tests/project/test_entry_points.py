"""Every function the lab runs in a child process is named by a string ("module:function", for run_isolated):
each one found in the code resolves to a function, so moving a module cannot break a child silently."""

import ast
import importlib
import re

from tests.conftest import ROOT

ENTRY = re.compile(r"^([a-z_][a-z0-9_]*(?:\.[a-z_][a-z0-9_]*)*):([a-z_][a-z0-9_]*)$")


def entry_points() -> dict[str, list[str]]:
    """{"module:function": [files naming it]} over the project's own Python files (scripts and common/)."""
    found: dict[str, list[str]] = {}
    for path in [*ROOT.glob("*.py"), *ROOT.glob("common/**/*.py")]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and (m := ENTRY.match(node.value)):
                module = m.group(1)
                if (ROOT / (module.replace(".", "/") + ".py")).exists() or (ROOT / module.replace(".", "/")).is_dir():
                    found.setdefault(node.value, []).append(str(path.relative_to(ROOT)))
    return found


def test_every_string_named_child_entry_point_resolves():
    found = entry_points()
    # the children of all five scripts and of common/ are among them (the scan finds what it should)
    assert {
        "simulate_concurrent_requests:measure",
        "test_tensor_parallel:tp_check",
        "test_mixed_workload:variant_child",
        "run_distributed_benchmark:suite_child",
        "common.capacity.drivers:capacity_child",
        "common.measure.scaling:layout_child",
    } <= set(found), sorted(found)
    for name, where in found.items():
        module, func = name.split(":")
        assert callable(getattr(importlib.import_module(module), func, None)), f"{name} (named in {where}) is gone"


def test_every_module_and_script_imports():
    """A name a module imports from another must exist there (ruff sees one file at a time)."""
    mods = [
        ".".join(p.relative_to(ROOT).with_suffix("").parts)
        for p in sorted((ROOT / "common").rglob("*.py"))
        if p.stem != "__main__"
    ]
    for name in mods + [p.stem for p in ROOT.glob("*.py")]:
        importlib.import_module(name)
