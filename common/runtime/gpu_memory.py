"""Memory tracking: every GPU through NVML, or on a CPU box every process of our tree through psutil.

    with MemoryTracker() as mem:
        ... load, generate ...
    mem.summary()   # {"backend": "nvml", "devices": [{"label": "GPU0", "peak_used_mib": ...}, ...]}

NVML counts all processes on a GPU (TP workers are separate processes), so the numbers are what
`nvidia-smi` shows. On CPU the "devices" are the engine's processes, labelled by vLLM's process
titles (Worker_TP0, Worker_TP1, EngineCore, ...), and the backend says "psutil-rss".
"""

from __future__ import annotations

import os
import threading
import time

import psutil

MIB = 1024 * 1024


def _nvml():
    try:
        import pynvml

        pynvml.nvmlInit()
        return pynvml
    except Exception:
        return None


def used_mib_per_gpu() -> list[float]:
    """Used memory of every GPU in MiB (empty list without NVML/GPUs)."""
    nv = _nvml()
    if nv is None:
        return []
    try:
        return [
            nv.nvmlDeviceGetMemoryInfo(nv.nvmlDeviceGetHandleByIndex(i)).used / MIB
            for i in range(nv.nvmlDeviceGetCount())
        ]
    finally:
        nv.nvmlShutdown()


def wait_until_released(baseline: list[float], timeout_s: float = 60.0, slack_mib: float = 1024.0) -> bool:
    """Block until every GPU is back within `slack_mib` of `baseline` (True) or `timeout_s` passes."""
    if not baseline:
        return True
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        now = used_mib_per_gpu()
        # strict=False: a GPU count that cannot be read now (NVML gone) leaves nothing to wait for
        if all(n <= b + slack_mib for n, b in zip(now, baseline, strict=False)):
            return True
        time.sleep(0.5)
    return False


def _label(proc: psutil.Process) -> str:
    try:
        name = proc.name()
        cmd = proc.cmdline()
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return "?"
    title = cmd[0] if cmd else name
    if title.startswith("VLLM::"):
        return title.split("::", 1)[1]
    return "main" if proc.pid == os.getpid() else f"pid{proc.pid}"


class MemoryTracker:
    """Samples memory every `interval_s` in a background thread; use as a context manager."""

    def __init__(self, interval_s: float = 0.1, keep_timeline: bool = True):
        self.interval_s = interval_s
        self.keep_timeline = keep_timeline
        self._nv = _nvml()
        self.backend = "nvml" if self._nv and self._nv.nvmlDeviceGetCount() > 0 else "psutil-rss"
        self.timeline: list[dict] = []  # {"t": s, "used_mib": {label: MiB}}
        self.peak: dict[str, float] = {}
        self.last: dict[str, float] = {}
        self.total: dict[str, float] = {}
        self.names: dict[str, str] = {}
        self.marks: list[tuple[str, float]] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._t0 = time.perf_counter()
        if self.backend == "nvml":
            for i in range(self._nv.nvmlDeviceGetCount()):
                h = self._nv.nvmlDeviceGetHandleByIndex(i)
                name = self._nv.nvmlDeviceGetName(h)
                self.names[f"GPU{i}"] = name.decode() if isinstance(name, bytes) else name
                self.total[f"GPU{i}"] = self._nv.nvmlDeviceGetMemoryInfo(h).total / MIB
        else:
            self.total["host"] = psutil.virtual_memory().total / MIB
        self.baseline = self.sample()

    def sample(self) -> dict[str, float]:
        if self.backend == "nvml":
            return {
                f"GPU{i}": self._nv.nvmlDeviceGetMemoryInfo(self._nv.nvmlDeviceGetHandleByIndex(i)).used / MIB
                for i in range(len(self.names))
            }
        me = psutil.Process()
        out: dict[str, float] = {}
        for p in [me] + me.children(recursive=True):
            try:
                rss = p.memory_info().rss / MIB
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
            label = _label(p)
            out[label] = out.get(label, 0.0) + rss
        return out

    def _record(self) -> None:
        s = self.sample()
        for k, v in s.items():
            self.peak[k] = max(self.peak.get(k, 0.0), v)
        self.last = s
        if self.keep_timeline:
            self.timeline.append(
                {"t": round(time.perf_counter() - self._t0, 3), "used_mib": {k: round(v, 1) for k, v in s.items()}}
            )

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self._record()
            except Exception:  # a process vanished mid-sample; next sample is fine
                pass

    def mark(self, name: str) -> dict[str, float]:
        """Record a named point (e.g. 'after_load') and return the memory at that moment."""
        self._record()
        self.marks.append((name, round(time.perf_counter() - self._t0, 3)))
        return dict(self.last)

    def __enter__(self) -> "MemoryTracker":
        self._record()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join()
        try:
            self._record()
        except Exception:
            pass
        if self._nv:
            self._nv.nvmlShutdown()
            self._nv = None

    def summary(self, timeline_max_points: int = 400) -> dict:
        tl = self.timeline
        if len(tl) > timeline_max_points:  # keep the shape, not every 100 ms sample
            step = len(tl) / timeline_max_points
            tl = [tl[int(i * step)] for i in range(timeline_max_points)]
        return {
            "backend": self.backend,
            "unit": "MiB",
            "what": (
                "used memory per GPU (NVML, all processes)"
                if self.backend == "nvml"
                else "resident set size per engine process (psutil); no GPU here"
            ),
            "devices": [
                {
                    "label": k,
                    "name": self.names.get(k, ""),
                    "total_mib": self.total.get(k),
                    "baseline_used_mib": round(self.baseline.get(k, 0.0), 1),
                    "peak_used_mib": round(self.peak.get(k, 0.0), 1),
                    "final_used_mib": round(self.last.get(k, 0.0), 1),
                }
                for k in sorted(self.peak)
            ],
            "marks": self.marks,
            "timeline": tl,
        }


def balance(values: list[float]) -> float | None:
    """max/min - 1 over the ranks' memory (0.0 = perfectly equal); None for fewer than 2 ranks."""
    vals = [v for v in values if v is not None]
    if len(vals) < 2 or min(vals) <= 0:
        return None
    return max(vals) / min(vals) - 1.0
