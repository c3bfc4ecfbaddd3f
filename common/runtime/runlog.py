"""One log file per run for what vLLM, torch and the processes they start print, so the screen keeps the lab's own
lines. A script names the file when it starts (`start`, through the environment, so every child finds it); each
engine child and each `vllm bench` the run starts appends its output there; a failure prints the file's path and the
last lines the failed child wrote.

    runlog.start(Path("results") / "suite_20261207-120000.log")
    with runlog.appender() as log:   # None when no run log was started (a test, a tool): output stays where it was
        subprocess.run(cmd, stdout=log or sys.stderr, stderr=subprocess.STDOUT if log else None)
"""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path

LOG_ENV = "LAB_RUN_LOG"
SCREEN_ENV = "LAB_SCREEN_STREAM"  # "stdout" in a child whose stderr goes to the run's log
_announced: set[str] = set()


def start(path: Path) -> Path:
    """Name this run's log (created on first use, with its folder); children inherit it through LOG_ENV."""
    os.environ[LOG_ENV] = str(path)
    return path


def path() -> Path | None:
    p = os.environ.get(LOG_ENV)
    return Path(p) if p else None


@contextlib.contextmanager
def appender():
    """The run's log opened for appending (binary), announced on stderr the first time this process writes to it; None
    where no run log was started."""
    p = path()
    if p is None:
        yield None
        return
    p.parent.mkdir(parents=True, exist_ok=True)
    if str(p) not in _announced:
        _announced.add(str(p))
        print(f"(vLLM's and torch's log: {p})", file=sys.stderr, flush=True)
    with open(p, "ab") as f:
        yield f


def screen():
    """The stream that reaches the screen for the lab's own progress bars: stdout in an engine child whose stderr goes
    to the run's log (its stdout is shown), else stderr (a script's stdout carries its tables)."""
    return sys.stdout if os.environ.get(SCREEN_ENV) == "stdout" else sys.stderr


def tail_since(offset: int, max_bytes: int = 8000) -> str:
    """What the log gained after byte `offset` (its last `max_bytes`)."""
    p = path()
    if p is None or not p.exists():
        return ""
    with open(p, "rb") as f:
        f.seek(max(offset, p.stat().st_size - max_bytes))
        return f.read().decode("utf-8", "replace")


def size() -> int:
    p = path()
    return p.stat().st_size if p is not None and p.exists() else 0


def show_failure(label: str, logged: str, n: int = 12) -> None:
    """On stderr: the log's path and the last n non-empty lines the failed `label` wrote to it (`logged`)."""
    lines = [ln for ln in logged.splitlines() if ln.strip()]
    if lines:
        tail = "\n".join("    " + ln[:300] for ln in lines[-n:])
        print(f"  {label} failed; the last lines of {path()}:\n{tail}", file=sys.stderr, flush=True)
