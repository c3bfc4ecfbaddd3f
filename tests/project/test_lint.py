"""Repository rules a reader relies on, checked on the files themselves: functions short enough to hold in one's
head, scripts that never import each other, mechanisms imported at the top (only vLLM and torch are lazy, so
--help stays instant), and no file naming where this project's own runs happen."""

import ast
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = [
    "test_tensor_parallel.py",
    "simulate_concurrent_requests.py",
    "benchmark_scaling.py",
    "test_mixed_workload.py",
    "run_distributed_benchmark.py",
]
MAX_FUNCTION_LINES = 60


def _sources():
    return [ROOT / s for s in SCRIPTS] + sorted((ROOT / "common").glob("**/*.py"))


def _functions(path: Path):
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield node


def test_every_script_is_checked():
    assert sorted(SCRIPTS) == sorted(p.name for p in ROOT.glob("*.py"))


def test_no_function_over_60_lines():
    long = [
        f"{p.relative_to(ROOT)}:{f.lineno} {f.name} ({f.end_lineno - f.lineno + 1} lines)"
        for p in _sources()
        for f in _functions(p)
        if f.end_lineno - f.lineno + 1 > MAX_FUNCTION_LINES
    ]
    assert not long, long


def test_no_script_imports_a_script():
    mods = {s[:-3] for s in SCRIPTS}
    hits = []
    for p in _sources():
        for node in ast.walk(ast.parse(p.read_text())):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module]
                if isinstance(node, ast.ImportFrom) and node.module
                else []
            )
            hits += [f"{p.relative_to(ROOT)}:{node.lineno} imports {n}" for n in names if n.split(".")[0] in mods]
    assert not hits, hits


def test_mechanisms_are_imported_at_the_top():
    """`from common...` inside a function hides a dependency; only vLLM and torch are imported late."""
    hits = []
    for p in _sources():
        for f in _functions(p):
            for node in ast.walk(f):
                if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("common"):
                    hits.append(f"{p.relative_to(ROOT)}:{node.lineno} {f.name}: from {node.module}")
    assert not hits, hits


PLACE = re.compile(
    r"workplace|device machine|device call|device time|device minute|\blent\b|nvidia-h200|shared/gpu", re.IGNORECASE
)
PROSE_PLACE = re.compile(r"\bsessions?\b", re.IGNORECASE)  # in prose only: code has aiohttp sessions


def test_no_file_names_the_place_the_project_is_developed_in():
    """Files say what things are (an offline GPU machine, carried wheels), never where this project's own runs
    happen."""
    files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    hits = []
    for name in files:
        if name.endswith((".png", ".json", ".csv")) or name == "tests/project/test_lint.py":
            continue
        text = (ROOT / name).read_text(errors="ignore")
        if PLACE.search(text) or (name.endswith((".md", ".txt", ".sh")) and PROSE_PLACE.search(text)):
            hits.append(name)
    assert not hits, hits


def _tool(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True)


def test_ruff_finds_nothing():
    """pyproject.toml's lint (pyflakes, pycodestyle, import order, bugbear; lines up to 120) over the whole tree."""
    r = _tool("ruff", "check", "--output-format", "concise", ".")
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-1000:]


def test_ruff_format_leaves_every_file_as_it_is():
    r = _tool("ruff", "format", "--check", ".")
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-1000:]


def test_mypy_finds_nothing_in_common():
    """The type checker over common/ (pyproject.toml's [tool.mypy]: vLLM, torch and the like taken as Any)."""
    r = _tool("mypy")
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-1000:]
