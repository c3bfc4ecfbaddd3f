"""What the hardware did during one timed run, and why a run was slow.

    with HardwareSampler() as hw:
        ... one timed run ...
    hw.summary()  # {"gpu_busy_pct", "sm_clock_mhz", "sm_clock_mhz_min", "power_w", "power_w_min", "engine_cpu_pct"}

GPU busy % is NVML's utilization (the share of time a kernel was running), sampled every 0.1 s over the GPUs
this process may use; SM clock and power likewise (mean and min). The engine's CPU share is the engine core
process's CPU time over the run's wall time (psutil; 100 % = one core saturated): vLLM's scheduler runs on
that one core, and when it is at 100 % while the GPU idles, the run was CPU-bound. On a CPU box the GPU fields
are None.
"""

from __future__ import annotations

import os
import threading
import time

import psutil

from common.runtime.gpu_memory import _label, _nvml


def engine_core_process() -> psutil.Process:
    """vLLM's engine core among this process's descendants (its process title is VLLM::EngineCore...), else this
    process (an in-process engine core)."""
    me = psutil.Process()
    for p in me.children(recursive=True):
        if _label(p).startswith("EngineCore"):
            return p
    return me


def _visible_gpu_indices(count: int) -> list[int]:
    vis = os.environ.get("CUDA_VISIBLE_DEVICES")
    if vis:
        try:
            return [int(x) for x in vis.split(",") if x.strip()]
        except ValueError:  # UUIDs: NVML order cannot be matched here, take them all
            pass
    return list(range(count))


