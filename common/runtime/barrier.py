"""A file barrier, so replicas in separate processes (data parallel) start a phase together."""

from __future__ import annotations

import time
from pathlib import Path


def wait(directory: str | None, name: str, rank: int, world: int, timeout_s: float = 1800.0) -> None:
    if not directory or world <= 1:
        return
    d = Path(directory)
    (d / f"{name}.{rank}").touch()
    deadline = time.monotonic() + timeout_s
    while sum(1 for _ in d.glob(f"{name}.*")) < world:
        if time.monotonic() > deadline:
            raise TimeoutError(f"barrier {name!r}: only some of {world} replicas arrived in {timeout_s:.0f} s")
        time.sleep(0.05)