class HardwareSampler:
    def __init__(self, interval_s: float = 0.1):
        self.interval_s = interval_s
        self.samples: list[dict] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._nv = _nvml()
        self._handles = []
        if self._nv is not None:
            try:
                idx = _visible_gpu_indices(self._nv.nvmlDeviceGetCount())
                self._handles = [self._nv.nvmlDeviceGetHandleByIndex(i) for i in idx]
            except Exception:
                self._handles = []

    def _sample(self) -> None:
        nv = self._nv
        out: dict[str, list[float]] = {"util": [], "clock": [], "power": []}
        for h in self._handles:
            out["util"].append(nv.nvmlDeviceGetUtilizationRates(h).gpu)
            out["clock"].append(nv.nvmlDeviceGetClockInfo(h, nv.NVML_CLOCK_SM))
            out["power"].append(nv.nvmlDeviceGetPowerUsage(h) / 1000)
        self.samples.append(out)

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self._sample()
            except Exception:
                pass

    def __enter__(self) -> "HardwareSampler":
        self._proc = engine_core_process()
        try:
            self._cpu0 = sum(self._proc.cpu_times()[:2])
        except psutil.Error:
            self._cpu0 = None
        self._t0 = time.perf_counter()
        if self._handles:
            self._thread = threading.Thread(target=self._run, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.wall_s = time.perf_counter() - self._t0
        try:
            self._cpu1 = sum(self._proc.cpu_times()[:2])
        except psutil.Error:
            self._cpu1 = None
        self._stop.set()
        if self._thread:
            self._thread.join()
        if self._nv is not None:
            try:
                self._nv.nvmlShutdown()
            except Exception:
                pass

    def summary(self) -> dict:
        def stat(key, fn):
            vals = [sum(s[key]) / len(s[key]) for s in self.samples if s[key]]
            return round(fn(vals), 1) if vals else None

        cpu = (
            None
            if self._cpu0 is None or self._cpu1 is None or not self.wall_s
            else round((self._cpu1 - self._cpu0) / self.wall_s * 100, 1)
        )
        return {
            "gpu_busy_pct": stat("util", lambda v: sum(v) / len(v)),
            "sm_clock_mhz": stat("clock", lambda v: sum(v) / len(v)),
            "sm_clock_mhz_min": stat("clock", min),
            "power_w": stat("power", lambda v: sum(v) / len(v)),
            "power_w_min": stat("power", min),
            "engine_cpu_pct": cpu,
            "samples": len(self.samples),
        }


# --------------------------------------------------------------------------- why was a run slow?
CPU_BOUND_PCT = 90.0  # the engine core this busy ...
GPU_IDLE_PCT = 90.0  # ... while the GPU was busy less than this: the scheduler held the GPU back
CLOCK_DROP = 0.05  # a run's mean SM clock (or power) this far below the fastest run's


def explain_slow_run(slow: dict, fast: dict) -> str:
    """Why `slow` read below `fast` (both offline_runs_detail entries): a CPU-bound engine, a clock/power drop,
    or unexplained. The fast run is the reference, so a cause shared by every run is not blamed."""
    cpu, busy = slow.get("engine_cpu_pct"), slow.get("gpu_busy_pct")
    if (
        cpu is not None
        and cpu >= CPU_BOUND_PCT
        and busy is not None
        and busy < GPU_IDLE_PCT
        and busy < (fast.get("gpu_busy_pct") or 100) - 2
    ):
        return (
            f"CPU-bound engine (its scheduler core at {cpu:.0f} % while the GPU was busy {busy:.0f} % of the "
            f"time, vs {fast.get('gpu_busy_pct') or 0:.0f} % in the fastest run)"
        )
    for key, unit, what in (("sm_clock_mhz", "MHz", "SM clock"), ("power_w", "W", "power")):
        a, b = slow.get(key), fast.get(key)
        if a is not None and b and a < (1 - CLOCK_DROP) * b:
            return f"{what} drop ({a:.0f} vs {b:.0f} {unit} in the fastest run: throttled or capped)"
    if busy is None and cpu is None:
        return "unexplained (no hardware samples)"
    seen = [
        f"GPU busy {busy:.0f} %" if busy is not None else None,
        "clocks steady" if slow.get("sm_clock_mhz") else None,
        f"engine core at {cpu:.0f} %" if cpu is not None else None,
    ]
    return f"unexplained ({', '.join(x for x in seen if x)}): noise from the shared machine"


def explain_spread(detail: list[dict]) -> str | None:
    """The slowest timed run explained against the fastest, or None for fewer than two runs."""
    runs = [d for d in detail if d.get("output_throughput")]
    if len(runs) < 2:
        return None
    slow = min(runs, key=lambda d: d["output_throughput"])
    fast = max(runs, key=lambda d: d["output_throughput"])
    return f"run {runs.index(slow) + 1} slowest: {explain_slow_run(slow, fast)}"


# --------------------------------------------------------------------------- per-run summaries
def hw_of(replicas: list[dict]) -> dict:
    """One timed run's hardware figures over its replicas: GPU busy, clocks and power averaged, minima the lowest,
    the busiest engine core."""

    def agg(key, fn):
        vals = [h[key] for h in replicas if h.get(key) is not None]
        return fn(vals) if vals else None

    mean = lambda v: round(sum(v) / len(v), 1)  # noqa: E731
    return {
        "gpu_busy_pct": agg("gpu_busy_pct", mean),
        "sm_clock_mhz": agg("sm_clock_mhz", mean),
        "sm_clock_mhz_min": agg("sm_clock_mhz_min", min),
        "power_w": agg("power_w", mean),
        "power_w_min": agg("power_w_min", min),
        "engine_cpu_pct": agg("engine_cpu_pct", max),
    }


def run_label(tok_s: float, hw: dict | None) -> str:
    """'6,598 (GPU 97 %, 1,980 MHz, 690 W, engine core 85 %)': one timed run and what the hardware did."""
    d = hw or {}
    parts = [
        f"GPU {d['gpu_busy_pct']:.0f} %" if d.get("gpu_busy_pct") is not None else None,
        f"{d['sm_clock_mhz']:,.0f} MHz" if d.get("sm_clock_mhz") is not None else None,
        f"{d['power_w']:.0f} W" if d.get("power_w") is not None else None,
        f"engine core {d['engine_cpu_pct']:.0f} %" if d.get("engine_cpu_pct") is not None else None,
    ]
    shown = [x for x in parts if x]
    return f"{tok_s:,.0f}" + (f" ({', '.join(shown)})" if shown else "")


def runs_line(m: dict) -> str:
    """'6,598 (GPU 97 %, ...) / ...' - each timed run and what the hardware did."""
    return " / ".join(run_label(d["output_throughput"], d) for d in m.get("offline_runs_detail", []))
